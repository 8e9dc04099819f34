"""DP through the pipeline: ``game: dp`` (claimed vs measured epsilon in the report, ``gate
--dp-consistent``) and a DP-trained model in the membership game (its claim on the report)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("opacus")

import torch

import _dp_helpers as _dp
import privmeter as pm
from privmeter.cli import main
from privmeter.training import DPConfig, TorchTrainer

torch.set_num_threads(1)
D = 20


make_mlp = functools.partial(_dp.make_mlp, D, 32)


def task(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    return _dp.four_class_task(n, D)


def trainer(sigma: float, cls: type = TorchTrainer, epochs: int = 10) -> TorchTrainer:
    t: TorchTrainer = cls(make_mlp, optimizer="sgd", lr=2.0, epochs=epochs, batch_size=50,
                          dp=DPConfig(noise_multiplier=sigma, delta=1e-6, max_grad_norm=1.0))
    return t


def test_dp_game_report_consistent_and_violated(tmp_path: Path) -> None:
    ok = pm.Audit(task(), trainer(3.0), game="dp", dp_canaries=150, progress=False).run()
    dp = ok.extras["dp"]
    assert dp["verdict"] == "consistent" and dp["claimed_epsilon"] > 0
    assert all(b["epsilon_lb"] <= dp["claimed_epsilon"] for b in dp["lower_bounds"])
    assert ok.extras["dp_claim"]["epsilon"] == dp["claimed_epsilon"]
    assert ok.results[0].n_members + ok.results[0].n_non_members == 150
    broken = pm.Audit(task(), trainer(16.0, _dp.NoNoiseTrainer, epochs=30), game="dp",
                      dp_canaries=200, progress=False).run()
    assert broken.extras["dp"]["verdict"] == "violated"
    text = broken.summary()
    assert "violated" in text
    broken.save(tmp_path / "broken", formats=("html", "json"))
    html = (tmp_path / "broken" / "report.html").read_text(encoding="utf-8")
    assert "violated" in html.lower()
    # the gate reads the saved verdict
    assert main(["gate", str(tmp_path / "broken" / "results.json"), "--dp-consistent"]) == 1
    ok.save(tmp_path / "ok", formats=("json",))
    assert main(["gate", str(tmp_path / "ok" / "results.json"), "--dp-consistent"]) == 0


def test_dp_trained_target_shows_its_claim_in_the_membership_game() -> None:
    x, y = task()
    rep = pm.Audit((x, y), trainer(2.0), attacks=["loss", "lira"], n_references=2,
                   progress=False).run()
    claim = rep.extras["dp_claim"]
    assert claim["epsilon"] > 0 and claim["delta"] == 1e-6
    assert "DP-SGD claiming epsilon" in rep.card["model"]
    # a membership attack cannot beat what the claim allows
    for r in rep.results:
        assert r.epsilon_lb <= claim["epsilon"]


def test_dp_config_game_and_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = task()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    cfg = tmp_path / "dp.yaml"
    cfg.write_text(
        "game: dp\n"
        "data: {source: npz, path: data.npz}\n"
        "model: {architecture: mlp, options: {hidden: [32]}}\n"
        "training: {optimizer: sgd, lr: 2.0, epochs: 5, batch_size: 50,\n"
        "           dp: {noise_multiplier: 3.0, delta: 1.0e-6}}\n"
        "dp_audit: {canaries: 150}\n"
        "report: {formats: [json, html]}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "DP" in printed and "consistent" in printed
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["extras"]["dp"]["verdict"] == "consistent"
    assert main(["gate", str(out / "results.json"), "--dp-consistent"]) == 0


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("game: dp\ndata: {source: digits}\n", r"game 'dp' audits the epsilon"),
        ("data: {source: digits}\ntraining: {dp: {delta: 1.0e-6}}\n",
         r"exactly one of noise_multiplier and target_epsilon"),
        ("data: {source: digits}\ntraining: {dp: {noise_multiplier: 1.0, delta: 0.5}}\n",
         r"delta"),
    ],
    ids=["dp-game-without-dp", "dp-without-noise", "delta-too-large"],
)
def test_bad_dp_configs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               yaml_text: str, match: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    code = main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(match, err), err


def test_gate_dp_consistent_needs_a_dp_audit(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    member = rng.random(100) < 0.5
    rep = pm.AuditReport([pm.AttackResult.from_scores("loss", rng.normal(size=100), member)])
    rep.save(tmp_path / "r", formats=("json",))
    assert main(["gate", str(tmp_path / "r" / "results.json"), "--dp-consistent"]) == 2
    assert "--dp-consistent needs the results of a DP audit" in capsys.readouterr().err
