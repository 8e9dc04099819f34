"""The ``privmeter`` command end to end: demo, run from a config, report, gate, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import privmeter
from privmeter.cli import main
from privmeter.config import ConfigError, load_config


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [sys.executable, "-m", "privmeter.cli", *args], capture_output=True, text=True,
        cwd=cwd, env=env, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def demo_out(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = _run("demo", "--out", str(out), "--no-progress")
    return out, proc


@pytest.mark.slow
def test_demo_writes_every_output(demo_out: tuple) -> None:
    out, proc = demo_out
    assert proc.returncode == 0, proc.stderr
    for name in ("report.html", "results.json", "records.csv", "report.pdf"):
        assert (out / name).is_file(), name
    assert list(out.glob("*.png")) or list(out.glob("*/*.png"))
    assert "Time: training" in proc.stdout and "querying" in proc.stdout
    for attack in ("loss", "population", "reference", "lira", "rmia"):
        assert attack in proc.stdout


@pytest.mark.slow
def test_demo_results_are_sound(demo_out: tuple) -> None:
    out, _ = demo_out
    data = json.loads((out / "results.json").read_text())
    schema = json.loads(
        (Path(privmeter.__file__).parent / "report" / "results.schema.json").read_text()
    )
    jsonschema.validate(data, schema)
    broken = json.loads(json.dumps(data))
    broken["results"][0]["auc"] = 1.5
    with pytest.raises(jsonschema.ValidationError, match="1.5"):
        jsonschema.validate(broken, schema)
    assert data["schema_version"] == 2 and data["not_run"] == []
    results = data["results"]
    assert [r["attack"] for r in results] == [
        "loss", "population", "reference", "lira", "rmia", "auto"
    ]
    from privmeter.report import AuditReport

    loaded = AuditReport.load(out)  # per-point arrays from scores.npz
    for saved, res in zip(results, loaded.results, strict=True):
        r = {**saved, "scores": res.scores, "membership": res.membership}
        assert 0.0 <= r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1] <= 1.0
        assert 0.0 <= r["advantage"] <= 1.0 and r["epsilon_lb"] >= 0.0
        s = np.asarray(r["scores"])
        m = np.asarray(r["membership"], dtype=bool)
        assert s[m].mean() > s[~m].mean()  # members look more like members
        for t in r["tpr_at_fpr"]:
            assert 0.0 <= t["tpr_ci"][0] <= t["tpr"] <= t["tpr_ci"][1] <= 1.0
            assert t["resolvable"] == (t["level"] * r["n_non_members"] >= 1)
    card = data["card"]
    assert card["reference models per target"] == 8


@pytest.mark.slow
def test_report_and_gate_from_saved_results(demo_out: tuple, tmp_path: Path) -> None:
    out, _ = demo_out
    proc = _run("report", str(out / "results.json"), "--out", str(tmp_path / "re"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "re" / "report.html").is_file()
    ok = _run("gate", str(out / "results.json"), "--max-auc", "0.99",
              "--max-tpr-at-fpr", "0.01:0.99")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "gate: passed" in ok.stdout
    bad = _run("gate", str(out / "results.json"), "--max-auc", "0.5")
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "gate: failed" in bad.stdout
    cons = _run("gate", str(out / "results.json"), "--max-tpr-at-fpr", "0.01:0.0",
                "--conservative")
    assert cons.returncode == 1


def test_existing_output_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty; pass --overwrite" in err
    assert "Traceback" not in err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_attacks_command(capsys: pytest.CaptureFixture) -> None:
    assert main(["attacks"]) == 0
    out = capsys.readouterr().out
    assert "rmia:" in out and "ICML 2024" in out and "  gamma: 1.0  # " in out
    assert "--gamma" not in out  # no command takes attack parameters as flags


def test_gate_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["gate", str(tmp_path / "missing.json"), "--max-auc", "0.6"]) == 2
    assert "results file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["gate", str(bad), "--max-auc", "0.6"]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "audit.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gmae: model\n", r"unknown config key 'gmae'; did you mean 'game'\?"),
        ("references:\n  cuont: 4\n", r"unknown config key 'references.cuont'; did you mean "
                                        r"'references.count'\?"),
        ("references:\n  count: -3\n", r"references.count: .* \(got -3\)"),
        ("game: modle\n", r"game: .* \(got 'modle'\)"),
        ("attacks: [loss, lirra]\n", r"unknown attack 'lirra' \(did you mean 'lira'\?\)"),
        ("- just\n- a list\n", "must hold a mapping of keys"),
        ("data: [\n", "is not valid YAML"),
    ],
)
def test_config_errors_name_the_key_and_value(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_overrides(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "references:\n  count: 4\n"),
                      ["references.count=6", "training.epochs=3", "data.source=iris"])
    assert cfg.references.count == 6 and cfg.training.epochs == 3
    assert cfg.data.source == "iris"
    with pytest.raises(ConfigError, match="--set expects key=value"):
        load_config(None, ["references.count"])


def test_run_errors_are_one_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, "data:\n  source: digitz\n")
    proc = _run("run", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "did you mean 'digits'" in proc.stderr
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,klass\n1,2,0\n3,4,1\n")
    cfg = write(tmp_path, f"data:\n  source: csv\n  path: {csv}\n")
    proc = _run("run", str(cfg), "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2 and "label" in proc.stderr and "klass" in proc.stderr
    cfg = write(tmp_path, "data:\n  source: npz\n  path: /nonexistent/file.npz\n")
    proc = _run("run", str(cfg), "--out", str(tmp_path / "o3"))
    assert proc.returncode == 2 and "/nonexistent/file.npz" in proc.stderr
    proc = _run("--debug", "run", str(cfg), "--out", str(tmp_path / "o4"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.slow
def test_run_from_config_with_sklearn_and_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    lines = ["f1,f2,<script>alert(1)</script>,f4,label"]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{c}" for row, c in zip(x, y, strict=True)]
    csv = tmp_path / "data.csv"
    csv.write_text("\n".join(lines) + "\n")
    cfg = write(tmp_path, (
        "data:\n  source: csv\n  path: data.csv\n"
        "model:\n  architecture: sklearn\n  sklearn: RandomForestClassifier\n"
        "  options: {n_estimators: 10}\n"
        "references: {count: 4}\n"
        "attacks: [loss, lira, {name: rmia, params: {temperature: 1.0}}]\n"
        "report: {formats: [html, json, csv]}\n"
    ))
    proc = _run("run", str(cfg), "--out", str(tmp_path / "out"), "--no-progress",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["attack"] for r in data["results"]] == ["loss", "lira", "rmia"]
    assert not (tmp_path / "out" / "report.pdf").exists()


# ----------------------------------------------------------- small things users noticed (#9)
def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"privmeter {privmeter.__version__}"


def test_help_shows_the_report_out_default(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "(default privmeter-report)" in capsys.readouterr().out


def test_attack_parameters_are_listed_as_yaml(capsys: pytest.CaptureFixture) -> None:
    assert main(["attacks"]) == 0
    out = capsys.readouterr().out
    assert "  online: true  # " in out and "  fix_variance: null  # " in out
    assert '  smoothing: "interpolate"  # ' in out
    assert not any(line.lstrip().startswith("--") for line in out.splitlines())
    # the example the listing gives is a valid config
    cfg = load_config(None, ["attacks=[loss, {rmia: {gamma: 2.0}}]"])
    assert cfg.attacks[1].name == "rmia" and cfg.attacks[1].params == {"gamma": 2.0}


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_report_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    from privmeter.report import AuditReport

    rng = np.random.default_rng(0)
    membership = rng.random((2, 60)) < 0.5
    res = privmeter.run_attack(
        "loss", privmeter.SignalTable(rng.normal(size=(2, 60)) + membership, membership)
    )
    old = os.umask(umask)
    try:
        written = AuditReport([res], card={"game": "model"}).save(
            tmp_path / "out", formats=("json", "csv")
        )
    finally:
        os.umask(old)
    assert written
    for path in written:
        assert path.stat().st_mode & 0o777 == mode, (path, oct(path.stat().st_mode))


def test_config_paths_are_relative_to_the_config(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from privmeter.config import build_audit

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rows = "\n".join(f"{i % 7},{i % 3},{i % 2}" for i in range(40))
    (project / "data" / "train.csv").write_text("a,b,label\n" + rows + "\n")
    (project / "audit.yaml").write_text(
        "data: {source: csv, path: data/train.csv}\n"
        "model: {architecture: sklearn, sklearn: LogisticRegression}\n"
        "cache: cache\n"
    )
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config(project / "audit.yaml")
    audit = build_audit(cfg, progress=False, base_dir=project)
    assert audit._data.n == 40
    assert Path(audit.store.root) == project / "cache"
    # a path given on the command line is relative to the working directory
    (tmp_path / "other.csv").write_text("a,b,label\n" + rows + "\n1,1,1\n")
    cfg = load_config(project / "audit.yaml", ["data.path=other.csv"])
    assert cfg.data.path == str(tmp_path / "other.csv")
    assert build_audit(cfg, progress=False, base_dir=project)._data.n == 41


# ----------------------------------------------------------- QA pass: CLI messages (#9)
def test_python_warnings_are_one_line(tmp_path: Path) -> None:
    """A warning raised during the run is ``privmeter: warning: ...``, once, no file:line."""
    cfg = write(tmp_path, (
        "model: {architecture: sklearn, sklearn: RandomForestClassifier, "
        "options: {n_estimators: 5}}\n"
        "data: {source: wine, population_fraction: 0.6}\n"
        "references: {count: 1, online: false}\n"
        "attacks: [{name: rmia, params: {online: false}}, {name: rmia, params: {online: false}}]\n"
        "report: {formats: [json]}\n"
    ))
    # a subprocess: pytest records the warnings of in-process code instead of showing them
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run(
        [sys.executable, "-m", "privmeter.cli", "run", str(cfg), "--out", str(tmp_path / "out"),
         "--no-progress"], capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [
        "privmeter: warning: RMIA offline: a='auto' needs at least 2 reference models to tune "
        "a (has 1); using the default a=0.3 (the research code's CIFAR-10 value). Pass a "
        "explicitly to silence this warning."
    ], err
    assert "UserWarning" not in err and "_registry.py" not in err


def test_one_line_warnings_still_reach_a_recorder() -> None:
    """Only the format changes: pytest.warns / catch_warnings(record=True) still see them."""
    import warnings

    from privmeter.cli import _one_line_warnings

    before = warnings.formatwarning
    with pytest.warns(UserWarning, match="careful"), _one_line_warnings():
        assert warnings.formatwarning("careful\n  now", UserWarning, "f.py", 1) == (
            "privmeter: warning: careful now\n")
        assert warnings.formatwarning("careful\n  now", UserWarning, "g.py", 2) == ""
        warnings.warn("careful", UserWarning, stacklevel=1)
    assert warnings.formatwarning is before


def _three_loss_results(tmp_path: Path) -> Path:
    import privmeter as pm
    from privmeter.report import AuditReport

    rng = np.random.default_rng(0)
    mem = rng.random((2, 40)) < 0.5
    table = pm.SignalTable(rng.normal(size=(2, 40)) + mem, mem)
    res = pm.run_attack("loss", table)
    inf_eps = pm.run_attack("loss", pm.SignalTable(mem.astype(float) * 5, mem))
    AuditReport([res, res, inf_eps], card={"game": "model"}).save(tmp_path / "r",
                                                                  formats=("json",))
    return tmp_path / "r" / "results.json"


def test_gate_refuses_an_unknown_required_attack(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    path = str(_three_loss_results(tmp_path))
    assert main(["gate", path, "--max-auc", "1", "--require-attack", "lria"]) == 2
    err = capsys.readouterr().err
    assert "unknown attack 'lria' (did you mean 'lira' or 'rmia'?)" in err, err
    assert err.count("\n") == 1
    # the labels present in the results count as names too
    assert main(["gate", path, "--max-auc", "1", "--require-attack", "loss#2"]) == 2
    assert "did you mean 'loss #2'?" in capsys.readouterr().err
    assert main(["gate", path, "--max-auc", "1", "--require-attack", "loss #2",
                 "--require-attack", "loss"]) == 0
    # a registered attack that did not run still fails the gate (exit 1, not 2)
    assert main(["gate", path, "--max-auc", "1", "--require-attack", "lira"]) == 1
    assert "FAIL  lira" in capsys.readouterr().out


def test_gate_columns_are_aligned(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = str(_three_loss_results(tmp_path))
    assert main(["gate", path, "--max-epsilon", "1", "--max-auc", "1"]) == 1
    out = [ln for ln in capsys.readouterr().out.splitlines() if ln[:4] in ("PASS", "FAIL")]
    assert len(out) == 6
    # every row has its value column ending at the same place ('inf' and '0.1234' alike)
    ends = {ln.index(" <= ") if " <= " in ln else ln.index(" > ") for ln in out}
    assert len(ends) == 1, out
    labels = {ln.split("  ")[1].strip() for ln in out}
    assert labels == {"loss", "loss #2", "loss #3"}


@pytest.mark.parametrize("argv, match", [
    (["--max-tpr-at-fpr", "-1:0.5"], r"the FPR must be in \[0, 1\], got '-1'"),
    (["--max-tpr-at-fpr", "1.5:0.5"], r"the FPR must be in \[0, 1\], got '1.5'"),
    (["--max-tpr-at-fpr", "0.1:-2"], r"the TPR must be in \[0, 1\], got '-2'"),
    (["--max-auc", "-0.5"], r"--max-auc must be a number between 0 and 1, got '-0.5'"),
    (["--max-epsilon", "-inf"], r"--max-epsilon must be a number >= 0, got '-inf'"),
])
def test_gate_negative_values_reach_the_validator(tmp_path: Path, argv: list[str], match: str,
                                                  capsys: pytest.CaptureFixture) -> None:
    import re

    with pytest.raises(SystemExit) as info:
        main(["gate", str(tmp_path / "r.json"), *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and "expected one argument" not in err, err


def test_report_accepts_no_progress(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = str(_three_loss_results(tmp_path))
    assert main(["report", path, "--out", str(tmp_path / "re"), "--no-progress"]) == 0
    assert (tmp_path / "re" / "report.html").is_file()


def test_audit_errors_name_config_keys(tmp_path: Path) -> None:
    from privmeter.config import _config_words, build_audit

    cfg = load_config(write(tmp_path, "references: {count: 0}\n"))
    with pytest.raises(ConfigError, match=r"references.count=0: use references.count >= 1") as e:
        build_audit(cfg, progress=False)
    assert "n_references" not in str(e.value)
    assert _config_words(
        "lower population_fraction; target_indices must be row indices; target_model and "
        "data.population_fraction"
    ) == ("lower data.population_fraction; target.train_indices must be row indices; "
          "target.weights and data.population_fraction")


def test_did_you_mean_lists_equally_close_names() -> None:
    import privmeter as pm
    from privmeter.datasets import _close_names, _closest_names

    assert _close_names("lria", pm.list_attacks()) == ["lira", "rmia"]
    assert _closest_names("lria", pm.list_attacks()) == "'lira' or 'rmia'"
    assert _closest_names("abc", ["abx", "aby", "abz"]) == "'abx', 'aby' or 'abz'"
    assert _closest_names("lirra", pm.list_attacks()) == "'lira'"
    assert _closest_names("Loss", pm.list_attacks()) == "'loss'"
    assert _closest_names("zzzz", pm.list_attacks()) is None
    with pytest.raises(ValueError, match=r"did you mean 'lira' or 'rmia'\?"):
        pm.attack_info("lria")


def test_gate_checks_the_tpr_at_zero_fpr(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # FPR 0 is a level of its own (TPR at zero false positives): the third result separates
    # members perfectly (TPR 1 at FPR 0), so a limit of 0.5 there fails, a limit of 1 passes
    path = str(_three_loss_results(tmp_path))
    assert main(["gate", path, "--max-tpr-at-fpr", "0:1"]) == 0
    assert main(["gate", path, "--max-tpr-at-fpr", "0:0.5"]) == 1
    assert "TPR" in capsys.readouterr().out
