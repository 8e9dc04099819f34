"""Language-model audits end to end: a tiny GPT-2 built here, fine-tuned on synthetic records.

What must hold (issue 11): a model trained on the members is detected by LiRA / RMIA with
fine-tuned references clearly above LOSS; a model never trained on either set gives AUCs
whose intervals contain 0.5; canary exposure grows with repetitions; the blind baseline
stays quiet on an i.i.d. split and flags a shifted member set; the CLI runs a config of a
fine-tuned model folder and JSONL files of members and non-members.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import privmeter as pm
from privmeter.audit import LM_DEFAULT_ATTACKS
from privmeter.cli import main
from privmeter.datasets import TextDataset
from privmeter.datasets.synthetic_text import synthetic_records
from privmeter.models import HFCausalLM
from privmeter.report.verdict import at_confidence
from privmeter.training import LMTrainer
from privmeter.training.lm_trainer import build_tiny_causal_lm, pretrain_causal_lm

MAX_LEN = 64


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer GPT-2 that already knows the records' language (public records)."""
    public = synthetic_records(200, seed=101)
    folder = build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "base", list(public.x),
                                  vocab_size=320, n_layer=2, n_embd=32, n_head=2,
                                  n_positions=MAX_LEN, seed=0)
    return pretrain_causal_lm(folder, list(public.x), epochs=2, learning_rate=3e-3,
                              batch_size=16, max_length=MAX_LEN, seed=0)


def _trainer(base: Path, epochs: int = 6) -> LMTrainer:
    return LMTrainer(base, epochs=epochs, learning_rate=4e-3, batch_size=16,
                     max_length=MAX_LEN, schedule="constant")


@pytest.fixture(scope="module")
def report(base: Path) -> Any:
    data = synthetic_records(240, seed=0)
    audit = pm.Audit(
        data, _trainer(base), n_references=4, seed=0, progress=False,
        reference_lm=HFCausalLM.from_pretrained(base, max_length=MAX_LEN),
        canaries=pm.CanarySpec("pin {d}{d}{d}{d}{d}", repetitions=(0, 24), per_repetition=3,
                               n_candidates=400),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*longer than max_length.*")
        return audit.run()


def test_every_lm_attack_runs_and_references_beat_loss(report: Any) -> None:
    by = {r.attack: r for r in report.results}
    assert list(by) == [*LM_DEFAULT_ATTACKS, "pretrained_reference"]
    assert report.not_run == ()
    for r in by.values():
        assert 0.0 <= r.auc_ci[0] <= r.auc <= r.auc_ci[1] <= 1.0
    # fine-tuned references calibrate each text's difficulty: clearly above the loss alone
    assert by["rmia"].auc > by["loss"].auc + 0.03, (by["rmia"].auc, by["loss"].auc)
    assert by["lira"].auc > by["loss"].auc, (by["lira"].auc, by["loss"].auc)
    assert by["rmia"].auc_ci[0] > 0.6
    assert report.card["utility"]["metric"].startswith("perplexity")
    assert report.card["utility"]["target train"] < report.card["utility"]["target test"]


def test_canary_exposure_grows_with_repetitions(report: Any) -> None:
    can = report.extras["canaries"]
    assert can["space_size"] == 100_000 and can["method"] == "extrapolate"
    by_reps: dict[int, list[float]] = {}
    for c in can["canaries"]:
        assert 0.0 <= c["exposure"] <= c["max_exposure"] + 1e-9
        by_reps.setdefault(c["repetitions"], []).append(c["exposure"])
    assert np.mean(by_reps[24]) > np.mean(by_reps[0]) + 2.0, by_reps


def test_blind_baseline_is_quiet_on_an_iid_split(report: Any) -> None:
    blind = report.extras["blind_baseline"]
    assert blind["comparable"] is True
    assert blind["auc_ci"][0] <= 0.5 <= blind["auc_ci"][1] or blind["auc"] < 0.6
    assert "not comparable" not in report.summary()


def test_the_report_shows_the_texts_and_round_trips(report: Any, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    report.save(out, formats=("html", "json", "csv"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="canaries"' in html and "tokens" in html
    loaded = pm.AuditReport.load(out)
    assert loaded.records is not None and loaded.records.texts == report.records.texts
    assert [r.attack for r in loaded.results] == [r.attack for r in report.results]
    assert loaded.extras["canaries"] == report.extras["canaries"]


def test_a_model_never_trained_on_either_set_shows_nothing(base: Path) -> None:
    # the pretrained base never saw any of these records: its "members" are a random half
    data = synthetic_records(200, seed=5)
    members = np.sort(np.random.default_rng(5).choice(len(data), 100, replace=False))
    target = HFCausalLM.from_pretrained(base, max_length=MAX_LEN)
    audit = pm.Audit(data, _trainer(base, epochs=2), n_references=4, seed=5, progress=False,
                     target_model=target, target_indices=members)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*longer than max_length.*")
        rep = audit.run()
    k = len(rep.results)
    for r in rep.results:
        wide = at_confidence(r, 1 - 0.05 / k)  # the family-wise level, as the verdict uses
        assert wide.auc_ci[0] < 0.5 < wide.auc_ci[1], (r.attack, r.auc, wide.auc_ci)
    assert rep.verdict.level == "low"


def test_the_blind_baseline_flags_a_shifted_member_set(base: Path) -> None:
    # members: support tickets; non-members: bank messages: the texts alone tell them apart
    members = synthetic_records(60, seed=7, kinds=("support",))
    others = synthetic_records(60, seed=8, kinds=("bank",))
    data = TextDataset([*members.x, *others.x], name="shifted")
    target = HFCausalLM.from_pretrained(base, max_length=MAX_LEN)
    rep = pm.Audit(data, None, target_model=target, target_indices=np.arange(60),
                   population_fraction=0.2, progress=False, seed=0).run()
    blind = rep.extras["blind_baseline"]
    assert blind["comparable"] is False and blind["auc"] > 0.9
    assert "not comparable" in rep.summary()
    # without reference models the reference attacks are listed as not run
    assert {a for a, _ in rep.not_run} >= {"reference", "lira", "rmia"}


def _jsonl(path: Path, texts: Any) -> Path:
    path.write_text("".join(json.dumps({"text": str(t)}) + "\n" for t in texts),
                    encoding="utf-8")
    return path


def test_cli_audits_a_finetuned_model_folder_and_jsonl_files(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = synthetic_records(160, seed=11)
    trainer = _trainer(base)
    member_rows = np.arange(80)
    state = trainer.fit(data.x, data.y, member_rows, seed=1)
    target_dir = tmp_path / "my-finetuned-model"
    trainer.build_module(state).save_pretrained(target_dir)
    trainer.tokenizer().save_pretrained(target_dir)
    _jsonl(tmp_path / "members.jsonl", data.x[:80])
    _jsonl(tmp_path / "others.jsonl", data.x[80:])
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(
        "data: {source: jsonl, members: members.jsonl, non_members: others.jsonl}\n"
        "model: {architecture: hf_causal_lm, path: my-finetuned-model, base_path: "
        f"{base}, max_length: {MAX_LEN}}}\n"
        "training: {epochs: 3, lr: 0.004, batch_size: 16}\n"
        "references: {count: 2}\n"
        "attacks: [loss, zlib, min_k, min_k_plus_plus, lira, rmia]\n"
        "report: {formats: [html, json]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [r["attack"] for r in saved["results"]] == [
        "loss", "zlib", "min_k", "min_k_plus_plus", "lira", "rmia"]
    assert saved["results"][0]["auc"] > 0.5
    assert "blind_baseline" in saved["extras"]
    printed = capsys.readouterr().out
    assert "Time:" in printed and "min_k_plus_plus" in printed


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("data: {source: jsonl, members: members.jsonl, non_members: others.jsonl}\n"
         "model: {architecture: hf_causal_lm, path: nowhere}\n",
         r"model.path: .*nowhere"),
        ("data: {source: jsonl, members: members.jsonl, non_members: members.jsonl}\n"
         "model: {architecture: hf_causal_lm, path: BASE}\n",
         r"data.members / data.non_members: .*both"),
        ("data: {source: jsonl, path: members.jsonl}\n"
         "model: {architecture: mlp}\n",
         r"built-in architectures are classifiers.*hf_causal_lm"),
        ("data: {source: digits}\nattacks: [zlib]\n",
         r"attack 'zlib' is for language_model audits"),
        ("data: {source: jsonl, members: members.jsonl}\n"
         "model: {architecture: hf_causal_lm, path: BASE}\n",
         r"data.members and data.non_members go together"),
        ("data: {source: jsonll, path: members.jsonl}\n",
         r"unknown source 'jsonll' \(did you mean 'jsonl'\?\).*texts: text, jsonl, csv_text"),
    ],
    ids=["missing-model-folder", "same-texts-both-sides", "mlp-on-texts", "zlib-on-tabular",
         "members-alone", "source-typo"],
)
def test_cli_bad_lm_configs_exit_2(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str,
    match: str,
) -> None:
    import re

    _jsonl(tmp_path / "members.jsonl", synthetic_records(30, seed=3).x)
    _jsonl(tmp_path / "others.jsonl", synthetic_records(30, seed=4).x)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text.replace("BASE", str(base)), encoding="utf-8")
    code = main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(match, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "game", [{"game": "algorithm", "n_references": 3},
             {"game": "model", "online": False, "n_references": 2},
             {"game": "record", "n_references": 3, "records": 5}],
    ids=["algorithm", "model-offline", "record"],
)
def test_every_game_runs_on_texts(base: Path, game: dict[str, Any]) -> None:
    rep = pm.Audit(synthetic_records(160, seed=0), _trainer(base, epochs=3),
                   attacks=["loss", "zlib", "lira", "rmia"], progress=False, **game).run()
    assert [r.attack for r in rep.results] == ["loss", "zlib", "lira", "rmia"]
    assert rep.not_run == ()
    by = {r.attack: r for r in rep.results}
    assert by["rmia"].auc > 0.5 and by["lira"].auc > 0.5


def test_a_black_box_lm_runs_the_defaults_it_can() -> None:
    # per-token log-probs only: Min-K%++ needs the next-token distribution and is not run
    from privmeter.models import BlackBoxLM

    data = synthetic_records(80, seed=0)
    lm = BlackBoxLM(lambda texts: [np.full(len(t.split()), -1.0 - 0.01 * len(t)) for t in texts])
    rep = pm.Audit(data, None, target_model=lm, target_indices=np.arange(40),
                   progress=False).run()
    assert [r.attack for r in rep.results] == ["loss", "population", "zlib", "lowercase", "min_k"]
    reasons = dict(rep.not_run)
    assert "needs 'logits' access" in reasons["min_k_plus_plus"]
    assert "no reference models" in reasons["lira"]
    with pytest.raises(ValueError, match="attack 'min_k_plus_plus' cannot run on the target"):
        pm.Audit(data, None, target_model=lm, target_indices=np.arange(40),
                 attacks=["min_k_plus_plus"], progress=False)


def test_all_signals_of_a_model_come_from_one_forward_pass(base: Path) -> None:
    # loss, zlib, Min-K%, Min-K%++, the utility and the report's tokens: one pass per model
    data = synthetic_records(60, seed=0)
    target = HFCausalLM.from_pretrained(base, max_length=MAX_LEN, batch_size=8)
    calls = [0]
    forward = target._forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return forward(*args, **kwargs)

    target._forward = counting  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*longer than max_length.*")
        rep = pm.Audit(data, None, target_model=target, target_indices=np.arange(30),
                       attacks=["loss", "zlib", "min_k", "min_k_plus_plus"], progress=False,
                       blind_baseline=False).run()
    assert calls[0] == -(-len(data) // 8)  # ceil(60 / 8) batches: a single pass
    assert rep.records is not None and rep.records.tokens is not None
