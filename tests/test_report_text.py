"""The report of a text audit: texts and token log-probabilities in RecordData (validated,
saved in results.json / scores.npz and loaded back, escaped in HTML, coloured by
log-probability, plain in the PDF, CSV-injection safe in records.csv), the blind baseline and
the canary exposure section (report.extras)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import pdf_text_cells
from privmeter.report import AuditReport, RecordData, tables
from privmeter.report.html import TOKEN_BIN_EDGES, render_html, token_class
from privmeter.result import AttackResult

XSS = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"
XSS_ESCAPED = ("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
               "&lt;img src=x onerror=alert(1)&gt;")
N = 120


def _texts(n: int) -> list[str]:
    out = [f"record {i}: customer {i} lives at {i} Main Street" for i in range(n)]
    out[0] = XSS  # the member with the highest score (see _results)
    out[1] = "=HYPERLINK(\"http://evil\") , \"quoted\"\nsecond line"
    out[2] = "naïve café 日本語 😀 " + "long " * 200  # non-Latin-1, long
    out[3] = "trailing NUL\x00"
    return out


def _tokens(texts: list[str]) -> list[Any]:
    rng = np.random.default_rng(1)
    toks: list[Any] = []
    for i, t in enumerate(texts):
        if i % 5 == 4:
            toks.append(None)
            continue
        pieces = re.findall(r"\s*\S+", t) or [t]
        lp = -rng.exponential(2.0, size=len(pieces))
        lp[0] = np.nan
        toks.append((pieces, lp))
    return toks


def _results(n: int = N, seed: int = 0) -> tuple[AttackResult, ...]:
    rng = np.random.default_rng(seed)
    member = np.zeros(n, dtype=bool)
    member[: n // 2] = True
    pid = np.arange(n) + 500
    strong = rng.normal(size=n) + 1.5 * member
    strong[:4] = 10.0 + np.arange(4)[::-1]  # records 0..3 are the most exposed members
    weak = rng.normal(size=n) + 0.3 * member
    return (
        AttackResult.from_scores("min_k", strong, member, point_ids=pid),
        AttackResult.from_scores("zlib", weak, member, point_ids=pid),
    )


def _blind(comparable: bool) -> dict[str, Any]:
    return {"auc": 0.62 if comparable else 0.93, "auc_ci": [0.55, 0.69] if comparable
            else [0.89, 0.97], "tpr_at_1pct": 0.04, "n_members": N // 2,
            "n_non_members": N // 2, "comparable": comparable,
            "reason": "the blind AUC 0.93 is within 0.05 of the best attack's 0.95"
            if not comparable else "the attack is clearly above the blind baseline",
            "method": "cross-fitted logistic regression on character n-grams and length",
            "cites": ["das2024", "duan2024"]}


def _canaries() -> dict[str, Any]:
    reps = [1, 1, 1, 4, 4, 4, 16, 16, 16]
    return {
        "template": "my account number is {d}{d}{d}{d}{d}{d}", "space_size": 10**6,
        "n_candidates": 5000, "method": "skew-normal extrapolation",
        "canaries": [{"text": f"my account number is {100000 + 7 * i} <b>", "repetitions": r,
                      "exposure": min(19.9, 1.0 + 1.1 * r + 0.1 * i),
                      "exposure_rank": None if r > 1 else 1.5, "max_exposure": 19.93}
                     for i, r in enumerate(reps)],
    }


def make_report(*, comparable: bool = False, tokens: bool = True) -> AuditReport:
    results = _results()
    texts = _texts(N)
    records = RecordData(results[0].point_ids, texts=texts,
                         tokens=_tokens(texts) if tokens else None)
    return AuditReport(results, records=records, title="Text audit",
                       card={"game": "model", "data": "synthetic records"},
                       extras={"blind_baseline": _blind(comparable), "canaries": _canaries()})


@pytest.fixture(scope="module")
def report() -> AuditReport:
    return make_report()


@pytest.fixture(scope="module")
def saved(report: AuditReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "out"
    report.save(out, formats=("json", "csv"))
    return out


@pytest.fixture(scope="module")
def canary_png(report: AuditReport) -> bytes:
    from privmeter.report import plots

    return plots.canary_png(report.extras["canaries"])


@pytest.fixture(scope="module")
def page(report: AuditReport, canary_png: bytes) -> str:
    # only the canary plot: the attack plots take seconds and are tested elsewhere
    from privmeter.report.plots import CANARY_NAME

    return render_html(report, figures={CANARY_NAME: canary_png})


# --------------------------------------------------------------------------- data
def _same_tokens(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return tuple(a[0]) == tuple(b[0]) and np.array_equal(a[1], b[1], equal_nan=True)


def test_texts_tokens_and_extras_round_trip_through_save_and_load(
    report: AuditReport, saved: Path
) -> None:
    back = AuditReport.load(saved)
    assert back.records is not None and report.records is not None
    assert back.records.texts is not None and back.records.texts == report.records.texts
    assert back.records.texts[3].endswith("\x00")  # a numpy text array would drop it
    assert back.records.tokens is not None and report.records.tokens is not None
    assert all(_same_tokens(a, b) for a, b in
               zip(back.records.tokens, report.records.tokens, strict=True))
    assert back.extras == report.extras
    assert back.to_dict() == report.to_dict()
    # scores.npz holds only numbers and bytes: it loads without pickles
    with np.load(saved / "scores.npz", allow_pickle=False) as z:
        assert all(z[k].dtype.kind in "biuf" for k in z.files)
    d = json.loads((saved / "results.json").read_text())
    assert set(d["records"]["arrays"]) >= {"point_ids", "texts_utf8", "texts_offsets",
                                           "tokens_present", "tokens_logprobs"}
    assert d["extras"]["blind_baseline"]["comparable"] is False
    top = d["exposed_records"]["records"]
    assert [r["text"] for r in top[:2]] == [XSS, _texts(N)[1]]  # the most exposed texts


def test_inline_dict_round_trip_is_strict_json(report: AuditReport) -> None:
    d = json.loads(report.to_json())  # NaN log-probs as "nan", no NaN literal
    back = AuditReport.from_dict(d)
    assert back.records is not None and back.records.tokens is not None
    assert back.records.texts == report.records.texts  # type: ignore[union-attr]
    assert math.isnan(back.records.tokens[0][1][0])  # type: ignore[index]
    assert back.to_dict() == report.to_dict()


def test_old_results_without_texts_or_extras_load(report: AuditReport) -> None:
    d = report.to_dict()
    del d["extras"]
    del d["records"]["texts"], d["records"]["tokens"]
    back = AuditReport.from_dict(d)
    assert back.extras == {} and back.records is not None and back.records.texts is None
    assert "Canary exposure" not in back.summary()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"texts": ["a"]}, "got 1 texts for 2 records"),
        ({"texts": ["a", 3]}, r"texts\[1\] must be a str"),
        ({"texts": "ab"}, "got one str"),
        ({"texts": ["a", "\ud800"]}, r"texts\[1\] is not valid Unicode"),
        ({"tokens": [(["a", "b"], [-1.0]), None]}, r"tokens\[0\] has 2 pieces but 1"),
        ({"tokens": [(["a"], [0.5]), None]}, r"piece 0 \('a'\) is 0.5.*<= 0"),
        ({"tokens": [(["a"], [-np.inf]), None]}, "must be finite"),
        ({"tokens": [(["a"], ["x"]), None]}, "logprobs must be numbers"),
        ({"tokens": ["ab", None]}, r"tokens\[0\]"),
        ({"tokens": [None]}, "got 1 token lists for 2 records"),
    ],
)
def test_bad_texts_and_tokens_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecordData([1, 2], **kwargs)


def test_token_log_probs_get_a_tolerance_and_nan() -> None:
    rec = RecordData([1], tokens=[(["a", "b"], [np.nan, 1e-7])])  # float32 rounding
    assert rec.tokens is not None and rec.tokens[0] is not None
    assert not rec.tokens[0][1].flags.writeable


def test_damaged_text_arrays_give_a_clear_error(saved: Path, tmp_path: Path) -> None:
    from privmeter.report.io import _ArrayStore, report_from_dict

    d = json.loads((saved / "results.json").read_text())
    store = _ArrayStore.read(saved, d["arrays"])
    refs = d["records"]["arrays"]
    arrays = dict(store._arrays)
    arrays[refs["texts_offsets"]] = arrays[refs["texts_offsets"]][::-1].copy()
    with pytest.raises(ValueError, match="texts offsets must rise"):
        report_from_dict(AuditReport, d, arrays=_ArrayStore(arrays))


# --------------------------------------------------------------------------- csv
def test_records_csv_has_the_text_column_safe_from_formula_injection(
    report: AuditReport, saved: Path
) -> None:
    with open(saved / "records.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["target", "point_id", "label", "membership", "score_min_k",
                             "score_zlib", "text"]
    by_id = {int(r["point_id"]): r["text"] for r in rows}
    texts = _texts(N)
    assert by_id[501] == "'" + texts[1]  # leading = neutralised, quotes and newline kept
    assert by_id[500] == texts[0] and by_id[510] == texts[10]
    assert tables.csv_text_cell("-1+1") == "'-1+1" and tables.csv_text_cell("@x") == "'@x"
    # a report without texts keeps the old columns
    plain = tables.records_csv(report.results)
    assert next(csv.reader(io.StringIO(plain)))[-1] == "score_zlib"


# --------------------------------------------------------------------------- html
def test_texts_are_escaped_never_markup(page: str) -> None:
    assert "<script>alert" not in page and "<img src=x" not in page
    body = page.split("<body>", 1)[1]
    assert body.count("<script>") == 1  # only the report's own (hashed) script
    assert "&lt;script&gt;" in page and "&amp;" in page


def test_plain_text_column_is_escaped_and_truncated() -> None:
    html = render_html(make_report(tokens=False), figures={})
    table = html.split('id="exposed-table"', 1)[1].split("</table>", 1)[0]
    assert "<th>Text</th>" in table
    assert f'<td class="text-cell">{XSS_ESCAPED}</td>' in table
    long_cell = re.search(r'<td class="text-cell">naïve café 日本語 😀 (.*?)</td>', table, re.S)
    assert long_cell is not None and long_cell.group(1).endswith("…")
    assert len(long_cell.group(0)) < 500
    assert 'class="tok ' not in table


def test_tokens_are_coloured_by_log_probability(report: AuditReport, page: str) -> None:
    table = page.split('id="exposed-table"', 1)[1].split("</table>", 1)[0]
    spans = re.findall(r'<span class="tok (tok[0-9]|tok-na)" title="([^"]*)">(.*?)</span>',
                       table, re.S)
    assert spans, table[:2000]
    assert report.records is not None and report.records.tokens is not None
    pieces, lps = report.records.tokens[0]  # type: ignore[misc]
    first = spans[: len(pieces)]
    assert [s[0] for s in first] == [token_class(v) for v in lps]
    assert first[0][0] == "tok-na" and first[0][1] == "not scored"
    assert first[1][1] == f"log p = {lps[1]:.3f} (p = {math.exp(lps[1]):.3g})"
    assert "".join(s[2] for s in first) == XSS_ESCAPED  # escaped, and nothing lost
    assert '<span class="cut">…</span>' in table  # the long record is cut
    assert 'id="token-legend"' in page and "not scored" in page
    assert "style=" not in table  # classes only: no inline style from the data
    # every colour bin has a CSS rule
    for k in range(len(TOKEN_BIN_EDGES) + 1):
        assert f".tok{k} {{ background:" in page


def test_token_bins_are_ordered() -> None:
    lps = [-20.0, -7.0, -5.0, -3.5, -2.5, -1.5, -0.5, -0.1, 0.0]
    assert [token_class(v) for v in lps] == [f"tok{k}" for k in range(8)] + ["tok7"]
    assert token_class(float("nan")) == "tok-na"


def test_blind_baseline_row_and_warning_when_not_comparable(page: str) -> None:
    summary = page.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    row = re.search(r'<tr class="baseline" id="blind-baseline-row">(.*?)</tr>', summary, re.S)
    assert row is not None
    assert "blind baseline (model-free)" in row.group(1) and "0.930 [0.890, 0.970]" in row.group(1)
    assert "not in verdict" in row.group(1) and "4.00%" in row.group(1)
    verdict = page.split('id="verdict"', 1)[1].split("</section>", 1)[0]
    assert 'id="not-comparable"' in verdict
    warning = verdict.split('id="not-comparable"', 1)[1].split("</p>", 1)[0]
    assert "not comparable" in warning and "0.930 [0.890, 0.970]" in warning
    assert "within 0.05 of the best attack" in warning  # the reason
    assert "not evidence of membership leakage" in warning
    assert "[das" not in page and "Das" in page  # cited in the references


def test_no_warning_when_the_sets_are_comparable() -> None:
    rep = make_report(comparable=True)
    html = render_html(rep, figures={})
    assert 'id="blind-baseline-row"' in html and 'id="not-comparable"' not in html
    assert "not comparable" not in rep.summary()
    assert tables.blind_warning(rep.extras["blind_baseline"], rep.best, "min_k") == ""


def test_canary_section_table_and_plot(
    report: AuditReport, canary_png: bytes, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privmeter.report import plots

    assert canary_png.startswith(b"\x89PNG") and plots.is_report_figure(plots.CANARY_NAME)
    # report_figures (the PNGs that save writes and embeds) includes the canary plot
    for name in ("overview_png", "roc_png", "histogram_png"):
        monkeypatch.setattr(plots, name, lambda *a, **k: b"")
    assert plots.report_figures(report)[plots.CANARY_NAME].startswith(b"\x89PNG")
    sec = page.split('<section id="canaries">', 1)[1].split("</section>", 1)[0]
    assert "<h2>Canary exposure</h2>" in sec and 'href="#canaries"' in page
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}" alt="Canary', sec)
    rows = re.findall(r"<tr><td class=\"text-cell\">(.*?)</td>", sec)
    assert len(rows) == 9 and all(r.endswith("&lt;b&gt;") for r in rows)
    assert "1×: " in sec and "16×: " in sec and "19.93" in sec
    assert "skew-normal extrapolation" in sec


def test_canary_plot_draws_points_means_and_the_maximum() -> None:
    from matplotlib.figure import Figure

    from privmeter.report.plots import canary_axes

    ax = Figure().subplots()
    c = _canaries()
    drawn = canary_axes(ax, c)
    assert drawn["points"].get_offsets().shape == (9, 2)
    means = tables.canary_means(c)
    np.testing.assert_allclose(drawn["means"].get_ydata(), [m for _, m, _ in means])
    assert list(drawn["means"].get_xdata()) == [1, 4, 16]
    assert drawn["max_line"].get_ydata()[0] == pytest.approx(19.93)
    assert drawn["max_line"].get_linestyle() == "--"


def test_summary_text_lines(report: AuditReport) -> None:
    text = report.summary()
    assert "WARNING: The member and non-member texts are not comparable" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("blind baseline (model-free)"))
    assert "0.930 [0.890, 0.970]" in row and row.rstrip().endswith("not in verdict")
    assert "Canary exposure (9 canaries of 'my account number is {d}{d}{d}{d}{d}{d}'" in text
    assert "mean exposure by repetitions 1×: " in text


def test_pdf_shows_plain_texts_with_missing_glyphs_replaced(
    report: AuditReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fpdf")
    seen = pdf_text_cells(report, monkeypatch)
    cells = "\n".join(seen)
    assert XSS in cells  # plain text in the PDF (no markup there)
    assert "naïve café \ufffd\ufffd\ufffd 😀 long" in cells  # CJK replaced (DejaVu has 😀)
    assert any(c.endswith("…") and c.startswith("naïve") for c in seen)
    assert "Canary exposure" in cells and "WARNING: The member and non-member texts" in cells
    assert "blind baseline (model-free)" in cells
