"""Verdicts that cannot mislead: skipped attacks, two-sided epsilon, small-sample intervals,
identical curves, utility beside privacy, and the compact results.json + scores.npz."""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import privmeter
from privmeter import metrics
from privmeter.audit import Audit, _per_record
from privmeter.cli import main
from privmeter.report import AuditReport, RecordData, assess_attack, assess_risk
from privmeter.report.html import render_html
from privmeter.report.plots import merge_identical
from privmeter.result import AttackResult

N = 1000
MEMBER = np.r_[np.ones(N), np.zeros(N)].astype(bool)
SCHEMA = json.loads(
    (Path(privmeter.__file__).parent / "report" / "results.schema.json").read_text()
)


def _noise(seed: int = 0, name: str = "loss") -> AttackResult:
    rng = np.random.default_rng(seed)
    return AttackResult.from_scores(name, rng.normal(size=2 * N), MEMBER,
                                    point_ids=np.arange(2 * N))


def _non_member_side() -> AttackResult:
    """No member stands out, but 10% of the non-members have a loss no member has."""
    rng = np.random.default_rng(0)
    s = rng.normal(size=2 * N)
    s[N : N + 100] = -100.0
    return AttackResult.from_scores("loss", s, MEMBER, point_ids=np.arange(2 * N))


# --------------------------------------------------------------------------- not run
NOT_RUN = (("lira", "1 points have fewer than 1 IN reference models"),
           ("rmia", "1 points have fewer than 1 IN reference models"))


def test_skipped_attacks_are_part_of_the_verdict() -> None:
    rep = AuditReport((_noise(),), not_run=NOT_RUN)
    v = rep.verdict
    assert v.not_run == NOT_RUN and v.ran == ("loss",)
    assert v.missing_text.startswith(
        "lira and rmia did not run: 1 points have fewer than 1 IN reference models; "
        "the verdict rests on loss only"
    )
    assert "WARNING: lira and rmia did not run" in v.text
    summary = rep.summary()
    assert summary.count("did not run") == 1 and "WARNING" in summary
    d = rep.to_dict()
    assert d["not_run"] == [{"attack": a, "reason": r} for a, r in NOT_RUN]
    assert d["verdict"]["not_run"] == d["not_run"]
    assert "did not run" in d["verdict"]["text"]
    jsonschema.validate(d, SCHEMA)
    assert AuditReport.from_dict(json.loads(json.dumps(d))).not_run == NOT_RUN
    page = render_html(rep)
    box = page[page.index('id="verdict"') : page.index('id="key-figures"')]
    assert 'id="not-run"' in box and "lira and rmia did not run" in box
    assert "lira did not run" not in AuditReport((_noise(),)).summary()
    assert 'id="not-run"' not in render_html(AuditReport((_noise(),)))


def test_pdf_carries_the_not_run_warning() -> None:
    pytest.importorskip("fpdf")
    from privmeter.report.html import build_context
    from privmeter.report.pdf import render_pdf

    rep = AuditReport((_noise(),), not_run=NOT_RUN)
    assert build_context(rep)["verdict"]["missing"] == rep.verdict.missing_text
    assert render_pdf(rep)[:5] == b"%PDF-"


def _tiny_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(
        "data: {source: breast_cancer}\n"
        "model: {architecture: sklearn, sklearn: LogisticRegression, "
        "options: {max_iter: 200}}\n"
        "references: {count: 2}\n"
        "attacks: [loss, reference]\n"
        "report: {formats: [json]}\n"
    )
    return cfg


def test_cli_warns_once_and_gate_fails_on_a_skipped_attack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import privmeter.pipeline.audit as audit_mod

    real = audit_mod.run_attack

    def flaky(name: str, *args: object, **kwargs: object) -> AttackResult:
        if name == "reference":
            raise ValueError("3 points have no OUT reference model")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_mod, "run_attack", flaky)
    out = tmp_path / "out"
    assert main(["run", str(_tiny_config(tmp_path)), "--out", str(out), "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert (cap.out + cap.err).count("3 points have no OUT reference model") == 2  # verdict+warning
    assert cap.err.count("did not run") == 1
    assert "WARNING: reference did not run: 3 points have no OUT reference model" in cap.out
    res = out / "results.json"
    d = json.loads(res.read_text())
    assert d["not_run"] == [{"attack": "reference",
                             "reason": "3 points have no OUT reference model"}]
    jsonschema.validate(d, SCHEMA)
    assert main(["gate", str(res), "--max-auc", "1.0"]) == 1
    gate = capsys.readouterr().out
    assert "FAIL  reference" in gate and "did not run" in gate and "gate: failed" in gate
    assert main(["gate", str(res), "--max-auc", "1.0", "--allow-missing"]) == 0
    assert "MISSING (allowed)" in capsys.readouterr().out
    # an attack named on the command line without a result fails too
    monkeypatch.undo()
    out2 = tmp_path / "out2"
    assert main(["run", str(_tiny_config(tmp_path)), "--out", str(out2), "--no-progress"]) == 0
    capsys.readouterr()
    ok = ["gate", str(out2 / "results.json"), "--max-auc", "1.0"]
    assert main(ok) == 0
    assert main([*ok, "--require-attack", "reference"]) == 0
    assert main([*ok, "--require-attack", "lira"]) == 1
    assert "FAIL  lira" in capsys.readouterr().out


def test_an_audit_where_no_attack_ran_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    import privmeter.pipeline.audit as audit_mod
    from privmeter.training import SklearnTrainer

    def broken(name: str, *args: object, **kwargs: object) -> AttackResult:
        raise ValueError(f"{name} needs something this table lacks")

    monkeypatch.setattr(audit_mod, "run_attack", broken)
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    audit = Audit((x, y), SklearnTrainer(LogisticRegression(max_iter=300)),
                  attacks=["loss", "lira"], n_references=2, progress=False)
    with pytest.warns(UserWarning, match="could not run"), pytest.raises(
        ValueError, match="no attack could run: loss: loss needs something this table lacks; "
                          "lira: lira needs"):
        audit.run()


# --------------------------------------------------------------------------- gate
def _saved(tmp_path: Path, *results: AttackResult) -> Path:
    AuditReport(results).save(tmp_path / "r", formats=("json",))
    return tmp_path / "r" / "results.json"


def test_gate_conservative_fails_unresolvable_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = _saved(tmp_path, _noise())  # 1,000 non-members: FPR 0.01% is not resolvable
    assert main(["gate", str(res), "--max-tpr-at-fpr", "0.0001:0.5"]) == 0
    assert "(not resolvable)" in capsys.readouterr().out
    assert main(["gate", str(res), "--max-tpr-at-fpr", "0.0001:0.5", "--conservative"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "needs at least 10000 non-members, the audit has 1000" in out
    assert main(["gate", str(res), "--max-tpr-at-fpr", "0.01:0.5", "--conservative"]) == 0


def test_gate_names_the_side_of_the_epsilon_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = _saved(tmp_path, _non_member_side())
    assert main(["gate", str(res), "--max-epsilon", "1"]) == 1
    assert "epsilon LB (non-members identified)" in capsys.readouterr().out
    # the side the verdict uses: this 'low' attack identifies no member
    assert main(["gate", str(res), "--max-epsilon", "1", "--epsilon-side", "members"]) == 0
    assert "epsilon LB (members side)" in capsys.readouterr().out


# --------------------------------------------------------------------------- epsilon
def test_epsilon_bound_records_its_side_threshold_and_rates() -> None:
    r = _non_member_side()
    e = r.epsilon_detail
    assert e.side == "non-members identified" and e.value == r.epsilon_lb > 1.0
    assert e.members < 0.2 and e.non_members == e.value
    assert e.tpr == 1.0 and e.fpr == pytest.approx(0.9)  # every member above the threshold
    assert -100 < e.threshold < 0  # just above the 100 outlying non-members
    # the two inequalities by hand, with the bounds the detail reports
    assert e.value == pytest.approx(math.log((1 - e.fpr_hi) / (1 - e.tpr_lo)))
    v = assess_attack(r)
    assert v.level == "low"  # that side exposes no member ...
    assert "from identifying non-members" in v.epsilon_note
    assert "does not raise the verdict" in v.epsilon_note  # ... and the report says why
    summary = AuditReport((r,)).summary()
    assert "from identifying non-members" in summary
    assert "  2.043 (non-members)  low" in summary and "does not raise" in summary
    assert "ε lower bound 2.04 (δ = 0) from identifying non-members" in summary
    assert 'id="eps-non-members"' in render_html(AuditReport((r,)))
    d = r.to_dict(include_scores=False)["epsilon_lb_detail"]
    assert d["side"] == "non-members identified" and d["value"] == r.epsilon_lb


def test_members_side_epsilon_raises_the_verdict() -> None:
    # 10% of members and 2% of non-members share the top score: no resolvable lift at 0.1%
    # and AUC_lo < 0.55, but TPR_lo / FPR_hi > 2 at that threshold (eps_members = 0.86).
    s = np.r_[np.ones(100), np.zeros(900), np.ones(20), np.zeros(980)]
    r = AttackResult.from_scores("toy", s, MEMBER)
    assert r.auc_ci[0] < 0.55 and r.tpr_at(0.001).tpr == 0.0
    e = r.epsilon_detail
    assert e.side == "members identified" and math.exp(e.members) > 2.0
    v = assess_attack(r)
    assert v.level == "moderate"
    assert "ε lower bound from identifying members" in v.reason
    assert v.lift == pytest.approx(math.exp(e.members))


def test_epsilon_zero_has_no_side() -> None:
    r = AttackResult.from_scores("toy", [1.0, 0.0, 1.0, 0.0], [1, 1, 0, 0])
    assert r.epsilon_lb == 0.0 and r.epsilon_detail.side is None
    assert "no test refutes" in assess_attack(r).epsilon_note


# --------------------------------------------------------------------------- small samples
def test_record_game_intervals_are_valid_with_few_models() -> None:
    n_models = 10
    per_target = []
    for t in range(n_models):
        member = np.array([t < 5, t % 2 == 0, t == 0])
        scores = member.astype(float)  # perfectly separates models with / without each record
        per_target.append(AttackResult.from_scores(
            "loss", np.r_[scores, 0.5], np.r_[member, t % 2 == 1], target=t,
            point_ids=[7, 8, 9, 10]))
    rows = {e["point_id"]: e for e in _per_record(per_target, 0.95)}
    lo, hi = rows[7]["auc_ci"]
    assert rows[7]["auc"] == 1.0 and (rows[7]["n_in"], rows[7]["n_out"]) == (5, 5)
    assert hi == 1.0 and lo == pytest.approx(1 - math.sqrt(math.log(40) / 10))  # 0.393
    assert rows[7]["ci_method"] == "hoeffding"
    assert rows[9]["auc_ci"] is None and rows[9]["note"] == "too few models for an interval"
    page = render_html(AuditReport((AttackResult.from_scores(
        "loss", [1.0, 0.0, 1.0, 0.0], [1, 0, 1, 0], target=-1,
        extras={"per_record": list(rows.values())}),)))
    assert "1.000 [0.393, 1.000]" in page and "too few models for an interval" in page


def test_delong_interval_never_has_width_zero() -> None:
    auc, (lo, hi) = metrics.auc_delong_ci([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [1] * 5 + [0] * 5)
    assert auc == 1.0 and hi == 1.0 and lo < 0.5
    assert (lo, hi) == metrics.auc_hoeffding_ci(1.0, 5, 5)
    # coverage of the Hoeffding interval at 5 vs 5 (it is conservative)
    rng = np.random.default_rng(1)
    miss = 0
    true_auc = 0.5  # null scores
    for _ in range(400):
        s = rng.normal(size=10)
        a = metrics.auc(s, [1] * 5 + [0] * 5)
        lo, hi = metrics.auc_hoeffding_ci(a, 5, 5)
        miss += not lo <= true_auc <= hi
    assert miss / 400 <= 0.05
    with pytest.raises(ValueError, match="at least one member and one non-member"):
        metrics.auc_hoeffding_ci(0.5, 0, 5)


def test_ppv_is_defined_when_the_top_score_is_tied() -> None:
    # every member and 30 non-members share the top score: TPR = FPR = 0 at 1% FPR
    s = np.r_[np.ones(N), np.ones(30), np.zeros(N - 30)]
    r = AttackResult.from_scores("loss", s, MEMBER)
    t = r.tpr_at(0.01)
    assert (t.tpr, t.fpr) == (0.0, 0.0)
    assert math.isnan(metrics.ppv(t.tpr, t.fpr, 0.1))  # the raw formula is 0/0
    p = r.ppv_at(0.01, prior=0.1)
    assert p == pytest.approx(0.1 * 1.0 / (0.1 * 1.0 + 0.9 * 0.03))  # the top tie group
    assert r.ppv_at(0.0, prior=0.1) == p
    # where the operating point makes calls, it is the usual formula
    r2 = AttackResult.from_scores("x", [3.0, 2.0, 1.0, 0.0], [1, 0, 1, 0])
    assert r2.ppv_at(0.5, prior=0.5) == pytest.approx(metrics.ppv(1.0, 0.5, 0.5))


# --------------------------------------------------------------------------- identical curves
def test_identical_rocs_are_named_not_hidden() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=2 * N) + 0.3 * MEMBER
    loss = AttackResult.from_scores("loss", s, MEMBER)
    pop = AttackResult.from_scores("population", 3 * s - 1, MEMBER)  # same ranking
    other = AttackResult.from_scores("lira", s + rng.normal(size=2 * N), MEMBER)
    rep = AuditReport((loss, pop, other))
    shown, labels, colors = merge_identical(rep.results, rep.labels)
    assert labels == ["loss = population (identical ROC)", "lira"] and len(shown) == 2
    assert colors == ["C0", "C2"]
    assert "loss and population give identical ROC curves" in rep.summary()
    assert "loss and population give identical ROC curves" in render_html(rep)
    assert "identical" not in AuditReport((loss, other)).summary()


# --------------------------------------------------------------------------- utility
def test_utility_beside_privacy_classification_and_regression() -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from privmeter.training import SklearnTrainer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    audit = Audit((x, y), SklearnTrainer(LogisticRegression(max_iter=300)),
                  attacks=["loss", "reference"], n_references=2, progress=False)
    built = audit.build_table()
    u = built.card["utility"]
    assert u["metric"] == "accuracy"
    rows = built.table.point_ids
    member = built.table.membership[0]
    model = LogisticRegression(max_iter=300).fit(x[rows[member]], y[rows[member]])
    assert u["target train"] == pytest.approx(model.score(x[rows[member]], y[rows[member]]))
    assert u["target test"] == pytest.approx(model.score(x[rows[~member]], y[rows[~member]]))
    assert u["generalisation gap"] == pytest.approx(u["target train"] - u["target test"])
    assert 0.8 < u["references (mean) test"] <= 1.0
    rep = audit.run()
    assert "Utility: target accuracy: train" in rep.summary()
    assert "reference models, mean accuracy" in rep.summary()
    assert 'id="utility"' in render_html(rep)
    jsonschema.validate(rep.to_dict(), SCHEMA)

    xr, yr = load_diabetes(return_X_y=True)
    audit = Audit((xr, yr.astype(float)), SklearnTrainer(LinearRegression()), attacks=["loss"],
                  n_references=0, progress=False, signal="squared_error")
    ur = audit.build_table().card["utility"]
    assert ur["metric"] == "R^2" and 0.3 < ur["target train"] < 0.7
    assert ur["target train MSE"] > 1000 and "references (mean) train" not in ur


# --------------------------------------------------------------------------- sidecar
def _report(n: int = 400) -> AuditReport:
    rng = np.random.default_rng(3)
    member = rng.random(n) < 0.5
    ids = rng.permutation(10 * n)[:n]
    labels = rng.integers(0, 3, n)
    res = tuple(AttackResult.from_scores(a, rng.normal(size=n) + k * member, member,
                                         point_ids=ids, labels=labels)
                for k, a in enumerate(("loss", "lira")))
    return AuditReport(res, records=RecordData(ids, features=rng.normal(size=(n, 3))))


def test_results_json_is_small_and_the_sidecar_round_trips(tmp_path: Path) -> None:
    rep = _report(4000)
    rep.save(tmp_path / "r", formats=("json",))
    small = (tmp_path / "r" / "results.json").stat().st_size
    inline = len(json.dumps(rep.to_dict()))
    assert small < inline / 10
    d = json.loads((tmp_path / "r" / "results.json").read_text())
    jsonschema.validate(d, SCHEMA)
    assert len(d["exposed_records"]["records"]) == 10
    # membership, point ids and labels are shared by both attacks: stored once
    with np.load(tmp_path / "r" / "scores.npz", allow_pickle=False) as z:
        assert len(z.files) == 2 + 3 + 1  # two score arrays, shared arrays, features
    back = AuditReport.load(tmp_path / "r")
    assert back.to_dict() == rep.to_dict()


def test_old_style_inline_results_still_load(tmp_path: Path) -> None:
    rep = _report()
    d = rep.to_dict()  # arrays inline
    d["schema_version"] = 1
    for k in ("not_run", "exposed_records"):
        d.pop(k)
    (tmp_path / "results.json").write_text(json.dumps(d))
    back = AuditReport.load(tmp_path / "results.json")
    np.testing.assert_array_equal(back.results[1].scores, rep.results[1].scores)
    assert back.not_run == ()


def _tamper(folder: Path, arrays: dict[str, np.ndarray], *, fix_checksum: bool) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    (folder / "scores.npz").write_bytes(data)
    if fix_checksum:
        d = json.loads((folder / "results.json").read_text())
        d["arrays"]["sha256"] = hashlib.sha256(data).hexdigest()
        (folder / "results.json").write_text(json.dumps(d))


def test_sidecar_is_checked_and_never_unpickled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = _report()
    folder = tmp_path / "r"
    rep.save(folder, formats=("json",))
    with np.load(folder / "scores.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["a0"] = arrays["a0"] + 1.0  # a changed score
    _tamper(folder, arrays, fix_checksum=False)
    with pytest.raises(ValueError, match="does not match the SHA-256 recorded in results.json"):
        AuditReport.load(folder)
    assert main(["gate", str(folder / "results.json"), "--max-auc", "1"]) == 2
    assert "does not match the SHA-256" in capsys.readouterr().err
    # a pickle-carrying array, even with a matching checksum, is refused, not loaded
    arrays["a0"] = np.array([{"evil": 1}], dtype=object)
    _tamper(folder, arrays, fix_checksum=True)
    with pytest.raises(ValueError, match="is not a plain .npz of arrays"):
        AuditReport.load(folder)
    (folder / "scores.npz").unlink()
    with pytest.raises(FileNotFoundError, match="scores.npz are missing"):
        AuditReport.load(folder)
    d = json.loads((folder / "results.json").read_text())
    d["arrays"]["file"] = "../../etc/passwd"
    (folder / "results.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="must be a file name beside results.json"):
        AuditReport.load(folder)
    d.pop("arrays")
    with pytest.raises(ValueError, match="refers to a scores.npz sidecar that was not given"):
        AuditReport.from_dict(d)


def test_report_and_gate_work_from_the_sidecar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = _report()
    rep.save(tmp_path / "r", formats=("json",))
    res = str(tmp_path / "r" / "results.json")
    assert main(["report", res, "--out", str(tmp_path / "re")]) == 0
    assert (tmp_path / "re" / "report.html").is_file()
    assert (tmp_path / "re" / "scores.npz").is_file()
    assert main(["gate", res, "--max-auc", "0.99"]) == 0
    assert "gate: passed" in capsys.readouterr().out


def test_assess_risk_passes_not_run_through() -> None:
    v = assess_risk([_noise()], not_run=[("rmia", "no population points")])
    assert v.to_dict()["not_run"] == [{"attack": "rmia", "reason": "no population points"}]
    assert "rmia did not run: no population points" in v.to_dict()["missing"]


def test_verdict_box_states_each_skip_reason_once_and_key_figures_name_the_deciding_attack(
) -> None:
    why_lira = "3 points have fewer than 1 OUT reference models"
    why_rmia = "RMIA needs population points"
    rep = AuditReport((_noise(),), not_run=(("lira", why_lira), ("rmia", why_rmia)))
    page = render_html(rep)
    box = page[page.index('id="verdict"') : page.index('id="key-figures"')]
    assert box.count(why_lira) == 1 and box.count(why_rmia) == 1  # the list, not twice
    assert "lira and rmia did not run; the verdict rests on loss only" in box
    figures = page[page.index('id="key-figures"') :]
    assert "Strongest attack" not in page  # the deciding attack need not have the top AUC
    assert "Attack that decided the verdict: loss" in figures


def test_the_deciding_attack_is_the_strongest_at_the_worst_level() -> None:
    # two attacks at "high" through the AUC route; the weaker one has the larger lift (still
    # below the lift threshold of high): the verdict must name the one with the larger AUC_lo
    # (before: the larger lift won the tie, and the headline understated the AUC)
    from privmeter.report.verdict import assess_attack, assess_risk
    from privmeter.result import AttackResult

    rng = np.random.default_rng(0)
    n = 400
    member = np.r_[np.ones(n), np.zeros(n)]
    # A: moderate separation plus a few members far above every non-member (lift)
    a = np.r_[rng.normal(0.75, 1, n), rng.normal(0, 1, n)]
    a[:12] = 50.0
    # B: a stronger shift, no outliers
    b = np.r_[rng.normal(1.0, 1, n), rng.normal(0, 1, n)]
    ra = AttackResult.from_scores("a", a, member)
    rb = AttackResult.from_scores("b", b, member)
    va, vb = assess_attack(ra), assess_attack(rb)
    assert va.level == vb.level == "high", (va, vb)
    assert "AUC" in va.reason and "AUC" in vb.reason
    assert vb.auc_lo > va.auc_lo and (va.lift or 0) > (vb.lift or 0)
    for order in ([ra, rb], [rb, ra]):
        assert assess_risk(order).attack == "b"


# --------------------------------------------------------------------------- multiple attacks
def _shifted(rng: np.random.Generator, n: int, shift: float, name: str) -> AttackResult:
    member = np.r_[np.ones(n), np.zeros(n)].astype(bool)
    return AttackResult.from_scores(name, rng.normal(size=2 * n) + shift * member, member)


def test_the_corrected_verdict_keeps_family_wise_coverage_near_a_threshold() -> None:
    # six independent attacks whose true AUC (0.549) is just below the 0.55 of "moderate":
    # each at its own 95% bounds, some attack's AUC_lo crosses 0.55 in ~12% of audits (the
    # multiple comparison); the Bonferroni-corrected rule stays below 5%
    from scipy import stats

    shift = math.sqrt(2.0) * float(stats.norm.ppf(0.549))
    rng = np.random.default_rng(2024)
    runs, wrong_old, wrong_new = 200, 0, 0
    for _ in range(runs):
        results = [_shifted(rng, 200, shift, f"a{i}") for i in range(6)]
        wrong_old += assess_risk(results, rule="uncorrected").level != "low"
        wrong_new += assess_risk(results).level != "low"
    # binomial(200, 0.05): 17 or fewer with probability 0.97
    assert wrong_new <= 17, wrong_new
    assert wrong_old > 0.05 * runs, wrong_old  # the test can see the problem it guards against


def test_null_tables_with_six_attacks_give_low_in_at_least_95_percent() -> None:
    from conftest import gaussian_table
    from privmeter.attacks import run_attack

    attacks = ("loss", "population", "reference", "lira", "rmia", "auto")
    runs, above = 120, 0
    for seed in range(runs):
        table = gaussian_table(n_models=5, n_points=200, d=0.0, n_population=100,
                               seed=10_000 + seed)
        results = [run_attack(a, table, target=0, **({"candidates": ["lira", "rmia", "loss"]}
                                                     if a == "auto" else {}))
                   for a in attacks]
        v = assess_risk(results)
        # loss and population are one test, and auto one with the attack it chose
        assert v.family_size in (4, 5)
        above += v.level != "low"
    assert above <= 11, above  # <= 5% within binomial tolerance (0.97 quantile of Bin(120, .05))


def test_family_confidences_count_distinct_tests_and_weight_auto() -> None:
    from privmeter.report.verdict import at_confidence, family_confidences

    rng = np.random.default_rng(0)
    a = _shifted(rng, 300, 0.5, "loss")
    pop = AttackResult.from_scores("population", 2 * a.scores + 1, a.membership)  # same ROC
    b, c = _shifted(rng, 300, 0.5, "lira"), _shifted(rng, 300, 0.5, "rmia")
    conf, k = family_confidences([a, pop, b, c])
    assert k == 3 and conf == pytest.approx([1 - 0.05 / 3] * 4)
    auto = _shifted(rng, 300, 0.5, "auto")
    conf, k = family_confidences([a, pop, b, c, auto])
    assert k == 4
    assert conf == pytest.approx([1 - 0.025 / 3] * 4 + [0.975])
    assert family_confidences([auto])[0] == [0.95]
    # the bounds at the corrected level are those of the same scores at that confidence
    wide = at_confidence(b, 0.99)
    ref = AttackResult.from_scores("lira", b.scores, b.membership, confidence=0.99)
    assert wide.auc_ci == ref.auc_ci and wide.tpr_at(0.01) == ref.tpr_at(0.01)
    assert wide.auc_ci[0] < b.auc_ci[0] and wide.epsilon_lb <= b.epsilon_lb
    assert at_confidence(b, b.confidence) is b


def test_the_verdict_names_its_rule_and_the_uncorrected_rule_is_the_former_one() -> None:
    rng = np.random.default_rng(1)
    results = [_shifted(rng, 1000, s, n) for s, n in ((0.2, "loss"), (1.0, "lira"),
                                                      (0.8, "rmia"), (1.1, "auto"))]
    v = assess_risk(results)
    assert v.rule == "bonferroni" and v.family_size == 4 and v.family_confidence == 0.95
    assert v.rule_text.startswith("Bonferroni-corrected worst of 4 attacks")
    assert "'auto' attack gets half of the error budget" in v.rule_text
    assert v.attack == "auto" and v.confidence == pytest.approx(0.975)
    assert "97.5% lower bound" in v.reason or "97.5% bounds" in v.reason
    d = v.to_dict()
    assert d["rule"] == "bonferroni" and d["rule_text"] == v.rule_text
    assert d["family_size"] == 4 and d["family_confidence"] == 0.95
    # uncorrected: exactly the former rule (worst of the single-attack verdicts)
    old = assess_risk(results, rule="uncorrected")
    worst = max((assess_attack(r, index=i) for i, r in enumerate(results)),
                key=lambda x: (x.rank, x.auc_lo))
    assert (old.level, old.attack, old.auc_lo) == (worst.level, worst.attack, worst.auc_lo)
    assert old.rule == "uncorrected" and old.rule_text.startswith("Uncorrected worst of 4")
    assert v.auc_lo < old.auc_lo or v.attack != old.attack  # wider bounds
    # the epsilon figure the verdict quotes stays the one in the results table
    assert v.epsilon_lb == results[v.index].epsilon_lb
    with pytest.raises(ValueError, match="unknown verdict rule 'holm'; known rules: "
                                         "bonferroni, uncorrected"):
        assess_risk(results, rule="holm")
