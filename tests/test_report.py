"""The audit report: files written by save, JSON round trip, CSV, HTML content and escaping, PDF."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from privmeter.report import (
    REPORT_SCHEMA_VERSION,
    AuditReport,
    RecordData,
    assess_attack,
    assess_risk,
    tables,
)
from privmeter.report.html import render_html
from privmeter.result import AttackResult

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
CLASS_NAMES = ("airplane", "car $5", "<b>bird</b>", "deer")


def make_results(
    n: int = 600, *, seed: int = 0, target: int = 0, ids: np.ndarray | None = None
) -> tuple[AttackResult, ...]:
    """Three attacks of different strength on the same audit points; class 3 has no members."""
    rng = np.random.default_rng(seed)
    member = np.zeros(n, dtype=bool)
    member[rng.permutation(n)[: n // 2]] = True
    labels = rng.integers(0, 3, n)
    labels[~member & (rng.random(n) < 0.2)] = 3  # class 3: non-members only
    pid = rng.permutation(10 * n)[:n] if ids is None else ids
    strong = rng.normal(size=n) + 1.2 * member
    weak = rng.normal(size=n) + 0.3 * member
    noise = rng.normal(size=n)
    common: dict[str, Any] = {"point_ids": pid, "labels": labels, "target": target}
    return (
        AttackResult.from_scores("lira", strong, member, params={"online": True}, seed=3,
                                 **common),
        AttackResult.from_scores("loss", weak, member, **common),
        AttackResult.from_scores("random", noise, member, **common),
    )


def make_report(n: int = 600, *, images: bool = False, seed: int = 0) -> AuditReport:
    results = make_results(n, seed=seed)
    pid = results[0].point_ids
    rng = np.random.default_rng(seed + 1)
    if images:
        records = RecordData(
            pid,
            images=rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8),
            class_names=CLASS_NAMES,
        )
    else:
        feats = np.c_[rng.normal(size=(n, 2)), rng.integers(0, 5, size=(n, 1))]
        records = RecordData(
            pid, features=feats, feature_names=["age", XSS, "zip"], class_names=CLASS_NAMES
        )
    card = {
        "game": "privacy loss of a model",
        "access": "black-box probabilities",
        "reference models": 4,
        "dataset": f"toy {XSS}",
        XSS: "key from the data",
        "seeds": {"data": 0, "training": [1, 2]},
        "timings": {"signals_s": 1.25},
    }
    return AuditReport(results, card=card, records=records, title="Toy audit <b>v1</b>")


@pytest.fixture(scope="module")
def report() -> AuditReport:
    return make_report()


@pytest.fixture(scope="module")
def saved(report: AuditReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    report.save(out)
    return out


@pytest.fixture(scope="module")
def page(saved: Path) -> str:
    return (saved / "report.html").read_text(encoding="utf-8")


# The key figures of make_report() as the report must print them: literal strings, not the
# report's own formatters; test_expected_figures_match_an_independent_computation checks
# them against the ROC counted here by hand (AUC, TPR) and scipy (Clopper-Pearson).
EXPECTED = {  # attack: (AUC [95% DeLong CI], TPR at 1% FPR [95% CI], eps LB column)
    "lira": ("0.825 [0.792, 0.858]", "19.0% [14.7%, 23.9%]", "0.970 (non-members)"),
    "loss": ("0.607 [0.562, 0.652]", "6.67% [4.12%, 10.1%]", "0.000"),
    "random": ("0.513 [0.466, 0.559]", "0.667% [0.0808%, 2.39%]", "0.000"),
}
#: Per-class AUC [95% CI] of the best attack (lira) in make_report(), classes 0, 1, 2.
EXPECTED_PER_CLASS = ("0.827 [0.766, 0.889]", "0.789 [0.722, 0.857]", "0.842 [0.782, 0.901]")


def _hand_auc(scores: np.ndarray, member: np.ndarray) -> float:
    """P(member score > non-member score), counted over all pairs (no ties here)."""
    return float((scores[member][:, None] > scores[~member][None, :]).mean())


def test_expected_figures_match_an_independent_computation(report: AuditReport) -> None:
    for r in report.results:
        auc_text, tpr_text, _ = EXPECTED[r.attack]
        assert f"{_hand_auc(r.scores, r.membership):.3f}" == auc_text.split()[0]
        # TPR at 1% FPR: members above the 4th highest non-member score (3 of 300 allowed)
        non = np.sort(r.scores[~r.membership])[::-1]
        k = int((r.scores[r.membership] > non[int(0.01 * non.size)]).sum())
        n = int(r.membership.sum())
        lo = stats.beta.ppf(0.025, k, n - k + 1)
        hi = stats.beta.ppf(0.975, k + 1, n - k)
        printed = [float(x) for x in re.findall(r"[0-9.]+(?=%)", tpr_text)]
        assert printed == pytest.approx([100 * k / n, 100 * lo, 100 * hi], rel=5e-3)
    best = report.best
    assert best.labels is not None
    for c, text in enumerate(EXPECTED_PER_CLASS):
        m = best.labels == c
        assert f"{_hand_auc(best.scores[m], best.membership[m]):.3f}" == text.split()[0]


def _rows_at_level(html: str, level: float) -> list[str]:
    return re.findall(rf'<tr data-level="{level}">(.*?)</tr>', html, flags=re.S)


# --------------------------------------------------------------------------- files
def test_save_writes_every_file(report: AuditReport, saved: Path) -> None:
    names = {p.name for p in saved.iterdir()}
    expected = {"report.html", "results.json", "scores.npz", "records.csv", "report.pdf",
                "roc_overview.png",
                "per_class_auc.png"}
    for i, r in enumerate(report.results):
        expected |= {f"attack{i + 1}_{r.attack}_roc.png", f"attack{i + 1}_{r.attack}_hist.png"}
    assert names == expected
    for p in saved.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p.name
        assert p.stat().st_size > 2000, p.name


def test_save_returns_written_paths_and_formats_subset(tmp_path: Path) -> None:
    rep = make_report(200)
    written = rep.save(tmp_path / "a", formats=("json", "csv"))
    assert sorted(p.name for p in written) == ["records.csv", "results.json", "scores.npz"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "records.csv", "results.json", "scores.npz"]
    with pytest.raises(ValueError, match=r"unknown report formats \['docx'\]"):
        rep.save(tmp_path / "b", formats=("html", "docx"))


def test_save_refuses_non_empty_folder(tmp_path: Path) -> None:
    rep = make_report(200)
    out = tmp_path / "existing"
    out.mkdir()
    rep.save(out, formats=("json",))  # an empty folder is fine
    (out / "notes.txt").write_text("keep me")
    (out / "attack9_old_roc.png").write_bytes(b"stale plot")
    with pytest.raises(FileExistsError, match=re.escape(str(out)) + ".*overwrite=True"):
        rep.save(out, formats=("json",))
    rep.save(out, overwrite=True, formats=("json", "csv"))
    names = sorted(p.name for p in out.iterdir())
    # stale plot gone, notes kept
    assert names == ["notes.txt", "records.csv", "results.json", "scores.npz"]
    with pytest.raises(NotADirectoryError, match="notes.txt"):
        rep.save(out / "notes.txt")


# --------------------------------------------------------------------------- json
def test_json_round_trip(report: AuditReport, saved: Path) -> None:
    d = json.loads((saved / "results.json").read_text(encoding="utf-8"))
    assert d["schema_version"] == REPORT_SCHEMA_VERSION == 2
    assert "scores" not in d["results"][0] and "point_ids" not in d["records"]
    inline = json.loads(json.dumps(report.to_dict(include_images=False)))
    assert {k: v for k, v in d.items() if k not in ("results", "records", "arrays")} == {
        k: v for k, v in inline.items() if k not in ("results", "records")}
    back = AuditReport.load(saved)
    assert back.to_dict() == report.to_dict()
    assert back.card == report.card and back.title == report.title
    for a, b in zip(back.results, report.results, strict=True):
        assert a.auc == b.auc and a.auc_ci == b.auc_ci
        assert a.tpr_at_fpr == b.tpr_at_fpr
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.point_ids, b.point_ids)
    assert back.records is not None and report.records is not None
    np.testing.assert_array_equal(back.records.features, report.records.features)
    assert back.records.feature_names == report.records.feature_names


def test_json_round_trip_with_images(tmp_path: Path) -> None:
    rep = make_report(200, images=True)
    rep.save(tmp_path / "r", formats=("json",))
    assert (tmp_path / "r" / "images.npy").exists()
    back = AuditReport.load(tmp_path / "r" / "results.json")
    assert back.records is not None and rep.records is not None
    assert back.records.images is not None and rep.records.images is not None
    assert back.records.images.dtype == np.uint8
    np.testing.assert_array_equal(back.records.images, rep.records.images)
    # the in-memory dict keeps the images and survives JSON as well
    d = json.loads(rep.to_json())
    again = AuditReport.from_dict(d)
    assert again.records is not None and again.records.images is not None
    np.testing.assert_array_equal(again.records.images, rep.records.images)


def test_from_dict_rejects_other_schema_versions(report: AuditReport) -> None:
    d = report.to_dict()
    d["schema_version"] = 3
    with pytest.raises(ValueError, match="unsupported report schema_version 3"):
        AuditReport.from_dict(d)


def test_non_finite_and_text_features_round_trip() -> None:
    res = make_results(40)[:1]
    pid = res[0].point_ids
    feats = np.array([["a", "1.5"]] * 40, dtype=object)
    rep = AuditReport(res, records=RecordData(pid, features=feats, feature_names=["cat", "x"]))
    back = AuditReport.from_dict(json.loads(rep.to_json()))
    assert back.records is not None and back.records.features is not None
    assert back.records.features[0].tolist() == ["a", "1.5"]
    num = np.ones((40, 1))
    num[0, 0] = np.nan
    rep2 = AuditReport(res, records=RecordData(pid, features=num), card={"x": float("inf")})
    d = json.loads(rep2.to_json())  # strict JSON: no NaN literal
    assert d["card"]["x"] == "inf"
    back2 = AuditReport.from_dict(d)
    assert back2.records is not None and back2.records.features is not None
    assert np.isnan(back2.records.features[0, 0]) and back2.records.features[1, 0] == 1.0


# --------------------------------------------------------------------------- csv
def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_rows_and_columns(report: AuditReport, saved: Path) -> None:
    rows = _read_csv(saved / "records.csv")
    with open(saved / "records.csv", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    assert header == ["target", "point_id", "label", "membership",
                      "score_lira", "score_loss", "score_random"]
    assert len(rows) == report.results[0].scores.size
    by_id = {int(r["point_id"]): r for r in rows}
    for res in report.results:
        assert res.labels is not None
        for pid, s, m, lab in zip(res.point_ids, res.scores, res.membership, res.labels,
                                  strict=True):
            row = by_id[int(pid)]
            assert float(row[f"score_{res.attack}"]) == s  # full precision
            assert row["membership"] == str(int(m))
            assert row["label"] == str(lab)
            assert row["target"] == "0"


def test_csv_matches_points_across_attacks_and_targets() -> None:
    ids = np.arange(100, 400)
    t0 = make_results(300, seed=1, target=0, ids=ids)
    # target 1: other memberships, and "loss" sees only half of the points
    t1 = make_results(300, seed=2, target=1, ids=ids)
    assert t1[1].labels is not None
    half = AttackResult.from_scores(
        "loss", t1[1].scores[:150], t1[1].membership[:150], point_ids=ids[:150],
        labels=t1[1].labels[:150], target=1,
    )
    rep = AuditReport((*t0, t1[0], half))
    rows = list(csv.DictReader(io.StringIO(tables.records_csv(rep.results))))
    assert len(rows) == 600  # one row per (target, point)
    assert len({(r["target"], r["point_id"]) for r in rows}) == 600
    t1_rows = [r for r in rows if r["target"] == "1"]
    assert sum(r["score_loss"] == "" for r in t1_rows) == 150
    assert all(r["score_random"] == "" for r in t1_rows)
    row = next(r for r in t1_rows if r["point_id"] == str(ids[0]))
    assert float(row["score_lira"]) == t1[0].scores[0]
    assert row["membership"] == str(int(t1[0].membership[0]))


def test_inconsistent_results_are_refused() -> None:
    a = AttackResult.from_scores("a", [0.9, 0.1, 0.5], [1, 0, 1], point_ids=[5, 6, 7])
    b = AttackResult.from_scores("b", [0.9, 0.1, 0.5], [1, 0, 0], point_ids=[5, 6, 7])
    with pytest.raises(ValueError, match="disagree on the membership of point 7 in target 0"):
        AuditReport((a, b))
    c = AttackResult.from_scores("c", [0.9, 0.1], [1, 0], point_ids=[5, 6], labels=[0, 1])
    d = AttackResult.from_scores("d", [0.9, 0.1], [1, 0], point_ids=[5, 6], labels=[0, 2])
    with pytest.raises(ValueError, match="disagree on the label of point 6"):
        AuditReport((c, d))
    with pytest.raises(ValueError, match="at least one AttackResult"):
        AuditReport(())


def test_record_data_validation() -> None:
    with pytest.raises(ValueError, match="must be unique; 3 appears 2 times"):
        RecordData([1, 3, 3])
    with pytest.raises(ValueError, match=r"features must have shape \(2, d\)"):
        RecordData([1, 2], features=np.ones((3, 2)))
    with pytest.raises(ValueError, match="got 1 feature_names for 2 feature columns"):
        RecordData([1, 2], features=np.ones((2, 2)), feature_names=["a"])
    with pytest.raises(ValueError, match=r"images must have shape \(2, H, W\)"):
        RecordData([1, 2], images=np.ones((2, 4, 4, 2)))


# --------------------------------------------------------------------------- html
def test_html_is_self_contained(report: AuditReport, page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<script") == 1 and "<script src" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None and "default-src 'none'" in html_lib.unescape(csp.group(1))
    # overview + 2 per attack + per-class plot, all inline
    n_plots = 1 + 2 * len(report.results) + 1
    assert page.count('src="data:image/png;base64,') == n_plots


def test_html_shows_key_figures_with_cis(report: AuditReport, page: str) -> None:
    for r in report.results:
        auc_text, tpr_text, _ = EXPECTED[r.attack]
        assert auc_text in page
        assert tpr_text in page
        assert f'id="attack-{report.results.index(r) + 1}"' in page
    assert "Privacy risk: " + report.verdict.level.upper() in page
    assert "How the verdict is decided" in page and "lift ≥ 50" in page
    for author in ("Yeom", "Ye, A. Maddi", "Carlini", "Zarifzadeh", "Clopper", "DeLong",
                   "Kairouz", "Jagielski"):
        assert author in page


def test_html_marks_not_resolvable_levels(report: AuditReport, page: str) -> None:
    n_non = report.results[0].n_non_members
    assert 100 <= n_non < 1000  # 1% is resolvable, 0.1% is not
    rows_1pct = _rows_at_level(page, 0.01)
    rows_01pct = _rows_at_level(page, 0.001)
    assert len(rows_1pct) == len(rows_01pct) == len(report.results)
    for row, r in zip(rows_1pct, report.results, strict=True):
        assert "not resolvable" not in row
        assert EXPECTED[r.attack][1] in row
    for row in rows_01pct:
        assert "not resolvable" in row
        assert f"needs ≥ 1,000 non-members, the audit has {n_non}" in row


def test_html_resolves_low_fpr_with_enough_non_members() -> None:
    rep = make_report(2400)
    html = render_html(rep, figures={})  # the tables only
    assert rep.results[0].n_non_members >= 1000
    assert all("not resolvable" not in row for row in _rows_at_level(html, 0.001))
    assert all("not resolvable" in row for row in _rows_at_level(html, 0.0001))


def test_html_escapes_text_from_the_data(page: str, report: AuditReport) -> None:
    assert XSS not in page
    assert page.count("<script") == 1  # only the page's own script
    assert f"<th>{XSS_ESCAPED}</th>" in page  # the feature column header, as text
    assert f"toy {XSS_ESCAPED}" in page  # a card value
    assert f'<th scope="row">{XSS_ESCAPED}</th>' in page  # a card key
    assert "&lt;b&gt;bird&lt;/b&gt;" in page and "<b>bird</b>" not in page
    assert "Toy audit &lt;b&gt;v1&lt;/b&gt;" in page
    assert XSS not in report._repr_html_()


def test_html_per_class_figures(report: AuditReport, page: str) -> None:
    best = report.best
    assert best.labels is not None
    for name, text in zip(CLASS_NAMES[:3], EXPECTED_PER_CLASS, strict=True):
        assert text in page, name
    skipped = re.search(r'<p class="small" id="per-class-skipped">(.*?)</p>', page, re.S)
    assert skipped is not None
    assert "deer — no members (0 members" in skipped.group(1)


def test_html_most_exposed_records(report: AuditReport, page: str) -> None:
    best = report.best
    top = int(np.flatnonzero(best.membership)[np.argmax(best.scores[best.membership])])
    table = re.search(r'<table class="sortable" id="exposed-table">(.*?)</table>', page, re.S)
    assert table is not None
    body = table.group(1).split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == 10
    first = rows[0]
    assert f'data-sort="{int(best.point_ids[top])}"' in first
    assert report.records is not None and report.records.features is not None
    j = report.records.index_of(int(best.point_ids[top]))
    assert j is not None
    assert float(report.records.features[j, 0]) == pytest.approx(-1.153042)
    assert "<td>-1.153</td>" in first  # 4 significant digits
    exposed = tables.top_records(best, report.records, k=10)
    assert [e.score for e in exposed] == sorted((e.score for e in exposed), reverse=True)
    assert all(best.membership[e.position] for e in exposed)
    non = best.scores[~best.membership]
    assert exposed[0].n_non_members_above == int((non >= exposed[0].score).sum())


def test_html_thumbnails_for_image_records(tmp_path: Path) -> None:
    rep = make_report(200, images=True)
    html = render_html(rep, figures={})
    assert html.count('<img class="thumb" src="data:image/png;base64,') == 10


def test_html_without_records_labels_or_card() -> None:
    res = AttackResult.from_scores("loss", np.r_[np.arange(50.0), np.arange(50.0)],
                                   np.r_[np.ones(50), np.zeros(50)])
    html = render_html(AuditReport((res,)), figures={})
    assert "No threat-model card was given" in html
    assert "The results carry no class labels" in html
    assert "No record data was given" in html


# --------------------------------------------------------------------------- pdf, text
def test_pdf_is_a_pdf_with_the_plots(report: AuditReport, saved: Path) -> None:
    data = (saved / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    n_plots = 1 + 2 * len(report.results) + 1
    assert len(re.findall(rb"/Subtype\s*/Image", data)) >= n_plots


def test_summary_text(report: AuditReport) -> None:
    text = report.summary()
    lines = text.splitlines()
    assert lines[0] == report.title
    assert lines[1].startswith(f"Risk: {report.verdict.level.upper()} (lira")
    assert lines[1] == (
        "Risk: HIGH (lira, target 0): the AUC is at least 0.784 (98.33% lower bound; threshold "
        "for high: 0.65)."
    )
    # TPR at 0.1% is not resolvable (n/r) with < 1000 non-members
    assert "\n".join(lines[4:9]) == "\n".join([
        "attack  target  AUC [95% CI]          TPR@1% [CI]              TPR@0.1% [CI]  "
        "advantage  eps LB               risk",
        "------  ------  --------------------  -----------------------  -------------  "
        "---------  -------------------  --------",
        "lira    0       0.825 [0.792, 0.858]  19.0% [14.7%, 23.9%]     n/r            "
        "0.533      0.970 (non-members)  high",
        "loss    0       0.607 [0.562, 0.652]  6.67% [4.12%, 10.1%]     n/r            "
        "0.193      0.000                moderate",
        "random  0       0.513 [0.466, 0.559]  0.667% [0.0808%, 2.39%]  n/r            "
        "0.067      0.000                low",
    ])
    for r in report.results:
        line = next(ln for ln in lines if ln.startswith(r.attack + " "))
        assert all(text in line for text in EXPECTED[r.attack])
    assert "n/r: not resolvable" in text
    assert str(report) == text


def test_repr_html_is_the_summary_table(report: AuditReport) -> None:
    h = report._repr_html_()
    assert h.count("<tr>") == 1 + len(report.results)
    assert "not resolvable" in h and "<td>0.825 [0.792, 0.858]</td>" in h
    assert "<td>19.0% [14.7%, 23.9%]</td>" in h and "<td>300 / 300</td>" in h
    assert "Toy audit &lt;b&gt;v1&lt;/b&gt;" in h


# --------------------------------------------------------------------------- verdict
def _separable(n_pos: int, n_neg: int, k_top: int) -> AttackResult:
    """k_top members above every non-member, the other members tied with the non-members."""
    scores = np.r_[np.full(k_top, 2.0), np.zeros(n_pos - k_top), np.zeros(n_neg)]
    member = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    return AttackResult.from_scores("toy", scores, member)


def test_verdict_levels_follow_the_documented_rule() -> None:
    # 1,000 non-members: reference FPR 0.1%; no false positive, so the threshold's FPR is at
    # most Beta(0.975; 1, 1000) = 0.3682% (two-sided 95% Clopper-Pearson, from scipy here);
    # lift = CP lower bound of k/n_pos over that upper bound (cases on both sides of each
    # threshold: lift 1.88 / 2.08, 9.90 / 10.14, 49.76 / 50.02)
    fpr_hi = float(stats.beta.ppf(0.975, 1, 1000))
    assert fpr_hi == pytest.approx(0.003682, abs=1e-6)
    cases = {0: "low", 13: "low", 14: "moderate", 49: "moderate", 50: "high", 208: "high",
             209: "severe"}
    for k, level in cases.items():
        r = _separable(1000, 1000, k)
        v = assess_attack(r)
        lo = float(stats.beta.ppf(0.025, k, 1000 - k + 1)) if k else 0.0
        assert v.reference_fpr == 0.001
        assert v.tpr_lo == pytest.approx(lo, abs=1e-12)
        assert v.lift == pytest.approx(lo / fpr_hi)
        assert v.level == level, (k, v)
    # 500 non-members: 0.1% not resolvable, falls back to 1%
    v = assess_attack(_separable(500, 500, 30))
    assert v.reference_fpr == 0.01 and v.level == "moderate"  # lift ~ 4.2 at 1%
    # 50 non-members: no low-FPR evidence; only the AUC lower bound counts
    v = assess_attack(_separable(50, 50, 50))
    assert v.reference_fpr is None and v.lift is None and v.level == "severe"
    assert "AUC is at least" in v.reason


def test_verdict_is_the_worst_attack() -> None:
    results = (_separable(1000, 1000, 14), _separable(1000, 1000, 300), _separable(1000, 1000, 0))
    v = assess_risk(results)  # Bonferroni over the three: each at 98.33% confidence
    assert v.level == "severe" and v.index == 1
    assert v.rule == "bonferroni" and v.family_size == 3
    with pytest.raises(ValueError, match="at least one attack result"):
        assess_risk([])


# --------------------------------------------------------------------------- plots
def test_plots_leave_no_open_figures_and_escape_mathtext(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    res = make_results(200)
    rep = AuditReport(res, records=RecordData(res[0].point_ids,
                                              class_names=["$x^", "$$", "a$b$c", "d"]))
    rep.save(tmp_path / "p", formats=("png",))  # "$x^" would break mathtext unescaped
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend
    assert (tmp_path / "p" / "per_class_auc.png").stat().st_size > 2000


def test_pooled_results_long_diagnostics_and_repeated_ids() -> None:
    # results pooled over targets (target -1): each point id occurs once per target
    rng = np.random.default_rng(5)
    ids = np.tile(np.arange(100), 3)
    member = rng.random(300) < 0.5
    scores = rng.normal(size=300) + 2.0 * member
    per_record = [{"point_id": i, "auc": 0.5 + i / 1000} for i in range(2000)]
    res = AttackResult.from_scores("lira", scores, member, point_ids=ids, target=-1,
                                   extras={"per_record": per_record})
    rep = AuditReport((res,))
    rows = list(csv.DictReader(io.StringIO(tables.records_csv(rep.results))))
    assert len(rows) == 300 and {r["target"] for r in rows} == {"-1"}
    for pid in (0, 57):
        got = sorted(float(r["score_lira"]) for r in rows if r["point_id"] == str(pid))
        assert got == sorted(scores[ids == pid].tolist())
    exposed = tables.top_records(res, k=10)
    assert len({e.point_id for e in exposed}) == 10  # each record listed once
    assert exposed[0].score == scores[member].max()
    html = render_html(rep, figures={})
    assert "Target model: pooled" in html and "(lira, target pooled)" in rep.summary()
    assert "characters; see results.json)" in html  # the long diagnostic is cut ...
    assert len(html) < 200_000  # ... not pasted whole


# ------------------------------------------------------ damaged results.json / scores.npz
def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        obj: Any = d
        for k in path[:-1]:
            obj = obj[k]
        if value is _DROP:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
    return mutate


_DROP = object()

DAMAGED_JSON = [
    (_set(("results",), [1]), r"results\[0\] is a int, not a JSON object"),
    (_set(("results", 0, "tpr_at_fpr"), _DROP), r"result 'lira' lacks 'tpr_at_fpr'"),
    (_set(("results", 0, "confidence"), "high"), r"'confidence' must be a number, got 'high'"),
    (_set(("results", 0, "delta"), True), r"'delta' must be a number, got True"),
    (_set(("results", 0, "target"), "a"), r"'target' must be an integer, got 'a'"),
    (_set(("results", 0, "seed"), "abc"), r"'seed' must be an integer or null, got 'abc'"),
    (_set(("results", 0, "attack"), 5), r"'attack' must be a string, got 5"),
    (_set(("results", 0, "params"), [1]), r"'params' must be a JSON object, got \[1\]"),
    (_set(("results", 0, "extras"), "x"), r"'extras' must be a JSON object, got 'x'"),
    (_set(("results", 0, "tpr_at_fpr"), [{"level": "x"}]),
     r"'tpr_at_fpr' must be a list of objects with a numeric 'level'"),
    (_set(("results", 0, "arrays"), 5), r"'arrays' must be a JSON object of array names"),
    (_set(("not_run",), [1]), r"not_run\[0\] must be \{'attack': \.\.\., 'reason': \.\.\.\}"),
    (_set(("not_run",), [{"attack": "lira"}]), r"not_run\[0\] must be \{'attack'"),
    (_set(("card",), [1, 2]), r"'card' must be a JSON object, got a list"),
    (_set(("title",), [1]), r"'title' must be a string, got \[1\]"),
    (_set(("records",), "x"), r"'records' must be a JSON object or null, got 'x'"),
]


@pytest.mark.parametrize(("mutate", "match"), DAMAGED_JSON)
def test_load_names_what_is_wrong_in_results_json(
    saved: Path, tmp_path: Path, mutate: Any, match: str
) -> None:
    import shutil

    from privmeter.cli import main

    out = tmp_path / "r"
    shutil.copytree(saved, out)
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    mutate(d)
    (out / "results.json").write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        AuditReport.load(out)
    assert main(["gate", str(out / "results.json"), "--max-auc", "0.9"]) == 2


def _resave_npz(out: Path, change: Any) -> None:
    import hashlib

    with np.load(out / "scores.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    refs = d["results"][0]["arrays"]
    change(arrays, refs)
    np.savez(out / "scores.npz", **arrays)
    data = (out / "scores.npz").read_bytes()
    d["arrays"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (out / "results.json").write_text(json.dumps(d), encoding="utf-8")


def _replace(name: str, fn: Any) -> Any:
    def change(arrays: dict[str, np.ndarray], refs: dict[str, str]) -> None:
        arrays["zz"] = fn(arrays[refs[name]])
        refs[name] = "zz"
    return change


DAMAGED_NPZ = [
    (_replace("membership", lambda m: m * 0.5), r"membership must be boolean \(or 0/1\)"),
    (_replace("membership", lambda m: m.astype(np.int64) * 2), r"membership must be boolean"),
    (_replace("point_ids", lambda p: p + 0.5), r"point_ids must be integers, got \d+\.5\b"),
    (_replace("labels", lambda p: p + 0.25), r"labels must be integers, got \d+\.25\b"),
    (_replace("scores", lambda s: s.astype(str)), r"scores must be numbers, got dtype <U"),
]


@pytest.mark.parametrize(("change", "match"), DAMAGED_NPZ)
def test_load_refuses_per_point_arrays_of_the_wrong_kind(
    saved: Path, tmp_path: Path, change: Any, match: str
) -> None:
    import shutil

    out = tmp_path / "r"
    shutil.copytree(saved, out)
    _resave_npz(out, change)  # a consistent checksum: the content itself is wrong
    with pytest.raises(ValueError, match=match):
        AuditReport.load(out)


# ------------------------------------------------------------ methods & citations (issue 10)
def _methods_section(page: str) -> tuple[dict[str, list[int]], dict[int, str]]:
    """``{term: cited numbers}`` and ``{number: reference text}`` of the methods section."""
    section = re.search(r'<section id="methods">(.*?)</section>', page, re.S)
    assert section is not None
    body = html_lib.unescape(section.group(1))
    terms = {
        dt: [int(n) for n in re.findall(r"\d+", refs or "")]
        for dt, refs in re.findall(r"<dt>(.*?)</dt><dd>.*?(?: \[([\d, ]+)\])?</dd>", body)
    }
    refs = {int(n): text for n, text in re.findall(r'<li value="(\d+)">(.*?)</li>', body)}
    return terms, refs


def test_methods_describe_the_attacks_run_with_their_papers() -> None:
    rng = np.random.default_rng(0)
    member = rng.random(200) < 0.5
    names = ["loss", "population", "reference", "lira", "rmia"]
    results = [AttackResult.from_scores(n, rng.normal(size=200) + member, member)
               for n in names]
    terms, refs = _methods_section(render_html(AuditReport(results), figures={}))
    first_author = {
        "LOSS": "S. Yeom", "Population (Attack-P)": "J. Ye", "Reference (Attack-R)": "J. Ye",
        "LiRA": "N. Carlini", "RMIA": "S. Zarifzadeh", "Membership inference game": "J. Ye",
        "AUC": "E. R. DeLong", "Membership advantage": "S. Yeom",
    }
    for term, author in first_author.items():
        assert [refs[n].split(",")[0] for n in terms[term]] == [author], term
    assert "Shadow models" not in terms  # not run
    # numbered as before the bibliography: the attacks' papers first
    assert [refs[n].split(",")[0] for n in sorted(refs)] == [
        "S. Yeom", "J. Ye", "N. Carlini", "S. Zarifzadeh", "B. Efron", "C. J. Clopper",
        "E. R. DeLong", "P. Kairouz", "M. Jagielski",
    ]


def test_methods_always_describe_the_default_attacks() -> None:
    from privmeter.audit import DEFAULT_ATTACKS
    from privmeter.report.html import ALWAYS_DESCRIBED

    assert ALWAYS_DESCRIBED == DEFAULT_ATTACKS
    member = np.arange(100) < 50
    results = [AttackResult.from_scores("shadow", member + 0.0, member)]
    terms, refs = _methods_section(render_html(AuditReport(results), figures={}))
    assert {"LOSS", "RMIA", "Shadow models"} <= set(terms)
    assert [refs[n].split(",")[0] for n in terms["Shadow models"]] == ["R. Shokri"]


def test_methods_describe_a_registered_third_party_attack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from privmeter.attacks import AttackSpec, _registry, register_attack

    monkeypatch.setattr(_registry, "_REGISTRY", _registry._REGISTRY.copy())

    @dataclasses.dataclass(frozen=True)
    class NoParams:
        pass

    register_attack(AttackSpec(
        name="entropy_gap", fn=lambda table, target, params: None,
        params_type=NoParams, paper="Song & Mittal 2021", summary="modified entropy",
        cites=("song2021",), title="Modified entropy <i>gap</i>",
        method="Threshold the modified prediction entropy of the record.",
    ))
    rng = np.random.default_rng(1)
    member = rng.random(100) < 0.5
    results = [AttackResult.from_scores(n, rng.normal(size=100) + member, member)
               for n in ("loss", "entropy_gap")]
    page = render_html(AuditReport(results), figures={})
    terms, refs = _methods_section(page)
    assert "Modified entropy &lt;i&gt;gap&lt;/i&gt;" in page  # the title is escaped
    assert [refs[n] for n in terms["Modified entropy <i>gap</i>"]] == [
        "L. Song, P. Mittal. Systematic Evaluation of Privacy Risks of Machine Learning "
        "Models. USENIX Security 2021."
    ]
    assert "Threshold the modified prediction entropy of the record." in page
    assert "LiRA" in terms and "Shadow models" not in terms  # a default one; one not run


def test_registering_an_attack_with_an_unknown_citation_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from privmeter.attacks import AttackSpec, _registry, register_attack

    monkeypatch.setattr(_registry, "_REGISTRY", _registry._REGISTRY.copy())

    @dataclasses.dataclass(frozen=True)
    class NoParams:
        pass

    spec = AttackSpec(name="mine", fn=lambda t, i, p: None, params_type=NoParams, paper="",
                      summary="", cites=("carlini2023",))
    with pytest.raises(ValueError, match=r"attack 'mine': unknown reference key 'carlini2023' "
                       r"\(did you mean 'carlini2022'\?\)"):
        register_attack(spec)
    assert "mine" not in _registry.list_attacks()
