"""The report's plots as PNG bytes: ROC curves (linear and log-log, with the bound of a DP
claim), score histograms, per class, canary exposure.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas
(:class:`matplotlib.figure.Figure` + ``FigureCanvasAgg``), never through ``pyplot``: no global
figure registry, no backend switch for the caller, nothing left open after a figure is saved.
Text from the data (attack and class names) is escaped for mathtext.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from privmeter.report import tables

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from privmeter.report import AuditReport
    from privmeter.result import AttackResult

__all__ = [
    "CANARY_NAME",
    "DPI",
    "OVERVIEW_NAME",
    "PER_CLASS_NAME",
    "attack_figure_names",
    "canary_axes",
    "canary_png",
    "dp_bound_label",
    "draw_dp_bound",
    "histogram_png",
    "is_report_figure",
    "merge_identical",
    "overview_png",
    "per_class_png",
    "report_figures",
    "roc_png",
    "thumbnail_png",
]

#: Resolution of every plot.
DPI = 100
OVERVIEW_NAME = "roc_overview.png"
PER_CLASS_NAME = "per_class_auc.png"
CANARY_NAME = "canary_exposure.png"
#: Most classes drawn in the per-class plot (the table lists them all).
MAX_CLASSES_PLOTTED = 40

MEMBER_COLOR = "#d6604d"
NON_MEMBER_COLOR = "#4393c3"
_FIGURE_RE = re.compile(
    r"^(roc_overview|per_class_auc|canary_exposure|attack\d+_[a-z0-9-]*_(roc|hist))\.png$"
)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the report plots need matplotlib: pip install 'privmeter[report]'"
        ) from e


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes and release it."""
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # names from the data in scripts the default font lacks: drawn as boxes
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            fig.savefig(buf, format="png", dpi=DPI, facecolor="white",
                        metadata={"Software": None})
    finally:
        fig.clear()
    return buf.getvalue()


def _t(text: str) -> str:
    """Escape mathtext (``$``) in text from the data."""
    return str(text).replace("$", r"\$")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


def attack_figure_names(index: int, result: AttackResult) -> tuple[str, str]:
    """File names of the ROC and histogram plots of ``results[index]``."""
    stem = f"attack{index + 1}_{_slug(result.attack)}"
    return f"{stem}_roc.png", f"{stem}_hist.png"


def is_report_figure(name: str) -> bool:
    """Whether a file name is one of the plots :func:`report_figures` names."""
    return _FIGURE_RE.match(name) is not None


def _color(i: int) -> str:
    return f"C{i % 10}"


# --------------------------------------------------------------------------- ROC
def _floor(n_non: int) -> float:
    """Left edge of a log-FPR axis: half the smallest non-zero FPR."""
    return 0.5 / max(n_non, 1)


def _style(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


#: Most vertices of one drawn ROC curve (a curve of 200,000 points is thinned for drawing).
MAX_CURVE_POINTS = 4000


def _thin(fpr: NDArray[np.float64], tpr: NDArray[np.float64]) -> tuple[
    NDArray[np.float64], NDArray[np.float64]
]:
    """At most about :data:`MAX_CURVE_POINTS` vertices of a ROC curve, for drawing only.

    Keeps the first vertices exactly (the low-FPR end, which the log-log panel magnifies),
    then vertices evenly spaced in log and in linear rank, and the last one; at 1,000 pixels
    wide the drawn curve is indistinguishable. The figures in the tables come from the
    exact curve.
    """
    n = fpr.size
    if n <= MAX_CURVE_POINTS:
        return fpr, tpr
    k = MAX_CURVE_POINTS // 4
    idx = np.unique(np.r_[
        np.arange(k),
        np.geomspace(k, n - 1, k).astype(np.int64),
        np.linspace(0, n - 1, 2 * k).astype(np.int64),
        n - 1,
    ])
    return fpr[idx], tpr[idx]


#: Colour of the DP bound curve.
DP_BOUND_COLOR = "#6f42c1"


def dp_bound_label(dp_claim: dict[str, Any]) -> str:
    """Legend label of the DP bound curve: ``"DP bound (ε = 8, δ = 1e-05)"``."""
    return f"DP bound (ε = {float(dp_claim['epsilon']):.3g}, δ = {float(dp_claim['delta']):g})"


def draw_dp_bound(ax: Axes, dp_claim: dict[str, Any] | None, fpr: NDArray[np.float64]) -> Any:
    """Draw the TPR bound that ``dp_claim`` (``{"epsilon", "delta"}``) implies on ``ax`` at
    the FPRs ``fpr`` (:func:`privmeter.report.tables.dp_tpr_bound`) as a dashed curve;
    return the matplotlib line, or None without a claim."""
    if not dp_claim:
        return None
    eps, delta = float(dp_claim["epsilon"]), float(dp_claim["delta"])
    tpr = tables.dp_tpr_bound(fpr, eps, delta)
    (line,) = ax.plot(fpr, tpr, color=DP_BOUND_COLOR, linestyle="--", linewidth=1.3,
                      label=dp_bound_label(dp_claim))
    return line


def _draw_linear(ax: Axes, results: Sequence[AttackResult], labels: Sequence[str],
                 colors: Sequence[str], dp_claim: dict[str, Any] | None = None) -> None:
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1.0, label="chance")
    draw_dp_bound(ax, dp_claim, np.linspace(0.0, 1.0, 401))
    for r, lab, c in zip(results, labels, colors, strict=True):
        ax.plot(*_thin(r.roc.fpr, r.roc.tpr), color=c, linewidth=1.6,
                label=_t(f"{lab}: AUC {tables.fmt_auc(r.auc, r.auc_ci)}"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.005)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, linear axes", fontsize=11)
    ax.legend(loc="lower right", fontsize=7.5, framealpha=0.9)
    _style(ax)


def _draw_loglog(ax: Axes, results: Sequence[AttackResult], labels: Sequence[str],
                 colors: Sequence[str], *, error_bars: bool,
                 dp_claim: dict[str, Any] | None = None) -> None:
    n_non = sorted({r.n_non_members for r in results})
    n_pos = max(r.n_members for r in results)
    xmin = _floor(max(n_non))
    ymin = min(xmin, _floor(n_pos))
    grid = np.logspace(math.log10(xmin), 0, 50)
    ax.plot(grid, grid, color="0.6", linestyle=":", linewidth=1.0, label="chance")
    draw_dp_bound(ax, dp_claim, np.logspace(math.log10(xmin), 0, 200))
    resolution = 1.0 / min(n_non)
    ax.axvspan(xmin, resolution, color="0.85", alpha=0.6, linewidth=0)
    for i, n in enumerate(n_non[:3]):
        ax.axvline(1.0 / n, color="0.35", linestyle="--", linewidth=1.0,
                   label=f"FPR resolution 1/{n}" if i == 0 or len(n_non) > 1 else None)
    for r, lab, c in zip(results, labels, colors, strict=True):
        fpr, tpr = _thin(r.roc.fpr, r.roc.tpr)
        ax.plot(np.maximum(fpr, xmin), np.maximum(tpr, ymin), color=c,
                linewidth=1.6, label=_t(lab))
        if error_bars:
            pts = [t for t in r.tpr_at_fpr if t.level > 0 and t.resolvable]
            if pts:
                x = np.array([max(t.fpr, xmin) for t in pts])
                y = np.array([max(t.tpr, ymin) for t in pts])
                lo = np.array([max(t.tpr_ci[0], ymin) for t in pts])
                hi = np.array([t.tpr_ci[1] for t in pts])
                ax.errorbar(x, y, yerr=np.vstack([y - lo, hi - y]), fmt="o", color=c,
                            markersize=3.5, capsize=3, linewidth=1.0,
                            label="TPR at FPR level, 95% CI")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xmin, 1)
    ax.set_ylim(ymin, 1.05)
    ax.set_xlabel("false positive rate (log)")
    ax.set_ylabel("true positive rate (log)")
    ax.set_title("ROC, log-log axes (grey: below FPR resolution)", fontsize=11)
    ax.legend(loc="lower right", fontsize=7.5, framealpha=0.9)
    _style(ax)


def overview_png(results: Sequence[AttackResult], labels: Sequence[str] | None = None, *,
                 dp_claim: dict[str, Any] | None = None) -> bytes:
    """All attacks' ROC curves on one figure: linear and log-log panels.

    With ``dp_claim`` (``{"epsilon", "delta"}``: the model was trained with DP-SGD claiming
    (ε, δ)) both panels draw the TPR bound the claim implies as a dashed curve.
    """
    _require_matplotlib()
    labs = list(labels) if labels is not None else tables.attack_labels(results)
    shown, shown_labs, colors = merge_identical(results, labs)
    fig = _figure(10.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    _draw_linear(ax1, shown, shown_labs, colors, dp_claim)
    _draw_loglog(ax2, shown, shown_labs, colors, error_bars=False, dp_claim=dp_claim)
    return _png(fig)


def merge_identical(
    results: Sequence[AttackResult], labels: Sequence[str]
) -> tuple[list[AttackResult], list[str], list[str]]:
    """One curve per distinct ROC: attacks with identical ROCs share a curve and a label.

    Returns the results to draw, their legend labels (``"loss = population (identical
    ROC)"``) and colours (each keeps the colour of its first attack).
    """
    groups = {tuple(g) for g in tables.identical_groups(results, labels)}
    first_of: dict[str, tuple[str, ...]] = {g[0]: g for g in groups}
    hidden = {lab for g in groups for lab in g[1:]}
    out_r, out_l, out_c = [], [], []
    for i, (r, lab) in enumerate(zip(results, labels, strict=True)):
        if lab in hidden:
            continue
        g = first_of.get(lab)
        out_r.append(r)
        out_l.append(f"{' = '.join(g)} (identical ROC)" if g else lab)
        out_c.append(_color(i))
    return out_r, out_l, out_c


def roc_png(result: AttackResult, *, label: str | None = None, color: str = "C0",
            dp_claim: dict[str, Any] | None = None) -> bytes:
    """One attack's ROC: linear and log-log panels, TPR-at-FPR points with their CIs (and
    the DP bound of ``dp_claim``, see :func:`overview_png`)."""
    _require_matplotlib()
    lab = result.attack if label is None else label
    fig = _figure(10.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    _draw_linear(ax1, [result], [lab], [color], dp_claim)
    _draw_loglog(ax2, [result], [lab], [color], error_bars=True, dp_claim=dp_claim)
    return _png(fig)


# --------------------------------------------------------------------------- histogram
def histogram_png(result: AttackResult, *, label: str | None = None, bins: int = 40) -> bytes:
    """Score histograms (densities) of members and non-members.

    The range is the 0.1%–99.9% quantiles of all scores; scores outside it are counted in
    the edge bins, so extreme outliers do not squash the plot.
    """
    _require_matplotlib()
    s = result.scores
    lo, hi = (float(v) for v in np.quantile(s, [0.001, 0.999]))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    clipped = bool((s < lo).any() or (s > hi).any())
    fig = _figure(5.4, 3.7)
    ax = fig.subplots()
    for mask, name, color in (
        (~result.membership, f"non-members (n={result.n_non_members})", NON_MEMBER_COLOR),
        (result.membership, f"members (n={result.n_members})", MEMBER_COLOR),
    ):
        v = np.clip(s[mask], lo, hi)
        ax.hist(v, bins=edges.tolist(), density=True, color=color, alpha=0.4, label=name)
        ax.hist(v, bins=edges.tolist(), density=True, color=color, histtype="step", linewidth=1.3)
    ax.set_xlabel("membership score (higher = more likely member)"
                  + (", tails clipped" if clipped else ""), fontsize=9)
    ax.set_ylabel("density")
    ax.set_title(_t(f"Scores: {label or result.attack}"), fontsize=11)
    ax.legend(fontsize=8, framealpha=0.9)
    _style(ax)
    return _png(fig)


# --------------------------------------------------------------------------- per class
def per_class_png(figures: Sequence[tables.ClassFigures], overall_auc: float,
                  *, title: str = "AUC per class") -> bytes:
    """Forest plot of the per-class AUCs with their intervals."""
    _require_matplotlib()
    figs = list(figures)
    note = ""
    if len(figs) > MAX_CLASSES_PLOTTED:
        figs = sorted(figs, key=lambda f: -f.auc)[:MAX_CLASSES_PLOTTED]
        note = f" (top {MAX_CLASSES_PLOTTED} of {len(figures)} by AUC)"
    figs = figs[::-1]  # first class at the top
    fig = _figure(7.0, 1.2 + 0.28 * len(figs))
    ax = fig.subplots()
    y = np.arange(len(figs))
    auc = np.array([f.auc for f in figs])
    lo = np.array([f.auc_ci[0] for f in figs])
    hi = np.array([f.auc_ci[1] for f in figs])
    ax.errorbar(auc, y, xerr=np.vstack([auc - lo, hi - auc]), fmt="o", color="C0",
                markersize=4, capsize=3, linewidth=1.1, label="AUC, 95% CI")
    ax.axvline(0.5, color="0.6", linestyle=":", linewidth=1.0, label="chance")
    ax.axvline(overall_auc, color="0.3", linestyle="--", linewidth=1.0, label="all classes")
    ax.set_yticks(y, [_t(f.name) for f in figs], fontsize=8)
    ax.set_ylim(-0.7, len(figs) - 0.3)
    ax.set_xlabel("AUC")
    ax.set_title(_t(title + note), fontsize=11)
    ax.legend(fontsize=7.5, loc="best", framealpha=0.9)
    _style(ax)
    return _png(fig)


# --------------------------------------------------------------------------- thumbnails
def _as_display(image: NDArray[Any]) -> NDArray[Any]:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype == np.uint8:
        return img
    f = img.astype(np.float64)
    f = np.where(np.isfinite(f), f, 0.0)
    if f.min() < 0.0 or f.max() > 1.0:
        span = f.max() - f.min()
        f = (f - f.min()) / span if span > 0 else np.zeros_like(f)
    return f


def thumbnail_png(image: NDArray[Any]) -> bytes:
    """One record's image as PNG bytes (grey scale for 2-D images)."""
    _require_matplotlib()
    from matplotlib.image import imsave

    img = _as_display(image)
    buf = io.BytesIO()
    if img.ndim == 2:
        vmax = 255 if img.dtype == np.uint8 else 1.0
        imsave(buf, img, format="png", cmap="gray", vmin=0, vmax=vmax)
    else:
        imsave(buf, img, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- canaries
def canary_axes(ax: Axes, canaries: dict[str, Any]) -> dict[str, Any]:
    """Draw the canaries' exposure against their repetition count on ``ax``.

    One point per canary, the mean exposure per repetition count connected, and the
    largest possible exposure ``log2 |R|`` as a dashed line. Returns the drawn artists
    (``points``, ``means``, ``max_line``) for tests.
    """
    items = canaries["canaries"]
    reps = np.array([float(k["repetitions"]) for k in items])
    expo = np.array([float(k["exposure"]) for k in items])
    top = max((float(k["max_exposure"]) for k in items), default=0.0)
    means = tables.canary_means(canaries)
    # a little horizontal jitter separates canaries with the same count
    jitter = np.zeros_like(reps)
    for r, _, n in means:
        idx = np.flatnonzero(reps == r)
        if n > 1:
            jitter[idx] = np.linspace(-0.06, 0.06, n)
    log_x = reps.size > 0 and reps.min() >= 1 and reps.max() / reps.min() >= 8
    x = reps * (2.0 ** jitter) if log_x else reps + jitter * max(1.0, float(np.ptp(reps)) / 4)
    points = ax.scatter(x, expo, s=18, color="C0", alpha=0.7, label="canary", zorder=3)
    line = ax.plot([m[0] for m in means], [m[1] for m in means], color="C1", marker="o",
                   markersize=5, linewidth=1.6, label="mean per repetition count", zorder=4)[0]
    max_line = ax.axhline(top, color="0.35", linestyle="--", linewidth=1.1,
                          label=f"maximum exposure log2|R| = {top:.1f}")
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({m[0] for m in means}), [str(m[0]) for m in means])
    ax.set_ylim(0, max(top, float(expo.max()) if expo.size else 0.0) * 1.08 + 0.5)
    ax.set_xlabel("repetitions of the canary in the training data")
    ax.set_ylabel("exposure (bits)")
    ax.set_title(_t(f"Canary exposure: {canaries['template']}"[:90]), fontsize=11)
    ax.legend(fontsize=7.5, loc="best", framealpha=0.9)
    _style(ax)
    return {"points": points, "means": line, "max_line": max_line}


def canary_png(canaries: dict[str, Any]) -> bytes:
    """The canary exposure plot (:func:`canary_axes`) as PNG bytes."""
    _require_matplotlib()
    fig = _figure(6.4, 4.0)
    canary_axes(fig.subplots(), canaries)
    return _png(fig)


# --------------------------------------------------------------------------- all of them
def report_figures(report: AuditReport) -> dict[str, bytes]:
    """Every plot of the report, by file name, in reading order."""
    results = report.results
    labels = report.labels
    dp_claim = report.extras.get("dp_claim")
    out = {OVERVIEW_NAME: overview_png(results, labels, dp_claim=dp_claim)}
    for i, r in enumerate(results):
        roc_name, hist_name = attack_figure_names(i, r)
        out[roc_name] = roc_png(r, label=labels[i], color=_color(i), dp_claim=dp_claim)
        out[hist_name] = histogram_png(r, label=labels[i])
    best = report.best
    class_names = None if report.records is None else report.records.class_names
    figures, _ = tables.per_class(best, class_names)
    if figures:
        out[PER_CLASS_NAME] = per_class_png(
            figures, best.auc, title=f"AUC per class: {labels[report.verdict.index]}"
        )
    canaries = report.extras.get("canaries")
    if canaries and canaries["canaries"]:
        out[CANARY_NAME] = canary_png(canaries)
    return out
