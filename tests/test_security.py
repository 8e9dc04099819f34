"""Nothing a config or a cache folder holds may run code unless the user says so (issue 9).

- a code-carrying pickle planted in the cache (with a matching checksum) is never opened
  without ``--trust-pickles``; scikit-learn models are cached with skops and an allow-list;
- a skops file that would build a type outside the allow-list is refused;
- ``model.factory`` imports only a Python file beside the config or an ``--allow-module``;
- non-regular files (devices, FIFOs, folders) are refused as data without being read.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privmeter.cli import main
from privmeter.config import ConfigError, build_audit, load_config
from privmeter.training import Store, make_key
from privmeter.training.store import UnsafeCacheEntryWarning


class _Evil:
    """Unpickling this creates ``marker`` (through ``os.system``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class Trap:
    """Building this from its state (as skops would, if trusted) creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).touch()
        self.__dict__.update(state)


def _plant(path: Path, payload: bytes) -> None:
    """Write a payload and a matching checksum file, as an attacker with write access would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def _csv(folder: Path, n: int = 80) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    lines = ["a,b,c,label", *(f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{t}" for r, t in zip(x, y,
                                                                                     strict=True))]
    path = folder / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


SKLEARN_CONFIG = (
    "data: {source: csv, path: data.csv}\n"
    "model: {architecture: sklearn, sklearn: LogisticRegression, options: {max_iter: 200}}\n"
    "references: {count: 2}\n"
    "attacks: [loss, lira]\n"
    "report: {formats: [json]}\n"
    "cache: cache\n"
)


def test_planted_pickle_in_the_cache_never_runs(tmp_path: Path, capsys: Any) -> None:
    _csv(tmp_path)
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(SKLEARN_CONFIG)
    out = str(tmp_path / "out")
    assert main(["run", str(cfg), "--out", out, "--no-progress"]) == 0
    entries = sorted((tmp_path / "cache" / "objects").rglob("*.skops"))
    assert len(entries) == 3  # target + 2 references, all stored without pickles
    assert not list((tmp_path / "cache").rglob("*.pkl"))
    # an attacker replaces every model with a code-carrying pickle and a matching checksum
    marker = tmp_path / "PWNED"
    for e in entries:
        e.unlink()
        e.with_name(e.name + ".sha256").unlink()
        _plant(e.with_suffix(".pkl"), pickle.dumps(_Evil(marker)))
    with pytest.warns(UnsafeCacheEntryWarning, match=r"refusing to unpickle cache entry"):
        assert main(["run", str(cfg), "--out", out, "--overwrite", "--no-progress"]) == 0
    assert not marker.exists()
    capsys.readouterr()
    # the planted files were live: only the explicit flag opens them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in entries:  # the second run re-cached the models with skops: drop them again
            e.unlink()
            e.with_name(e.name + ".sha256").unlink()
        main(["run", str(cfg), "--out", out, "--overwrite", "--no-progress", "--trust-pickles"])
    assert marker.exists()


def test_planted_skops_file_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    marker = tmp_path / "PWNED"
    key = make_key("model", n=1)
    store = Store(tmp_path / "cache")
    payload = sio.dumps(Trap(str(marker)))
    _plant(tmp_path / "cache" / "objects" / key[:2] / f"{key}.skops", payload)
    with pytest.warns(UnsafeCacheEntryWarning, match=rf"outside the allow-list \({__name__}\.Trap"):
        assert store.get_object(key) is None
    assert not marker.exists()
    # the payload was live: a store that trusts the type explicitly builds it
    trusting = Store(tmp_path / "cache", trusted_types=[f"{__name__}.Trap"])
    assert isinstance(trusting.get_object(key), Trap)
    assert marker.exists()


def test_sklearn_models_round_trip_through_skops(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    store = Store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        models = [RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
                  MLPClassifier(max_iter=5, random_state=0).fit(x, y),
                  KNeighborsClassifier(algorithm="kd_tree").fit(x, y)]
    for i, est in enumerate(models):
        key = make_key("model", i=i)
        path = store.put_object(key, est)
        assert path is not None and path.suffix == ".skops"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            back = store.get_object(key)
        assert np.array_equal(back.predict_proba(x), est.predict_proba(x))


def test_config_factory_cannot_run_a_shell_command(tmp_path: Path, capsys: Any) -> None:
    marker = tmp_path / "PWNED"
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(
        "model:\n  architecture: factory\n  factory: 'subprocess:getoutput'\n"
        f"  options: {{cmd: 'touch {marker}'}}\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "refusing to import 'subprocess'" in err and "--allow-module subprocess" in err
    assert not marker.exists()


def test_factory_beside_the_config_works_without_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    _csv(folder)
    (folder / "my_local_models.py").write_text(
        "import torch\n"
        "def make(hidden=8):\n"
        "    return torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.ReLU(),\n"
        "                               torch.nn.Linear(hidden, 2))\n"
    )
    (folder / "audit.yaml").write_text(
        "data: {source: csv, path: data.csv}\n"
        "model: {architecture: factory, factory: 'my_local_models:make', options: {hidden: 4}}\n"
        "training: {epochs: 1}\n"
        "references: {count: 1, vectorized: false}\n"
        "attacks: [loss]\n"
        "report: {formats: [json]}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    code = main(["run", str(folder / "audit.yaml"), "--out", "out", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (elsewhere / "out" / "results.json").is_file()


def test_allow_module_is_the_only_way_to_an_installed_module(tmp_path: Path) -> None:
    cfg_path = tmp_path / "audit.yaml"
    cfg_path.write_text("model: {architecture: factory, factory: 'torch.nn:Flatten'}\n")
    cfg = load_config(cfg_path)
    with pytest.raises(ConfigError, match=r"refusing to import 'torch.nn'.*--allow-module torch"):
        build_audit(cfg, progress=False, base_dir=tmp_path)
    audit = build_audit(cfg, progress=False, base_dir=tmp_path, allow_modules=["torch"])
    assert audit.trainer.model_factory.__name__ == "Flatten"
    audit = build_audit(cfg, progress=False, base_dir=tmp_path, allow_modules=["torch.nn"])
    assert audit.trainer.model_factory.__name__ == "Flatten"
    with pytest.raises(ConfigError, match=r"refusing to import 'torch.nn'"):
        build_audit(cfg, progress=False, base_dir=tmp_path, allow_modules=["torchvision"])


def test_local_file_may_not_shadow_an_installed_module(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    (tmp_path / "csv.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef make(): pass\n")
    cfg_path = tmp_path / "audit.yaml"
    cfg_path.write_text("model: {architecture: factory, factory: 'csv:make'}\n")
    with pytest.raises(ConfigError, match=r"has the name of an installed module \('csv'"):
        build_audit(load_config(cfg_path), progress=False, base_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["fifo", "char-device", "folder"])
def test_non_regular_files_are_refused_without_reading(tmp_path: Path, kind: str) -> None:
    from privmeter import datasets

    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)  # opening it for reading would block forever
        match = r"is a named pipe \(FIFO\), not a regular file"
    elif kind == "char-device":
        path = Path("/dev/zero")  # reading it would never end
        match = r"is a character device, not a regular file"
    else:
        path = tmp_path
        match = r"is a directory, expected a file"
    for load in (datasets.load_csv, datasets.load_npz, datasets.load_purchase):
        with pytest.raises((ValueError, IsADirectoryError), match=match):
            load(path)


def test_factory_from_a_package_folder_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "zoo_pkg_x").mkdir()  # a namespace package (no __init__.py)
    (tmp_path / "zoo_pkg_x" / "nets.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))\n"
    )
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("model: {architecture: factory, factory: 'zoo_pkg_x.nets:make'}\n")
    audit = build_audit(load_config(cfg), progress=False, base_dir=tmp_path)
    assert audit.trainer.model_factory.__module__ == "zoo_pkg_x.nets"


def test_files_beside_the_config_cannot_shadow_other_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the config's folder becomes importable for its factory module only: a json.py (or
    # any other file) beside it must not replace the standard library for the rest of the
    # run, in this process or in worker processes (with the folder prepended to sys.path, a
    # process pool's workers failed to import torch)
    from importlib.machinery import PathFinder

    from privmeter.config import _import_factory

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "my_models_beside.py").write_text("def make():\n    return 1\n")
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed json imported')\n")
    (tmp_path / "csv.py").write_text("raise SystemExit('shadowed csv imported')\n")
    fn = _import_factory("my_models_beside:make", base=tmp_path, allow_modules=())
    assert fn() == 1
    # where a fresh import (a spawned worker has this sys.path) would find them
    for name in ("json", "csv"):
        spec = PathFinder.find_spec(name)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).parent != tmp_path, name
    spec = PathFinder.find_spec("my_models_beside")
    assert spec is not None and spec.origin == str(tmp_path / "my_models_beside.py")
