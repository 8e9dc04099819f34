"""The content-addressed cache: round trips, integrity checks, permissions, kill-and-resume."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from privmeter.training import (
    MLP,
    CacheCorruptionWarning,
    SklearnTrainer,
    Store,
    TorchTrainer,
    keep_matrix,
    make_key,
    model_keys,
    train_models,
)
from privmeter.training.store import UnsafeCacheEntryWarning

KEY = make_key("test", n=1)
KEY2 = make_key("test", n=2)


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # deliberately not in alphabetical order, with an integer buffer and a 0-d tensor
    return {
        "z.weight": torch.randn(3, 4, generator=g),
        "a.bias": torch.randn(3, generator=g, dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(7),
        "m.half": torch.randn(2, generator=g).half(),
    }


def _payload(store: Store, kind: str, key: str) -> Path:
    path = store.path_of(kind, key)  # type: ignore[arg-type]
    assert path is not None
    return path


# ------------------------------------------------------------------------ round trips
def test_state_dict_round_trip_keeps_order_dtypes_and_bits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.get_state_dict(KEY) is None
    state = _state()
    path = store.put_state_dict(KEY, state)
    assert path.suffix == ".safetensors"
    assert path.with_name(path.name + ".sha256").read_text().split()[1] == path.name
    loaded = store.get_state_dict(KEY)
    assert loaded is not None
    assert list(loaded) == list(state)
    for k in state:
        assert loaded[k].dtype == state[k].dtype and torch.equal(loaded[k], state[k])
    assert store.contains("state_dict", KEY) and not store.contains("state_dict", KEY2)
    # a fresh Store object on the same folder sees the entry; the store pickles
    again = pickle.loads(pickle.dumps(store))
    assert again.get_state_dict(KEY) is not None


def test_state_dict_with_non_tensor_values_uses_weights_only_torch_load(tmp_path: Path) -> None:
    store = Store(tmp_path)
    state: dict[str, object] = {"w": torch.ones(2), "_extra_state": {"step": 3}}
    path = store.put_state_dict(KEY, state)
    assert path.suffix == ".pt"
    loaded = store.get_state_dict(KEY)
    assert loaded is not None and loaded["_extra_state"] == {"step": 3}
    assert torch.equal(loaded["w"], torch.ones(2))


def test_shared_tensors_are_stored(tmp_path: Path) -> None:
    w = torch.arange(6.0).reshape(2, 3)
    store = Store(tmp_path)
    store.put_state_dict(KEY, {"enc.weight": w, "dec.weight": w, "view": w[0]})
    loaded = store.get_state_dict(KEY)
    assert loaded is not None
    assert torch.equal(loaded["dec.weight"], w) and torch.equal(loaded["view"], w[0])


def test_arrays_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path)
    arrays = {"signals": np.random.default_rng(0).normal(size=(3, 5)), "ids": np.arange(5)}
    store.put_arrays(KEY, arrays)
    loaded = store.get_arrays(KEY)
    assert loaded is not None and list(loaded) == ["signals", "ids"]
    assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)
    with pytest.raises(ValueError, match=r"array 'bad' has dtype=object"):
        store.put_arrays(KEY2, {"bad": np.array([{}, 1], dtype=object)})


class _Custom:
    """A type outside every allow-list."""

    def __init__(self) -> None:
        self.a = 1


def test_objects_are_skops_files_and_pickles_need_trust(tmp_path: Path) -> None:
    untrusted = Store(tmp_path / "u")
    path = untrusted.put_object(KEY, {"a": 1})
    assert path is not None and path.suffix == ".skops"
    assert untrusted.get_object(KEY) == {"a": 1}
    # a type skops would have to trust: not cached without trust_pickle ...
    with pytest.warns(UnsafeCacheEntryWarning, match=r"not caching a _Custom.*test_store\._Custom"):
        assert untrusted.put_object(KEY2, _Custom()) is None
    assert untrusted.get_object(KEY2) is None
    # ... unless its type is trusted explicitly, or pickles are
    listed = Store(tmp_path / "u", trusted_types=[f"{__name__}._Custom"])
    assert listed.put_object(KEY2, _Custom()) is not None
    assert listed.get_object(KEY2).a == 1
    with pytest.warns(UnsafeCacheEntryWarning, match=r"refusing to load .*outside the allow-list"):
        assert untrusted.get_object(KEY2) is None
    trusted = Store(tmp_path / "t", trust_pickle=True)
    path = trusted.put_object(KEY, _Custom())
    assert path is not None and path.suffix == ".pkl"
    assert trusted.get_object(KEY).a == 1
    with pytest.warns(UnsafeCacheEntryWarning, match=r"refusing to unpickle .*trust_pickle=True"):
        assert Store(tmp_path / "t").get_object(KEY) is None


def test_store_root_must_be_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"cache '.*file' exists and is not a folder"):
        Store(f)
    with pytest.raises(TypeError, match=r"trusted_types must be a list"):
        Store(tmp_path, trusted_types="sklearn.tree._tree.Tree")


def test_keys(tmp_path: Path) -> None:
    assert make_key("m", a=1, b=[1, 2]) == make_key("m", b=[1, 2], a=1)
    assert make_key("m", a=1) != make_key("m", a=2) != make_key("n", a=1)
    assert make_key("m", x=np.arange(3)) != make_key("m", x=np.arange(3.0))
    with pytest.raises(ValueError, match=r"64 lowercase hex characters.*'\.\./etc'"):
        Store(tmp_path).get_state_dict("../etc")
    with pytest.raises(ValueError, match=r"memory address"):
        make_key("m", thing=object())


# --------------------------------------------------------------------- corruption
@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "checksum"])
def test_corrupted_entries_are_detected_deleted_and_recomputed(
    tmp_path: Path, damage: str
) -> None:
    store = Store(tmp_path)
    store.put_state_dict(KEY, _state())
    path = _payload(store, "state_dict", KEY)
    side = path.with_name(path.name + ".sha256")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) - 5] ^= 0x01  # one bit in the tensor data
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        side.write_text("0" * 64 + "  " + path.name + "\n")
    with pytest.warns(CacheCorruptionWarning, match=rf"'{path}' is corrupted"):
        assert store.get_state_dict(KEY) is None
    assert not path.exists() and not side.exists()
    store.put_state_dict(KEY, _state())  # recomputed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.get_state_dict(KEY) is not None


def test_corrupted_arrays_and_objects(tmp_path: Path) -> None:
    store = Store(tmp_path, trust_pickle=True)
    store.put_arrays(KEY, {"a": np.arange(100)})
    store.put_object(KEY2, list(range(100)))
    for kind, key in (("arrays", KEY), ("object", KEY2)):
        path = _payload(store, kind, key)
        data = bytearray(path.read_bytes())
        data[-3] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.warns(CacheCorruptionWarning, match=r"\.npz' is corrupted"):
        assert store.get_arrays(KEY) is None
    with pytest.warns(CacheCorruptionWarning, match=r"\.skops' is corrupted"):
        assert store.get_object(KEY2) is None


def test_interrupted_writes_are_incomplete_entries(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.put_state_dict(KEY, _state())
    side = path.with_name(path.name + ".sha256")
    side.unlink()  # killed between the payload and its checksum
    (path.parent / f".{path.name}.123.abcd.tmp").write_bytes(b"half")  # killed mid-write
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not store.contains("state_dict", KEY)
        assert store.get_state_dict(KEY) is None
    assert not path.exists()


# --------------------------------------------------------------------- permissions
def test_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match=r"cache folder '.*a-file/cache' is not writable"):
        Store(blocker / "cache")
    with pytest.raises(ValueError, match=r"cache '.*a-file' exists and is not a folder"):
        Store(blocker)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders"
)
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"cache folder '.*ro' is not writable"):
            Store(folder)
    finally:
        folder.chmod(0o700)


# ------------------------------------------------------------- train_models + store
X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
FACTORY = MLP((5, 8, 2))


class CountingTrainer(TorchTrainer):
    """Counts fits (the counter is not part of the configuration)."""

    calls: list[int] = []  # noqa: RUF012

    def fit(self, x: object, y: object, indices: object, *, seed: int) -> dict[str, torch.Tensor]:
        CountingTrainer.calls.append(seed)
        return super().fit(x, y, indices, seed=seed)  # type: ignore[arg-type]


def test_train_models_uses_and_verifies_the_store(tmp_path: Path) -> None:
    trainer = CountingTrainer(FACTORY, epochs=2, batch_size=8)
    keep = keep_matrix(4, 64, seed=0)
    store = Store(tmp_path)
    CountingTrainer.calls.clear()
    first = train_models(trainer, X, Y, keep, seeds=[1, 2, 3, 4], store=store, progress=False)
    assert CountingTrainer.calls == [1, 2, 3, 4]
    second = train_models(trainer, X, Y, keep, seeds=[1, 2, 3, 4], store=store, progress=False)
    assert CountingTrainer.calls == [1, 2, 3, 4]  # nothing retrained
    assert all(torch.equal(first[m][k], second[m][k]) for m in range(4) for k in first[m])
    # damage model 2's file: only model 2 is retrained, with the same result
    key = model_keys(trainer, X, Y, keep, seeds=[1, 2, 3, 4])[2]
    path = _payload(store, "state_dict", key)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(CacheCorruptionWarning, match=key):
        third = train_models(trainer, X, Y, keep, seeds=[1, 2, 3, 4], store=store, progress=False)
    assert CountingTrainer.calls == [1, 2, 3, 4, 3]
    assert all(torch.equal(first[2][k], third[2][k]) for k in first[2])
    # other data -> other keys -> retrained (no stale reuse)
    train_models(trainer, X * 2, Y, keep, seeds=[1, 2, 3, 4], store=store, progress=False)
    assert len(CountingTrainer.calls) == 9


def test_sklearn_models_in_a_trusted_store(tmp_path: Path) -> None:
    from sklearn.linear_model import SGDClassifier

    trainer = SklearnTrainer(SGDClassifier(max_iter=5, tol=None))
    keep = keep_matrix(2, 64, seed=0)
    store = Store(tmp_path, trust_pickle=True)
    a = train_models(trainer, X, Y, keep, seeds=0, store=store, progress=False)
    b = train_models(trainer, X, Y, keep, seeds=0, store=store, progress=False)
    assert all(np.array_equal(a[m].coef_, b[m].coef_) for m in range(2))
    assert b[0] is not a[0]


# ---------------------------------------------------------------- kill and resume
SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from privmeter.training import MLP, Store, TorchTrainer, keep_matrix, train_models

    class SlowTrainer(TorchTrainer):
        def fit(self, x, y, indices, *, seed):
            with open(sys.argv[2], "a") as log:
                log.write(f"{seed}\\n")
            time.sleep(0.25)
            return super().fit(x, y, indices, seed=seed)

    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 5)).astype(np.float32)
        y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
        trainer = SlowTrainer(MLP((5, 8, 2)), optimizer="adam", lr=1e-2, epochs=3, batch_size=8)
        states = train_models(trainer, x, y, keep_matrix(8, 64, seed=0), seeds=list(range(8)),
                              store=Store(sys.argv[1]), progress=False)
        np.savez(sys.argv[3], **{f"{m}/{k}": v.numpy() for m, s in enumerate(states)
                                 for k, v in s.items()})
    """
)


def _complete(store_dir: Path) -> set[str]:
    return {p.name.split(".")[0] for p in store_dir.rglob("*.safetensors.sha256")}


def test_killed_training_resumes_without_retraining(tmp_path: Path) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    store_dir, log, out = tmp_path / "cache", tmp_path / "log.txt", tmp_path / "out.npz"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(script), str(store_dir), str(log), str(out)]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    try:
        while len(_complete(store_dir)) < 3:
            assert proc.poll() is None, "the training finished before it could be killed"
            assert time.monotonic() < deadline, "no model was cached in time"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    done_before = _complete(store_dir)
    started_before = log.read_text().split()
    assert 3 <= len(done_before) < 8

    subprocess.run(cmd, env=env, check=True, timeout=120)
    retrained = log.read_text().split()[len(started_before) :]
    # The in-process executor trains models in order, so the complete ones are the first
    # len(done_before) seeds: exactly the others, and nothing complete, were trained again.
    assert retrained == [str(s) for s in range(len(done_before), 8)]
    assert len(_complete(store_dir)) == 8

    # results equal an uninterrupted run (done here, in this process, without a store)
    reference = train_models(
        TorchTrainer(MLP((5, 8, 2)), optimizer="adam", lr=1e-2, epochs=3, batch_size=8),
        X, Y, keep_matrix(8, 64, seed=0), seeds=list(range(8)), progress=False,
    )
    with np.load(out) as resumed:
        for m, state in enumerate(reference):
            for k, v in state.items():
                assert np.array_equal(resumed[f"{m}/{k}"], v.numpy()), (m, k)


def test_store_pickles_with_its_trust_settings(tmp_path: Path) -> None:
    store = Store(tmp_path, trust_pickle=True, trusted_types=["pkg.mod.Thing"])
    back = pickle.loads(pickle.dumps(store))  # as sent to worker processes
    assert back.root == store.root and back.trust_pickle
    assert back.trusted_types == ("pkg.mod.Thing",)
    with pytest.raises(TypeError, match=r"trust_pickle must be True or False, got 'yes'"):
        Store(tmp_path, trust_pickle="yes")  # type: ignore[arg-type]
