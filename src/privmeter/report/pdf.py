"""``report.pdf``: the content of ``report.html`` as a PDF, written with fpdf2 (no TeX).

The text uses the DejaVu Sans font shipped with matplotlib, so Greek letters, ≥ and names
in most scripts render; the plots are the same PNGs as in the HTML page.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privmeter.report import plots, tables

if TYPE_CHECKING:
    from privmeter.report import AuditReport

__all__ = ["pdf_text", "render_pdf", "write_pdf"]

_FONT = "DejaVu"
_MARGIN = 15.0
_WIDTH = 210.0 - 2 * _MARGIN  # A4 text width, mm
_PX_TO_MM = 25.4 / plots.DPI
#: Most feature columns of the exposed-records table in the PDF (the HTML shows more).
PDF_MAX_FEATURES = 5

_LEVEL_FILL: dict[str, tuple[int, int, int]] = {
    "low": (230, 244, 234),
    "moderate": (255, 248, 197),
    "high": (255, 241, 229),
    "severe": (255, 235, 233),
}
_LEVEL_INK: dict[str, tuple[int, int, int]] = {
    "low": (17, 99, 41),
    "moderate": (125, 78, 0),
    "high": (163, 63, 0),
    "severe": (179, 19, 27),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Shown for a character the PDF font has no glyph for (CJK, emoji...; the HTML page shows
#: them with the browser's fonts).
MISSING_GLYPH = "\ufffd"
#: Most characters of a record's text in the PDF's most-exposed table.
PDF_MAX_TEXT_CHARS = 160
_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")


@functools.lru_cache(maxsize=1)
def _font_chars() -> frozenset[int]:
    """Code points that all three report fonts have a glyph for."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    chars: set[int] | None = None
    for name in _FONT_FILES:
        cmap = set(TTFont(str(_fonts_dir() / name), lazy=True).getBestCmap())
        chars = cmap if chars is None else chars & cmap
    return frozenset(chars or ())


def _clean(text: object) -> str:
    """Text from the data without control characters (which PDF text cannot hold) and with
    :data:`MISSING_GLYPH` for characters the font cannot draw."""
    t = _CONTROL.sub("?", str(text))
    if t.isascii():
        return t
    ok = _font_chars()
    return "".join(c if c == "\n" or ord(c) in ok else MISSING_GLYPH for c in t)


def pdf_text(text: str, limit: int = PDF_MAX_TEXT_CHARS) -> str:
    r"""A record's text for a PDF table cell: whitespace runs (newlines too) as one space,
    cut to ``limit`` characters with "…", characters the font lacks as
    :data:`MISSING_GLYPH`.

    Examples
    --------
    >>> pdf_text("naïve\n\ttext 日本", limit=40)
    'naïve text \ufffd\ufffd'
    >>> pdf_text("x" * 10, limit=4)
    'xxxx…'
    """
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit].rstrip() + "…"
    return _clean(flat)


def _fonts_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _png_size_mm(png: bytes) -> tuple[float, float]:
    """Width and height of a PNG at the plots' DPI, read from its header."""
    w = int.from_bytes(png[16:20], "big")
    h = int.from_bytes(png[20:24], "big")
    return w * _PX_TO_MM, h * _PX_TO_MM


def _new_pdf(title: str, version: str) -> Any:
    try:
        from fpdf import FPDF
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("report.pdf needs fpdf2: pip install 'privmeter[report]'") from e

    class _ReportPDF(FPDF):  # type: ignore[misc]
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(_FONT, "", 8)
            self.set_text_color(110, 118, 129)
            self.cell(0, 6, _clean(f"{title} · privmeter {version} · page {self.page_no()}"),
                      align="C")

    pdf = _ReportPDF(orientation="P", unit="mm", format="A4")
    fonts = _fonts_dir()
    pdf.add_font(_FONT, "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font(_FONT, "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font(_FONT, "I", str(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(_clean(title))
    pdf.set_creator(f"privmeter {version}")
    pdf.set_author("privmeter")
    return pdf


class _Left:
    """A table cell aligned left whatever its column's alignment."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Writer:
    """Small helpers over an FPDF document."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf

    def text(self, text: str, *, size: float = 9.5, style: str = "", h: float = 4.8,
             color: tuple[int, int, int] = (31, 35, 40)) -> None:
        pdf = self.pdf
        pdf.set_font(_FONT, style, size)
        pdf.set_text_color(*color)
        pdf.set_x(_MARGIN)
        pdf.multi_cell(_WIDTH, h, _clean(text), align="L", new_x="LMARGIN", new_y="NEXT")

    def muted(self, text: str, *, size: float = 8.5) -> None:
        self.text(text, size=size, h=4.2, color=(89, 99, 110))

    def heading(self, text: str, *, level: int = 1) -> None:
        pdf = self.pdf
        size = {0: 18.0, 1: 14.0, 2: 11.5}[level]
        need = {0: 20.0, 1: 40.0, 2: 30.0}[level]
        if pdf.get_y() + need > pdf.h - 20:
            pdf.add_page()
        pdf.ln({0: 0.0, 1: 5.0, 2: 3.0}[level])
        self.text(text, size=size, style="B", h=size * 0.5)
        if level == 1:
            pdf.set_draw_color(209, 217, 224)
            pdf.line(_MARGIN, pdf.get_y() + 0.8, _MARGIN + _WIDTH, pdf.get_y() + 0.8)
            pdf.ln(2.5)
        else:
            pdf.ln(1.0)

    def image(self, png: bytes | None, *, width: float = _WIDTH, caption: str = "") -> None:
        if png is None:
            return
        pdf = self.pdf
        w_mm, h_mm = _png_size_mm(png)
        w = min(width, _WIDTH)
        h = h_mm * w / w_mm
        if pdf.get_y() + h > pdf.h - 18:
            pdf.add_page()
        pdf.image(io.BytesIO(png), x=_MARGIN, y=pdf.get_y(), w=w, h=h)
        pdf.set_y(pdf.get_y() + h + 1.0)
        if caption:
            self.muted(caption, size=7.5)
        pdf.ln(1.5)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], *,
              widths: Sequence[float], align: Sequence[str] | None = None,
              size: float = 7.5, header_row: bool = True) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font(_FONT, "", size)
        pdf.set_text_color(31, 35, 40)
        pdf.set_draw_color(209, 217, 224)
        with pdf.table(
            width=_WIDTH,
            col_widths=tuple(float(w) for w in widths),
            text_align=tuple(align) if align is not None else "LEFT",
            line_height=size * 0.55,
            first_row_as_headings=header_row,
            headings_style=FontFace(emphasis="BOLD", fill_color=(246, 248, 250)),
            borders_layout="HORIZONTAL_LINES",
            cell_fill_color=(248, 250, 251),
            cell_fill_mode="ROWS",
        ) as table:
            if header_row:
                hr = table.row()
                for h in header:
                    hr.cell(_clean(h))
            for r in rows:
                row = table.row()
                for c in r:
                    if isinstance(c, bytes):
                        row.cell(img=io.BytesIO(c), img_fill_width=True)
                    elif isinstance(c, _Left):
                        row.cell(_clean(c.text), align="LEFT")
                    else:
                        row.cell(_clean(c))
        pdf.ln(2.0)


def render_pdf(report: AuditReport, *, figures: Mapping[str, bytes] | None = None) -> bytes:
    """The report as PDF bytes (same content as the HTML page)."""
    from privmeter.report.html import build_context

    ctx = build_context(report, figures)
    pdf = _new_pdf(ctx["title"], ctx["version"])
    w = _Writer(pdf)
    pdf.add_page()

    # title and verdict
    w.heading(ctx["title"], level=0)
    w.muted(
        f"Membership inference audit · generated {ctx['generated']} by privmeter "
        f"{ctx['version']} · intervals are {ctx['confidence']} confidence intervals"
    )
    pdf.ln(3)
    v = ctx["verdict"]
    dp = ctx["dp"]
    if dp:
        level = "low" if dp["verdict"] == "consistent" else "severe"
        pdf.set_fill_color(*_LEVEL_FILL[level])
        pdf.set_font(_FONT, "B", 8.5)
        pdf.set_text_color(31, 35, 40)
        pdf.set_x(_MARGIN)
        pdf.multi_cell(_WIDTH, 5, "DIFFERENTIAL PRIVACY", fill=True, new_x="LMARGIN",
                       new_y="NEXT", padding=(2, 3, 0, 3))
        pdf.set_font(_FONT, "B", 17)
        pdf.set_text_color(*_LEVEL_INK[level])
        pdf.multi_cell(_WIDTH, 8.5, dp["headline"], fill=True, new_x="LMARGIN",
                       new_y="NEXT", padding=(0, 3, 0, 3))
        pdf.set_text_color(31, 35, 40)
        if dp["summary"]:
            pdf.set_font(_FONT, "B", 9.5)
            pdf.multi_cell(_WIDTH, 4.8, _clean(dp["summary"]), fill=True, new_x="LMARGIN",
                           new_y="NEXT", padding=(1, 3, 0, 3))
        measured = "; ".join(dp["bounds"]) or "no lower bound"
        if dp["setup"]:
            measured += f" ({dp['setup']})"
        pdf.set_font(_FONT, "", 9)
        pdf.multi_cell(_WIDTH, 4.6, _clean(f"• The training claims: {dp['claim']}.\n"
                                           f"• The audit measured: {measured}."),
                       fill=True, new_x="LMARGIN", new_y="NEXT", padding=(1, 3, 0, 3))
        pdf.set_font(_FONT, "", 8)
        pdf.multi_cell(_WIDTH, 4.0, _clean(dp["explain"]), fill=True, new_x="LMARGIN",
                       new_y="NEXT", padding=(1, 3, 2, 3))
        pdf.ln(3)
    pdf.set_fill_color(*_LEVEL_FILL[v["level"]])
    pdf.set_font(_FONT, "B", 15)
    pdf.set_text_color(*_LEVEL_INK[v["level"]])
    pdf.set_x(_MARGIN)
    pdf.multi_cell(_WIDTH, 8, f"Privacy risk: {v['level'].upper()}", fill=True,
                   new_x="LMARGIN", new_y="NEXT", padding=(2, 3, 0, 3))
    pdf.set_font(_FONT, "", 9.5)
    pdf.set_text_color(31, 35, 40)
    pdf.multi_cell(_WIDTH, 4.8, _clean(f"Decided by {v['label']}: {v['reason']}."),
                   fill=True, new_x="LMARGIN", new_y="NEXT", padding=(1, 3, 0, 3))
    if v["missing"]:
        pdf.set_font(_FONT, "B", 9.5)
        pdf.set_text_color(179, 19, 27)
        pdf.multi_cell(_WIDTH, 4.8, _clean(f"WARNING: {v['missing']}."), fill=True,
                       new_x="LMARGIN", new_y="NEXT", padding=(1, 3, 0, 3))
        pdf.set_font(_FONT, "", 9.5)
        pdf.set_text_color(31, 35, 40)
    if v["blind_warning"]:
        pdf.set_font(_FONT, "B", 9.5)
        pdf.set_text_color(179, 19, 27)
        pdf.multi_cell(_WIDTH, 4.8, _clean(f"WARNING: {v['blind_warning']}."), fill=True,
                       new_x="LMARGIN", new_y="NEXT", padding=(1, 3, 0, 3))
        pdf.set_font(_FONT, "", 9.5)
        pdf.set_text_color(31, 35, 40)
    if v["dp_claim"]:
        pdf.set_font(_FONT, "B", 9)
        pdf.multi_cell(_WIDTH, 4.6, _clean(f"{v['dp_claim']}."), fill=True,
                       new_x="LMARGIN", new_y="NEXT", padding=(1, 3, 0, 3))
        pdf.set_font(_FONT, "", 9.5)
    extra = f"{v['epsilon_note']}."
    if ctx["utility"]:
        extra += " Model utility: " + "; ".join(ctx["utility"]) + "."
    pdf.set_font(_FONT, "", 8.5)
    pdf.multi_cell(_WIDTH, 4.4, _clean(extra), fill=True, new_x="LMARGIN", new_y="NEXT",
                   padding=(1, 3, 0, 3))
    pdf.set_font(_FONT, "", 9.5)
    pdf.multi_cell(_WIDTH, 4.8, _clean(v["advice"]), fill=True, new_x="LMARGIN",
                   new_y="NEXT", padding=(1, 3, 3, 3))
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(1.5)
    w.text("How the verdict is decided", size=8.5, style="B", h=4.2)
    for line in ctx["rule"]:
        w.muted(f"• {line}", size=8)

    # key figures
    w.heading("Key figures")
    w.muted(f"Attack that decided the verdict: {v['label']} (every attack is in the table below).")
    pdf.ln(1)
    w.table(
        ["Key figure", "Value", "Interval / note"],
        [list(k) for k in ctx["key_figures"]],
        widths=(45, 35, 100),
        size=8.5,
    )
    levels = ctx["summary_levels"]
    w.table(
        ["Attack", "Members / non-members", f"AUC [{ctx['confidence']} CI]",
         *[f"TPR at {lv} FPR [CI]" for lv in levels], "Adv.", "ε LB", "Risk"],
        [
            [s["row"].label, s.get("counts", f"{s['row'].n_members} / {s['row'].n_non_members}"),
             s["row"].auc,
             *[("not resolvable" if t == "n/r" else t) for t in s["row"].tpr],
             s["row"].advantage, s["row"].epsilon_lb, s["row"].level]
            for s in [*ctx["summary"], *([ctx["blind"]] if ctx["blind"] else [])]
        ],
        widths=(22, 24, 30, 33, 33, 10, 10, 18),
        size=7.0,
        align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "LEFT"),
    )
    for line in ctx["identical"]:
        w.muted(f"{line}.")
    if ctx["blind"]:
        w.muted(f"{ctx['blind']['row'].label}: a classifier on the texts alone that never "
                "queries the model; it is not part of the verdict.")
    dp_caption = (f" Dashed purple: {ctx['dp_bound']}, the highest TPR the DP claim allows."
                  if ctx["dp_bound"] else "")
    w.image(
        ctx["overview_png"],
        caption="ROC curves of every attack: linear axes (left) and log-log axes (right); "
        "the grey band lies below the FPR resolution 1/n_non-members." + dp_caption,
    )

    # threat model
    w.heading("Threat model")
    if ctx["card"]:
        w.table(["", ""], ctx["card"], widths=(55, 125), size=8.5, header_row=False)
    else:
        w.muted("No threat-model card was given with these results.")

    # attacks
    w.heading("Attacks")
    for a in ctx["attacks"]:
        w.heading(f"{a['label']}  ({a['level']} risk)", level=2)
        w.muted(
            f"Target model: {a['target']} · {a['n_members']} members, {a['n_non_members']} "
            f"non-members (FPR resolution {a['resolution']}) · AUC {a['auc']} · advantage "
            f"{a['advantage']} · ε lower bound {a['epsilon_lb']} (δ = {a['delta']}) · "
            f"seed {a['seed']}"
        )
        w.muted(f"{a['epsilon_note']}.")
        pdf.ln(1)
        w.image(a["roc_png"], caption="ROC on linear and log-log axes; points: TPR at each "
                "resolvable FPR level with its Clopper–Pearson interval." + dp_caption)
        rows = []
        for t in a["tpr_rows"]:
            if t["resolvable"]:
                rows.append([t["level_text"], t["tpr"], t["fpr"], t["threshold"], t["ppv"]])
            else:
                rows.append([t["level_text"], "not resolvable", _Left(t["note"]), "", ""])
        w.table(
            ["FPR level", f"TPR [{ctx['confidence']} CI]", "Empirical FPR [CI]", "Threshold",
             "PPV"],
            rows,
            widths=(18, 40, 72, 28, 22),
            align=("RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        )
        extras = a["extras"]
        if a.get("auto"):
            w.text(a["auto"]["text"], size=8.5)
            if a["auto"]["rows"]:
                w.table(
                    ["Candidate (best first)", f"Mean pseudo-target {a['auto']['what']}",
                     "Mean pseudo-target AUC"],
                    [[r["name"] + (" (chosen)" if r["chosen"] else ""), r["score"], r["auc"]]
                     for r in a["auto"]["rows"]],
                    widths=(90, 50, 40), size=7.5,
                )
                w.muted(a["auto"]["legend"])
            # the summary table shows the best candidates; the full ranking stays in the JSON
            extras = [kv for kv in extras if not kv[0].startswith("candidates › ")]
        w.image(a["hist_png"], width=100,
                caption="Scores of members and non-members: the more they overlap, the "
                "weaker the attack.")
        if a["params"] or extras:
            w.table(["Parameter", "Value"], [*a["params"], *extras], widths=(55, 125),
                    size=7.5)

    # most exposed records
    w.heading("Most exposed records")
    w.text(
        f"The {len(ctx['exposed'])} training records (members) that {ctx['exposed_label']} "
        f"flags most confidently. FPR to expose: the share of the "
        f"{ctx['n_best_non_members']} non-members that score at least as high.",
        size=8.5,
    )
    names = ctx["feature_names"][:PDF_MAX_FEATURES]
    header = ["Rank", "Point id", "Class", "Score", "FPR to expose"]
    widths: list[float] = [12, 18, 30, 22, 22]
    if ctx["exposed_has_images"]:
        header.append("Image")
        widths.append(12)
    has_texts = ctx["exposed_has_texts"]
    if has_texts:
        names = names[:2]
        widths = [10, 16, 18, 18, 18, *widths[5:]]
        header.append("Text")
        widths.append(_WIDTH - sum(widths) - 18.0 * len(names))
    if names:
        header += names
        widths += [max(12.0, (_WIDTH - sum(widths)) / len(names))] * len(names)
    else:
        widths[2] += _WIDTH - sum(widths)  # the class column takes the slack
    rows = []
    for e in ctx["exposed"]:
        row: list[Any] = [e["rank"], e["point_id"], e["label"], e["score"], e["fpr"]]
        if ctx["exposed_has_images"]:
            row.append(e["thumb"] if e["thumb"] is not None else "—")
        if has_texts:
            full = e["text"] if e["text"] is not None else (
                "".join(t["text"] for t in e["tokens"]) if e["tokens"] is not None else None)
            row.append(_Left("—" if full is None else pdf_text(full)))
        if names:
            vals = e["feature_values"] if e["feature_values"] is not None else ["—"] * len(names)
            row += vals[: len(names)]
        rows.append(row)
    w.table(header, rows, widths=widths, size=7.5)
    if len(ctx["feature_names"]) + ctx["n_hidden_features"] > len(names):
        w.muted(f"First {len(names)} feature columns shown; the HTML report shows up to "
                f"{len(ctx['feature_names'])}.")
    if has_texts:
        w.muted(f"Texts are cut to {PDF_MAX_TEXT_CHARS} characters (…), with line breaks as "
                f"spaces and {MISSING_GLYPH} for characters the PDF font lacks; the HTML report "
                "shows them with their tokens coloured by log-probability, records.csv in full.")
    if not ctx["records_given"]:
        w.muted("No record data was given: pass RecordData (features, images or texts) to "
                "show the records themselves.")

    # canaries
    c = ctx["canaries"]
    if c:
        w.heading("Canary exposure")
        w.text(
            f"{len(c['rows'])} random secrets of the format {c['template']} ({c['space_size']} "
            f"possible secrets, so at most log2|R| = {c['log2_space']} bits of exposure) were "
            "inserted into the training data, each a chosen number of times. Exposure = "
            "log2|R| − log2 rank of the canary among all possible secrets by the model's "
            "likelihood; exposure rising with the repetitions shows memorisation."
            + (f" Estimate: {c['method']}." if c["method"] else ""),
            size=8.5,
        )
        w.image(c["png"], width=120, caption="Exposure of each canary against its repetitions; "
                "line: mean per repetition count; dashed: the largest possible exposure.")
        w.table(
            ["Canary", "Repetitions", "Exposure (bits)", "Exact-rank exposure", "Maximum"],
            [[_Left(pdf_text(r["text"], 80)), r["repetitions"], r["exposure"],
              r["exposure_rank"], r["max_exposure"]] for r in c["rows"]],
            widths=(80, 22, 26, 30, 22),
            align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        )

    # per class
    w.heading("Per class")
    if not ctx["has_labels"]:
        w.muted("The results carry no class labels, so there are no per-class figures.")
    else:
        w.text(f"{ctx['per_class_label']} restricted to each class label, with a threshold "
               "chosen within the class.", size=8.5)
        if ctx["per_class"]:
            w.table(
                ["Class", "Members / non-members", f"AUC [{ctx['confidence']} CI]",
                 *[f"TPR at {lv} FPR [CI]" for lv in levels]],
                [
                    [c["name"], f"{c['n_members']} / {c['n_non_members']}", c["auc"], *c["tpr"]]
                    for c in ctx["per_class"]
                ],
                widths=(40, 26, 38, 38, 38),
                align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
            )
        if ctx["per_class_skipped"]:
            w.muted("Skipped (an AUC needs both members and non-members): " + "; ".join(
                f"{s['name']} — {s['why']}" for s in ctx["per_class_skipped"]) + ".")
        w.image(ctx["per_class_png"], width=130)

    # methods and citations
    w.heading("Methods & citations")
    for m in ctx["methods"]:
        refs = f" [{', '.join(str(r) for r in m['refs'])}]" if m["refs"] else ""
        w.text(m["term"], size=9, style="B", h=4.6)
        w.text(m["text"] + refs, size=8.5, h=4.2)
        pdf.ln(0.8)
    w.heading("References", level=2)
    for n, ref in ctx["citations"]:
        w.text(f"[{n}] {ref}", size=8.5, h=4.2)
    return bytes(pdf.output())


def write_pdf(
    report: AuditReport,
    path: str | os.PathLike[str],
    *,
    figures: Mapping[str, bytes] | None = None,
) -> Path:
    """Write :func:`render_pdf` to ``path`` and return the path."""
    p = Path(path)
    tables._atomic_write(p, render_pdf(report, figures=figures))
    return p
