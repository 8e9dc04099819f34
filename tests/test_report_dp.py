"""Differential privacy in the report: the "dp" box on the first screen (both verdicts, in
HTML, PDF and summary text), the DP-SGD claim ("dp_claim") as a bound on every ROC plot and a
claimed-vs-measured line in the verdict, and the validation and round trip of these extras."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privmeter.report import AuditReport, tables
from privmeter.report.html import render_html
from privmeter.result import AttackResult

CLAIM = {"epsilon": 2.0, "delta": 1e-5}


def _results(shift: float = 1.0, n: int = 400) -> tuple[AttackResult, ...]:
    rng = np.random.default_rng(3)
    member = np.zeros(n, dtype=bool)
    member[: n // 2] = True
    return (
        AttackResult.from_scores("lira", rng.normal(size=n) + shift * member, member),
        AttackResult.from_scores("loss", rng.normal(size=n) + 0.2 * member, member),
    )


def _dp(verdict: str) -> dict[str, Any]:
    violated = verdict == "violated"
    return {
        "claimed_epsilon": 1.0, "epsilon_rdp": 1.0, "epsilon_prv": 0.93, "accountant": "prv",
        "delta": 1e-5,
        "lower_bounds": [
            {"method": "one run (Steinke et al. 2023)", "epsilon_lb": 3.2 if violated else 0.31,
             "confidence": 0.95},
            {"method": "Gaussian DP over 50 runs", "epsilon_lb": 4.1 if violated else 0.55,
             "confidence": 0.95},
        ],
        "verdict": verdict,
        "summary": "The measured privacy loss exceeds the claimed ε: the DP claim does not hold."
        if violated else "The measured privacy loss stays below the claimed ε.",
        "n_canaries": 1000, "runs": 50,
    }


def _report(verdict: str | None = "consistent", claim: dict[str, Any] | None = None,
            shift: float = 1.0) -> AuditReport:
    extras: dict[str, Any] = {}
    if verdict is not None:
        extras["dp"] = _dp(verdict)
    if claim is not None:
        extras["dp_claim"] = claim
    return AuditReport(_results(shift), extras=extras, title="DP audit")


def _tiny_figures() -> dict[str, bytes]:
    """A 4x4 PNG as the ROC overview (the real plots take seconds and are tested elsewhere)."""
    from privmeter.report.plots import OVERVIEW_NAME, thumbnail_png

    return {OVERVIEW_NAME: thumbnail_png(np.zeros((4, 4), dtype=np.uint8))}


# --------------------------------------------------------------------------- the bound
def test_bound_at_epsilon_zero_is_chance() -> None:
    fpr = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(tables.dp_tpr_bound(fpr, 0.0, 0.0), fpr, atol=1e-15)


def test_bound_matches_the_formula_and_is_a_valid_tradeoff() -> None:
    fpr = np.r_[0.0, np.geomspace(1e-6, 1.0, 300)]
    for eps, delta in [(0.5, 0.0), (1.0, 1e-5), (4.0, 1e-3), (8.0, 0.0), (800.0, 0.0)]:
        b = tables.dp_tpr_bound(fpr, eps, delta)
        e = math.exp(min(eps, 700.0))
        expect = np.clip(np.minimum.reduce([np.ones_like(fpr), e * fpr + delta,
                                            1 - (1 - delta - fpr) / e]), 0, 1)
        np.testing.assert_allclose(b, expect, rtol=1e-12, atol=1e-15)
        assert (np.diff(b) >= -1e-15).all() and (b >= fpr - 1e-12).all() and b[-1] == 1.0
    # the members side binds at low FPR, the non-members side near FPR 1
    assert tables.dp_tpr_bound([0.001], 1.0, 0.0)[0] == pytest.approx(math.e * 0.001)
    assert tables.dp_tpr_bound([0.9], 1.0, 0.0)[0] == pytest.approx(1 - 0.1 / math.e)


def test_the_bound_is_drawn_as_a_dashed_curve() -> None:
    from matplotlib.figure import Figure

    from privmeter.report.plots import draw_dp_bound

    ax = Figure().subplots()
    fpr = np.linspace(0, 1, 51)
    line = draw_dp_bound(ax, CLAIM, fpr)
    assert line is not None and line.get_linestyle() == "--"
    assert line.get_label() == "DP bound (ε = 2, δ = 1e-05)"
    np.testing.assert_allclose(line.get_ydata(), tables.dp_tpr_bound(fpr, 2.0, 1e-5))
    assert draw_dp_bound(ax, None, fpr) is None


def test_every_roc_plot_gets_the_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    from privmeter.report import plots

    calls: list[tuple[str, Any]] = []

    def stub(name: str) -> Any:
        def draw(*args: Any, **kwargs: Any) -> bytes:
            calls.append((name, kwargs.get("dp_claim")))
            return b""
        return draw

    monkeypatch.setattr(plots, "overview_png", stub("overview"))
    monkeypatch.setattr(plots, "roc_png", stub("roc"))
    monkeypatch.setattr(plots, "histogram_png", lambda *a, **k: b"")
    rep = _report(None, CLAIM)
    plots.report_figures(rep)
    assert [c[0] for c in calls] == ["overview", "roc", "roc"]
    assert all(c[1] == rep.extras["dp_claim"] for c in calls)
    calls.clear()
    plots.report_figures(_report(None))
    assert all(c[1] is None for c in calls)


def test_roc_png_with_the_bound_renders() -> None:
    from privmeter.report.plots import roc_png

    png = roc_png(_results()[0], dp_claim=CLAIM)
    assert png.startswith(b"\x89PNG") and png != roc_png(_results()[0])


# --------------------------------------------------------------------------- the dp box
@pytest.mark.parametrize("verdict", ["consistent", "violated"])
def test_dp_box_is_first_with_its_verdict(verdict: str) -> None:
    rep = _report(verdict)
    html = render_html(rep, figures={})
    body = html.split("<body>", 1)[1]
    # the box comes before the risk verdict and the key figures
    assert body.index('id="dp"') < body.index('id="verdict"') < body.index('id="key-figures"')
    box = body.split('id="dp"', 1)[1].split("</section>", 1)[0]
    assert f'class="dp-box dp-{verdict}"' in body
    word = "DP CLAIM VIOLATED" if verdict == "violated" else "DP CLAIM CONSISTENT"
    assert f'<div class="dp-verdict">{word}</div>' in box
    other = "DP CLAIM CONSISTENT" if verdict == "violated" else "DP CLAIM VIOLATED"
    assert other not in html
    assert _dp(verdict)["summary"] in box
    assert "claimed ε = 1 at δ = 1e-05 (accountant: prv; RDP ε = 1, PRV ε = 0.93)" in box
    lb = "3.2" if verdict == "violated" else "0.31"
    assert f"ε ≥ {lb} (one run (Steinke et al. 2023), 95% confidence)" in box
    assert "1,000 canaries, 50 training runs" in box
    assert 'href="#dp"' in html
    # green and red
    assert ".dp-consistent { background: #e6f4ea" in html and ".dp-violated { background:" in html
    text = rep.summary()
    assert text.splitlines()[1] == f"Differential privacy: {word}. {_dp(verdict)['summary']}"
    assert "measured: ε ≥" in text.splitlines()[2]


def test_no_dp_box_without_a_dp_audit() -> None:
    html = render_html(_report(None), figures={})
    assert 'id="dp"' not in html and "DP CLAIM" not in html
    assert not _report(None).summary().splitlines()[1].startswith("Differential privacy")


# --------------------------------------------------------------------------- the claim line
def test_claim_line_compares_with_the_bound_at_the_claimed_delta() -> None:
    rep = _report(None, CLAIM)
    best = rep.best
    assert best.delta == 0.0  # the attacks' own bound is at delta 0 ...
    again = AttackResult.from_scores(best.attack, best.scores, best.membership, delta=1e-5)
    line = tables.dp_claim_line(rep)
    # ... the line recomputes it at the claim's delta
    assert f"at that δ is {again.epsilon_lb:.3g} (95% confidence)" in line
    assert "claiming ε = 2 at δ = 1e-05" in line and "consistent with it" in line
    html = render_html(rep, figures=_tiny_figures())
    verdict = html.split('id="verdict"', 1)[1].split("</section>", 1)[0]
    assert 'id="verdict-dp-claim"' in verdict and "claiming ε = 2" in verdict
    # the plot captions name the curve
    assert "Dashed purple: DP bound (ε = 2, δ = 1e-05), the highest TPR" in html
    assert f"{line}." in rep.summary()


def test_claim_line_flags_an_attack_above_the_claim() -> None:
    rep = _report(None, {"epsilon": 0.1, "delta": 1e-5}, shift=3.0)
    assert rep.best.epsilon_lb > 0.1
    line = tables.dp_claim_line(rep)
    assert "above the claim" in line and "contradicts the DP guarantee" in line
    assert tables.dp_claim_line(_report(None)) == ""


def test_pdf_has_the_dp_box_and_the_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fpdf")
    from privmeter.report import pdf

    seen: list[str] = []
    real = pdf._clean

    def spy(text: object) -> str:
        seen.append(real(text))
        return seen[-1]

    monkeypatch.setattr(pdf, "_clean", spy)
    data = pdf.render_pdf(_report("violated", CLAIM), figures=_tiny_figures())
    assert data.startswith(b"%PDF-")
    text = "\n".join(seen)
    assert _dp("violated")["summary"] in text
    assert "• The training claims: claimed ε = 1 at δ = 1e-05" in text
    assert "DP claim: the model was trained with DP-SGD claiming ε = 2" in text
    assert "Dashed purple: DP bound (ε = 2, δ = 1e-05)" in text


# --------------------------------------------------------------------------- data
def test_dp_extras_round_trip(tmp_path: Path) -> None:
    rep = _report("violated", CLAIM)
    rep.save(tmp_path / "r", formats=("json",))
    d = json.loads((tmp_path / "r" / "results.json").read_text())
    assert d["extras"]["dp"]["verdict"] == "violated"
    assert d["extras"]["dp_claim"] == {"epsilon": 2.0, "delta": 1e-05, "cites": None}
    back = AuditReport.load(tmp_path / "r")
    assert back.extras == rep.extras and back.summary() == rep.summary()
    assert AuditReport.from_dict(rep.to_dict()).to_dict() == rep.to_dict()


def test_unknown_extras_are_kept_and_none_entries_dropped() -> None:
    rep = AuditReport(_results(), extras={"notes": {"x": np.float64(1.5)}, "dp": None})
    assert rep.extras == {"notes": {"x": 1.5}}


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ({"dp_claim": {"epsilon": 1.0}}, "dp_claim needs a 'delta' field"),
        ({"dp_claim": {"epsilon": float("inf"), "delta": 0.0}}, "dp_claim.epsilon must be"),
        ({"dp_claim": {"epsilon": 1.0, "delta": 2.0}}, r"dp_claim.delta .* in \[0, 1\]"),
        ({"dp": {**_dp("consistent"), "verdict": "ok"}}, "dp.verdict must be one of"),
        ({"dp": {**_dp("consistent"), "lower_bounds": [{"method": "x", "epsilon_lb": 1.0}]}},
         r"dp.lower_bounds\[0\] needs a 'confidence'"),
        ({"dp": {**_dp("consistent"), "claimed_epsilon": "1"}}, "claimed_epsilon must be a num"),
        ({"blind_baseline": {"auc": 0.7}}, "blind_baseline needs a 'comparable'"),
        ({"blind_baseline": {"auc": 1.7, "comparable": True}}, r"auc must be .* in \[0, 1\]"),
        ({"blind_baseline": {"auc": 0.7, "comparable": "no"}}, "comparable must be true or"),
        ({"blind_baseline": {"auc": 0.7, "comparable": True, "auc_ci": [0.8, 0.6]}}, "lo <= hi"),
        ({"canaries": {"template": "{d}", "space_size": 10, "canaries": [{"text": "1"}]}},
         r"canaries.canaries\[0\] needs a 'repetitions'"),
        ({"canaries": {"template": "{d}", "space_size": 0, "canaries": []}},
         "space_size must be an integer >= 1"),
        ({"dp": "yes"}, "extras dp must be a JSON object"),
    ],
)
def test_bad_extras_are_refused(extras: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuditReport(_results(), extras=extras)


def test_damaged_extras_in_a_file_give_a_clear_error() -> None:
    d = _report("consistent").to_dict()
    d["extras"] = ["not", "an", "object"]
    with pytest.raises(ValueError, match="'extras' must be a JSON object"):
        AuditReport.from_dict(d)
    d["extras"] = {"dp": {"verdict": "consistent"}}
    with pytest.raises(ValueError, match="dp needs a 'delta' field"):
        AuditReport.from_dict(d)


def test_repr_html_carries_the_warnings() -> None:
    rep = _report(None, CLAIM)
    assert re.search(r"<p>DP claim: the model was trained with DP-SGD", rep._repr_html_())
