"""Import structure: ``import privmeter`` loads no framework, and a scikit-learn-only install
(torch absent) runs an audit through the public API and the CLI (issue 10, point 5)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import privmeter

SRC = Path(privmeter.__file__).resolve().parent

# a meta-path finder that makes ``torch`` (and its submodules) unimportable, as on an install
# without the torch extra; loaded by the interpreter at start-up from PYTHONPATH
_HIDE_TORCH = textwrap.dedent("""
    import sys

    class _HideTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _HideTorch())
""")


def _python(code: str, tmp_path: Path, *, hide_torch: bool,
            args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    if hide_torch:
        site = tmp_path / "hide_torch"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_HIDE_TORCH)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [env.get("PYTHONPATH")])]
        )
    cmd = [sys.executable, "-c", code] if code else [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)


def test_the_torch_hider_works(tmp_path: Path) -> None:
    # the oracle of the tests below: with the hider, torch cannot be imported
    proc = _python("import torch", tmp_path, hide_torch=True)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr


def test_import_privmeter_loads_no_framework(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import json, sys
        import privmeter
        import privmeter.training
        heavy = ("torch", "sklearn", "matplotlib", "pandas", "ray", "reportlab", "PIL")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """)
    proc = _python(code, tmp_path, hide_torch=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_training_imports_without_torch(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        from privmeter.training import (
            InProcessExecutor, ProcessExecutor, SklearnTrainer, Store, keep_matrix,
            train_models,
        )
        print(keep_matrix(6, 4, seed=0).sum(axis=0).tolist())
        try:
            from privmeter.training import TorchTrainer
        except ImportError as exc:
            print("lazy:", exc.name)
    """)
    proc = _python(code, tmp_path, hide_torch=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "[3, 3, 3, 3]"  # each model trains on half of the 6 points
    assert lines[1] == "lazy: torch"  # the torch part fails only when asked for




@pytest.mark.slow
def test_sklearn_audit_runs_without_torch(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        import privmeter as pm
        from privmeter.training import SklearnTrainer

        rng = np.random.default_rng(0)
        x = rng.normal(size=(200, 4))
        y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
        trainer = SklearnTrainer(RandomForestClassifier(n_estimators=10))
        report = pm.Audit((x, y), trainer, n_references=2, progress=False, seed=0).run()
        print(json.dumps({r.attack: r.auc for r in report.results}))
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "torch")))
    """)
    proc = _python(code, tmp_path, hide_torch=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    aucs = json.loads(lines[-2])
    assert list(aucs) == ["loss", "population", "reference", "lira", "rmia", "auto"]
    assert all(0.0 <= a <= 1.0 for a in aucs.values())
    assert json.loads(lines[-1]) == []


@pytest.mark.slow
def test_cli_run_on_a_sklearn_config_without_torch(tmp_path: Path) -> None:
    rng = __import__("numpy").random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    rows = ["a,b,c,label"]
    rows += [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{c}" for r, c in zip(x, y, strict=True)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "audit.yaml").write_text(
        "data: {source: csv, path: data.csv}\n"
        "model: {architecture: sklearn, sklearn: LogisticRegression}\n"
        "references: {count: 2}\n"
        "attacks: [loss, rmia]\n"
        "report: {formats: [html, json]}\n"
    )
    proc = _python("", tmp_path, hide_torch=True, args=(
        "-m", "privmeter.cli", "run", "audit.yaml", "--out", "out", "--no-progress"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["attack"] for r in data["results"]] == ["loss", "rmia"]
    assert (tmp_path / "out" / "report.html").is_file()


def _version_lookups(path: Path) -> list[int]:
    """Lines of ``path`` that fetch ``__version__`` from the package root."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        from_root = (isinstance(node, ast.ImportFrom) and node.module == "privmeter"
                     and any(a.name == "__version__" for a in node.names))
        attribute = (isinstance(node, ast.Attribute) and node.attr == "__version__"
                     and isinstance(node.value, ast.Name) and node.value.id in ("privmeter", "pm"))
        if from_root or attribute:
            lines.append(node.lineno)
    return lines


def test_no_module_reaches_up_to_the_package_root_for_its_version() -> None:
    offenders = {
        str(p.relative_to(SRC)): lines
        for p in sorted(SRC.rglob("*.py"))
        if p != SRC / "__init__.py" and (lines := _version_lookups(p))
    }
    assert offenders == {}
    from privmeter._version import __version__

    assert privmeter.__version__ == __version__
