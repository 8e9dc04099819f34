"""The report's tables: key figures, TPR at FPR, per class, most exposed records; CSV and JSON.

Everything here is plain numpy and the standard library, shared by the HTML, PDF, text and
notebook renderings so that they always show the same numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from privmeter import metrics
from privmeter._io import atomic_write
from privmeter._validation import is_real
from privmeter.metrics import TprAtFpr
from privmeter.result import jsonable

if TYPE_CHECKING:
    from privmeter.report import AuditReport, RecordData
    from privmeter.result import AttackResult

__all__ = [
    "ClassFigures",
    "ExposedRecord",
    "attack_labels",
    "auto_summary",
    "blind_row",
    "blind_warning",
    "canary_rows",
    "csv_text_cell",
    "dp_claim_line",
    "dp_figures",
    "dp_tpr_bound",
    "fmt_auc",
    "fmt_pct",
    "fmt_tpr",
    "identical_groups",
    "jsonable",
    "per_class",
    "records_table",
    "score_columns",
    "summary_rows",
    "top_records",
    "utility_lines",
    "write_csv",
    "write_json",
    "write_json_dict",
]

#: The epsilon side that does not raise the verdict (marked in the key-figures table).
NON_MEMBERS_SIDE = metrics.EPSILON_SIDES[1]
#: Footnote of that mark.
NON_MEMBERS_NOTE = ("(non-members): that ε bound comes from identifying non-members, which "
                    "exposes no training record; it does not raise the verdict.")

#: FPR levels of the key-figures table.
SUMMARY_LEVELS: tuple[float, ...] = (0.01, 0.001)


# --------------------------------------------------------------------------- formatting
def fmt_pct(x: float) -> str:
    """A proportion as a percentage with precision that suits small values.

    Examples
    --------
    >>> fmt_pct(0.5), fmt_pct(0.0123), fmt_pct(0.0001234), fmt_pct(0.0)
    ('50.0%', '1.23%', '0.0123%', '0%')
    """
    if x == 0.0:
        return "0%"
    p = 100.0 * x
    if abs(p) >= 10.0:
        return f"{p:.1f}%"
    if abs(p) >= 1.0:
        return f"{p:.2f}%"
    return f"{p:.3g}%"


def fmt_level(level: float) -> str:
    """An FPR level as a short percentage (``0.001`` -> ``'0.1%'``)."""
    return "0%" if level == 0.0 else f"{100.0 * level:g}%"


def fmt_auc(value: float, ci: tuple[float, float]) -> str:
    """``'0.712 [0.701, 0.723]'``."""
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def fmt_tpr(t: TprAtFpr, *, not_resolvable: str = "n/r") -> str:
    """TPR with its interval, or ``not_resolvable`` when the level is below 1/n_non_members."""
    if not t.resolvable:
        return not_resolvable
    return f"{fmt_pct(t.tpr)} [{fmt_pct(t.tpr_ci[0])}, {fmt_pct(t.tpr_ci[1])}]"


def fmt_num(x: float) -> str:
    """A score or threshold in 4 significant digits (``inf`` as ``'∞'``)."""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.4g}"


def fmt_target(target: int) -> str:
    """A target index as text; a negative index marks results pooled over several targets."""
    return "pooled" if target < 0 else str(target)


def fmt_value(value: Any, *, max_chars: int = 300) -> str:
    """A card, parameter or diagnostic value as short text (long values are cut)."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)) and all(
        not isinstance(x, (dict, list, tuple)) for x in value
    ):
        text = ", ".join(fmt_value(x, max_chars=max_chars) for x in value)
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    if len(text) > max_chars:
        text = f"{text[:max_chars]}… ({len(text):,} characters; see results.json)"
    return text


#: How to read ``auto``'s candidate names (under its table in the report).
AUTO_LEGEND = (
    "Names: the attack, then its variant: _offline (OUT references only), _per_point "
    "(per-point variance), _gap (LiRA's empirical-Bayes prior on the IN-OUT gap), _b5 (variance "
    "pooled in 5 bins of the signal level), _t1/_t4 (RMIA temperature 1 or 4; 2 otherwise), "
    "_q (signals calibrated on each model's population non-members), :q1 (first query only); "
    "mean_rank(a+b): the mean of a's and b's rank-normalised scores."
)


def auto_summary(extras: Mapping[str, Any], top: int = 5) -> dict[str, Any] | None:
    """What the ``auto`` attack chose and why, in words and as a short table.

    Returns ``None`` for extras that are not ``auto``'s. ``text`` is one sentence (the choice,
    the pseudo-targets, the criterion); ``rows`` holds the ``top`` best candidates as
    ``{name, score, auc, chosen}`` strings, best first; ``short`` is a clause for the text
    summary (``"chose lira_gap on 8 pseudo-targets (mean TPR at 1% FPR 12.0%)"``).

    Examples
    --------
    >>> ex = {"chosen": "lira_gap", "n_pseudo_targets": 8, "criterion": "tpr_at_fpr",
    ...       "level": 0.01, "candidates": {"lira_gap": {"score": 0.12, "auc": 0.7},
    ...                                     "rmia": {"score": 0.1, "auc": 0.71}}}
    >>> s = auto_summary(ex)
    >>> s["text"][:60]
    'auto chose lira_gap by attacking 8 reference models (pseudo-'
    >>> [r["name"] for r in s["rows"]], s["rows"][0]["chosen"]
    (['lira_gap', 'rmia'], True)
    """
    chosen = extras.get("chosen")
    if not isinstance(chosen, str):
        return None
    if extras.get("fallback"):
        return {"text": f"auto found no pseudo-target ({extras['fallback']}), so it ran "
                        f"{chosen}, the first default of its mode that could run.", "rows": [],
                "short": f"ran {chosen} (no pseudo-target to choose on)"}
    n = int(extras.get("n_pseudo_targets", 0))
    level = extras.get("level")
    by_auc = extras.get("criterion") == "auc" or level is None
    what = "AUC" if level is None or by_auc else f"TPR at {fmt_level(float(level))} FPR"
    cands = extras.get("candidates") or {}
    rows = []
    for name, row in list(cands.items())[:top]:
        if not isinstance(row, Mapping):
            continue
        rows.append({
            "name": str(name),
            "score": f"{float(row.get('score', float('nan'))):.3f}" if by_auc
            else fmt_pct(float(row.get("score", float("nan")))),
            "auc": f"{float(row.get('auc', float('nan'))):.3f}",
            "chosen": name == chosen,
        })
    best = cands.get(chosen) if isinstance(cands, Mapping) else None
    figure = ""
    short = f"chose {chosen} on {n} pseudo-targets"
    if isinstance(best, Mapping) and "score" in best:
        val = (f"{float(best['score']):.3f}" if by_auc else fmt_pct(float(best["score"])))
        figure = f": its mean {what} over them was {val}"
        short += f" (mean {what} {val})"
    text = (f"auto chose {chosen} by attacking {n} reference models (pseudo-targets) with the "
            f"others, never the target, and ranking {len(cands)} candidates by their mean "
            f"{what}{figure}. The choice then ran once on the target.")
    return {"text": text, "rows": rows, "what": what, "short": short, "legend": AUTO_LEGEND}


def attack_labels(results: Sequence[AttackResult]) -> list[str]:
    """Unique display names: the attack name, its target when targets differ, ``#k`` on repeats.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> r = AttackResult.from_scores("lira", [0.9, 0.1], [1, 0])
    >>> attack_labels([r, r])
    ['lira', 'lira #2']
    """
    several_targets = len({r.target for r in results}) > 1
    base = [
        f"{r.attack} (target {fmt_target(r.target)})" if several_targets else r.attack
        for r in results
    ]
    seen: dict[str, int] = {}
    out = []
    for b in base:
        seen[b] = seen.get(b, 0) + 1
        out.append(b if seen[b] == 1 else f"{b} #{seen[b]}")
    return out


def score_columns(results: Sequence[AttackResult]) -> list[str]:
    """The CSV score column of each result: ``score_<attack>``, ``#k`` on repeats per target.

    Results of the same attack on different targets share a column (their rows differ by
    target).
    """
    seen: dict[tuple[str, int], int] = {}
    out = []
    for r in results:
        key = (r.attack, r.target)
        seen[key] = seen.get(key, 0) + 1
        k = seen[key]
        out.append(f"score_{r.attack}" if k == 1 else f"score_{r.attack}#{k}")
    return out


# --------------------------------------------------------------------------- key figures
@dataclass(frozen=True)
class SummaryRow:
    """One line of the key-figures table (all strings, formatted once)."""

    label: str
    target: str
    n_members: int
    n_non_members: int
    auc: str
    tpr: tuple[str, ...]
    advantage: str
    epsilon_lb: str
    level: str


def summary_rows(results: Sequence[AttackResult], levels: Sequence[str]) -> list[SummaryRow]:
    """Key figures of each result, with ``levels[i]`` the risk level of ``results[i]``."""
    rows = []
    for r, label, lv in zip(results, attack_labels(results), levels, strict=True):
        rows.append(
            SummaryRow(
                label=label,
                target=fmt_target(r.target),
                n_members=r.n_members,
                n_non_members=r.n_non_members,
                auc=fmt_auc(r.auc, r.auc_ci),
                tpr=tuple(fmt_tpr(r.tpr_at(level)) for level in SUMMARY_LEVELS),
                advantage=f"{r.advantage:.3f}",
                epsilon_lb=f"{r.epsilon_lb:.3f}"
                + (" (non-members)" if r.epsilon_detail.side == NON_MEMBERS_SIDE else ""),
                level=lv,
            )
        )
    return rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned plain-text table with a rule under the header."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- per class
@dataclass(frozen=True)
class ClassFigures:
    """An attack's figures restricted to the audit points of one class label.

    The TPR at FPR uses a threshold chosen within the class, so it says how well the attack
    separates members from non-members of that class.
    """

    label: int
    name: str
    n_members: int
    n_non_members: int
    auc: float
    auc_ci: tuple[float, float]
    tpr_at_fpr: tuple[TprAtFpr, ...]


def per_class(
    result: AttackResult,
    class_names: Sequence[str] | None = None,
    *,
    levels: Sequence[float] = SUMMARY_LEVELS,
) -> tuple[list[ClassFigures], list[tuple[int, str, str]]]:
    """Figures per class label; classes without members or non-members are skipped.

    Returns
    -------
    figures : list of ClassFigures
        One per class label with both members and non-members, in label order.
    skipped : list of (label, name, why)
        The other classes and the reason.
    """
    if result.labels is None:
        return [], []
    figures: list[ClassFigures] = []
    skipped: list[tuple[int, str, str]] = []
    for lab in np.unique(result.labels):
        c = int(lab)
        name = class_name(c, class_names)
        mask = result.labels == lab
        y = result.membership[mask]
        s = result.scores[mask]
        n_pos = int(y.sum())
        n_neg = int(y.size - n_pos)
        if n_pos == 0 or n_neg == 0:
            why = "no members" if n_pos == 0 else "no non-members"
            skipped.append((c, name, f"{why} ({n_pos} members, {n_neg} non-members)"))
            continue
        roc = metrics.roc_curve(s, y)
        # DeLong's Mann-Whitney AUC equals the area under the exact ROC
        auc_value, auc_ci = metrics.auc_delong_ci(s, y, confidence=result.confidence)
        figures.append(
            ClassFigures(
                label=c,
                name=name,
                n_members=n_pos,
                n_non_members=n_neg,
                auc=auc_value,
                auc_ci=auc_ci,
                tpr_at_fpr=tuple(
                    metrics.tpr_at_fpr_from_roc(roc, lv, confidence=result.confidence)
                    for lv in levels
                ),
            )
        )
    return figures, skipped


def class_name(label: int, class_names: Sequence[str] | None) -> str:
    """``class_names[label]`` when there is one, else the label as text."""
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


# --------------------------------------------------------------------------- exposed records
@dataclass(frozen=True)
class ExposedRecord:
    """A member the attack flags most confidently.

    Attributes
    ----------
    rank : int
        1 for the highest-scoring member.
    position : int
        Index of the point in the attack result's arrays.
    point_id : int
        Dataset index.
    label : int or None
        Class label, when known.
    score : float
        The attack's membership score.
    n_non_members_above : int
        Non-members scoring at least as high: the false positives an attacker must accept
        to flag this record.
    fpr : float
        ``n_non_members_above / n_non_members``: the FPR at which this record is exposed.
    record_index : int or None
        Row of the record in :class:`~privmeter.report.RecordData`, when it is there.
    """

    rank: int
    position: int
    point_id: int
    label: int | None
    score: float
    n_non_members_above: int
    fpr: float
    record_index: int | None


def top_records(
    result: AttackResult, records: RecordData | None = None, *, k: int = 10
) -> list[ExposedRecord]:
    """The ``k`` members with the highest scores (ties broken by point id).

    A point id that occurs several times (results pooled over targets) is listed once, at its
    highest score.
    """
    members = np.flatnonzero(result.membership)
    order = members[np.lexsort((result.point_ids[members], -result.scores[members]))]
    _, first = np.unique(result.point_ids[order], return_index=True)
    order = order[np.sort(first)][:k]
    non_scores = np.sort(result.scores[~result.membership])
    n_non = non_scores.size
    lookup = records.index_of if records is not None else None
    out = []
    for rank, pos in enumerate(order, start=1):
        s = float(result.scores[pos])
        above = int(n_non - np.searchsorted(non_scores, s, side="left"))
        pid = int(result.point_ids[pos])
        out.append(
            ExposedRecord(
                rank=rank,
                position=int(pos),
                point_id=pid,
                label=None if result.labels is None else int(result.labels[pos]),
                score=s,
                n_non_members_above=above,
                fpr=above / n_non,
                record_index=None if lookup is None else lookup(pid),
            )
        )
    return out


# --------------------------------------------------------------------------- records.csv
def _occurrences(ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each element, how many earlier elements have the same id (0 for the first)."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]] if ids.size else np.array([], bool)
    run_start = np.maximum.accumulate(np.where(starts, np.arange(ids.size), 0))
    occ = np.empty(ids.size, dtype=np.int64)
    occ[order] = np.arange(ids.size) - run_start
    return occ


def _unique_rows(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """``np.unique(keys, axis=0, return_inverse=True)`` for (point id, occurrence) pairs.

    The pairs are packed into one int64 when they fit (a 1-D unique is several times faster
    than the row-wise one); the order is the same lexicographic order.
    """
    if keys.shape[0] == 0:
        return keys.reshape(0, 2), np.zeros(0, dtype=np.intp)
    ids, occ = keys[:, 0], keys[:, 1]
    lo = int(ids.min())
    span = int(ids.max()) - lo + 1
    m = int(occ.max()) + 1
    if span * m < 2**62:
        code = (ids - lo) * m + occ
        u, inv = np.unique(code, return_inverse=True)
        return np.stack([u // m + lo, u % m], axis=1), inv.reshape(-1)
    u2, inv2 = np.unique(keys, axis=0, return_inverse=True)
    return u2, inv2.reshape(-1)


@dataclass(frozen=True)
class RecordsTable:
    """One row per (target, point): membership, label and every attack's score.

    A point id repeated within one result (e.g. several copies of a canary) gives one row
    per copy, matched across attacks by order of appearance.
    """

    columns: tuple[str, ...]
    target: NDArray[np.int64]
    point_id: NDArray[np.int64]
    label: NDArray[np.int64] | None
    membership: NDArray[np.bool_]
    scores: NDArray[np.float64]  # (n_rows, n_columns), NaN where an attack lacks the point


def records_table(results: Sequence[AttackResult]) -> RecordsTable:
    """Match every result's per-point scores by (target, point id).

    Raises
    ------
    ValueError
        If two results disagree on the membership or label of the same (target, point).
    """
    columns = list(dict.fromkeys(score_columns(results)))
    col_of = score_columns(results)
    has_labels = any(r.labels is not None for r in results)
    parts_t, parts_p, parts_l, parts_m, parts_s = [], [], [], [], []
    for target in sorted({r.target for r in results}):
        group = [i for i, r in enumerate(results) if r.target == target]
        keys = [
            np.stack([results[i].point_ids, _occurrences(results[i].point_ids)], axis=1)
            for i in group
        ]
        all_keys = np.concatenate(keys, axis=0)
        uniq, inverse = _unique_rows(all_keys)
        n = uniq.shape[0]
        memb = np.zeros(n, dtype=np.int8) - 1
        labels = np.full(n, -1, dtype=np.int64)
        has_label = np.zeros(n, dtype=bool)
        scores = np.full((n, len(columns)), np.nan)
        start = 0
        for i, key in zip(group, keys, strict=True):
            r = results[i]
            rows = inverse[start : start + key.shape[0]]
            start += key.shape[0]
            m = r.membership.astype(np.int8)
            clash = (memb[rows] >= 0) & (memb[rows] != m)
            if clash.any():
                j = int(np.argmax(clash))
                raise ValueError(
                    f"results disagree on the membership of point {int(r.point_ids[j])} in "
                    f"target {target}: attack {r.attack!r} says {bool(m[j])}"
                )
            memb[rows] = m
            if r.labels is not None:
                clash = has_label[rows] & (labels[rows] != r.labels)
                if clash.any():
                    j = int(np.argmax(clash))
                    raise ValueError(
                        f"results disagree on the label of point {int(r.point_ids[j])} in "
                        f"target {target}: attack {r.attack!r} says {int(r.labels[j])}, "
                        f"another says {int(labels[rows][j])}"
                    )
                labels[rows] = r.labels
                has_label[rows] = True
            scores[rows, columns.index(col_of[i])] = r.scores
        parts_t.append(np.full(n, target, dtype=np.int64))
        parts_p.append(uniq[:, 0].astype(np.int64))
        parts_l.append(labels)
        parts_m.append(memb.astype(bool))
        parts_s.append(scores)
    return RecordsTable(
        columns=tuple(columns),
        target=np.concatenate(parts_t),
        point_id=np.concatenate(parts_p),
        label=np.concatenate(parts_l) if has_labels else None,
        membership=np.concatenate(parts_m),
        scores=np.concatenate(parts_s, axis=0),
    )


# one atomic write for the cache and the reports (privmeter._io; pdf.py calls it here)
_atomic_write = atomic_write


def records_csv(results: Sequence[AttackResult], records: RecordData | None = None) -> str:
    """``records.csv`` as text: ``target, point_id, label, membership, score_<attack>...``.

    ``membership`` is 1 for members and 0 otherwise; ``label`` and scores are empty where
    unknown; scores are written with full float precision. When ``records`` has texts a last
    ``text`` column holds each point's text (empty when the point is not in ``records``),
    protected against CSV injection (:func:`csv_text_cell`).
    """
    table = records_table(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["target", "point_id", "label", "membership", *table.columns])
    labels = table.label
    n = table.point_id.size
    # column by column from Python lists (numbers never need CSV quoting): the same text as
    # csv.writer on each row, several times faster for big audits
    cols: list[list[str]] = [
        [str(v) for v in table.target.tolist()],
        [str(v) for v in table.point_id.tolist()],
        [""] * n if labels is None else ["" if v < 0 else str(v) for v in labels.tolist()],
        ["1" if v else "0" for v in table.membership.tolist()],
    ]
    for j in range(table.scores.shape[1]):
        cols.append(["" if math.isnan(v) else repr(v) for v in table.scores[:, j].tolist()])
    if records is not None and records.texts is not None:
        buf.seek(0)
        buf.truncate()
        w.writerow(["target", "point_id", "label", "membership", *table.columns, "text"])
        texts = records.texts
        cells = {i: csv_text_cell(t) for i, t in enumerate(texts)}
        rows = (records.index_of(p) for p in table.point_id.tolist())
        cols.append(["" if i is None else cells[i] for i in rows])
    buf.writelines(",".join(row) + "\n" for row in zip(*cols, strict=True))
    return buf.getvalue()


def write_csv(report: AuditReport, path: str | os.PathLike[str]) -> Path:
    """Write ``records.csv`` (see :func:`records_csv`) and return its path."""
    p = Path(path)
    _atomic_write(p, records_csv(report.results, report.records).encode("utf-8"))
    return p


def write_json(
    report: AuditReport, path: str | os.PathLike[str], *, include_images: bool = True
) -> Path:
    """Write :meth:`AuditReport.to_dict` (arrays inline) as strict JSON; return its path."""
    return write_json_dict(report.to_dict(include_images=include_images), path)


def write_json_dict(d: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a dict as strict JSON (no NaN or Infinity literals) and return its path."""
    p = Path(path)
    text = json.dumps(d, allow_nan=False, indent=1)
    _atomic_write(p, text.encode("utf-8"))
    return p


# --------------------------------------------------------------------------- comparisons
def identical_groups(
    results: Sequence[AttackResult], labels: Sequence[str] | None = None
) -> list[list[str]]:
    """Groups (of two or more) of results with exactly the same ROC curve.

    Two attacks that rank the audit points the same way (``loss`` and ``population`` always
    do) have the same ROC: drawn on top of each other, one would hide the other. Results on
    different targets or point sets are never grouped.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> a = AttackResult.from_scores("loss", [0.9, 0.2, 0.4], [1, 0, 1])
    >>> b = AttackResult.from_scores("population", [9.0, 2.0, 4.0], [1, 0, 1])
    >>> identical_groups([a, b])
    [['loss', 'population']]
    """
    labs = list(labels) if labels is not None else attack_labels(results)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, r in enumerate(results):
        key = (r.target, r.n_members, r.n_non_members, r.roc.tp.tobytes(), r.roc.fp.tobytes())
        groups.setdefault(key, []).append(i)
    return [[labs[i] for i in g] for g in groups.values() if len(g) > 1]


# --------------------------------------------------------------------------- utility
def _u(x: Any, pct: bool) -> str:
    if not is_real(x):
        return "—"
    return f"{100 * x:.1f}%" if pct else f"{x:.4g}"


def utility_lines(card: dict[str, Any]) -> list[str]:
    """The model-utility figures of a card (``card["utility"]``) as short lines of text.

    Examples
    --------
    >>> utility_lines({"utility": {"metric": "accuracy", "target train": 1.0,
    ...     "target test": 0.9, "generalisation gap": 0.1}})
    ['target accuracy: train 100.0%, test 90.0% (generalisation gap 10.0 points)']
    """
    u = card.get("utility")
    if not isinstance(u, dict):
        return []
    metric = str(u.get("metric", "accuracy"))
    pct = metric == "accuracy"
    lines: list[str] = []
    for who, label in (("target", "target"), ("models (mean)", "models, mean"),
                       ("references (mean)", "reference models, mean")):
        if f"{who} train" not in u:
            continue
        line = f"{label} {metric}: train {_u(u[f'{who} train'], pct)}, test " \
               f"{_u(u.get(f'{who} test'), pct)}"
        if who != "references (mean)" and "generalisation gap" in u:
            gap = u["generalisation gap"]
            line += (f" (generalisation gap {100 * gap:.1f} points)" if pct and
                     isinstance(gap, (int, float)) else f" (generalisation gap {_u(gap, pct)})")
        if "target train MSE" in u and who == "target":
            line += (f"; MSE train {_u(u['target train MSE'], False)}, test "
                     f"{_u(u.get('target test MSE'), False)}")
        if "models (mean) train MSE" in u and who == "models (mean)":
            line += (f"; MSE train {_u(u['models (mean) train MSE'], False)}, test "
                     f"{_u(u.get('models (mean) test MSE'), False)}")
        if "references (mean) train MSE" in u and who == "references (mean)":
            line += (f"; MSE train {_u(u['references (mean) train MSE'], False)}, test "
                     f"{_u(u.get('references (mean) test MSE'), False)}")
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- extras
#: Label of the blind baseline's row in the key-figures tables.
BLIND_LABEL = "blind baseline (model-free)"
#: Its "risk" cell: the baseline never enters the verdict.
BLIND_LEVEL = "not in verdict"
#: Default citations of the extras' methods (keys of :data:`privmeter.references.REFERENCES`).
EXTRAS_CITES: dict[str, tuple[str, ...]] = {
    "blind_baseline": ("das2024", "duan2024"),
    "canaries": ("carlini2019",),
    "dp": ("steinke2023", "nasr2023"),
    "dp_claim": ("abadi2016", "kairouz2015"),
}


def dp_tpr_bound(fpr: Any, epsilon: float, delta: float) -> NDArray[np.float64]:
    """The largest TPR an (ε, δ)-DP training algorithm allows at each FPR.

    ``TPR <= min(1, e^ε FPR + δ, 1 - e^-ε (1 - δ - FPR))`` (Kairouz et al. 2015): the first
    term bounds identifying members, the second identifying non-members.

    Examples
    --------
    >>> dp_tpr_bound([0.0, 0.25, 1.0], 0.0, 0.0).tolist()  # ε = 0: no test beats chance
    [0.0, 0.25, 1.0]
    >>> [round(v, 4) for v in dp_tpr_bound([0.01, 0.5], 1.0, 1e-5).tolist()]
    [0.0272, 0.8161]
    """
    x = np.clip(np.asarray(fpr, dtype=np.float64), 0.0, 1.0)
    e = math.exp(min(float(epsilon), 700.0))
    bound = np.minimum(np.minimum(1.0, e * x + delta), 1.0 - (1.0 - delta - x) / e)
    return np.asarray(np.clip(bound, 0.0, 1.0), dtype=np.float64)


def blind_row(bb: dict[str, Any]) -> SummaryRow:
    """The blind baseline (``extras["blind_baseline"]``) as a key-figures row: its AUC and
    TPR at 1% FPR, the other figures ``"—"``, and :data:`BLIND_LEVEL` for the risk."""
    ci = bb.get("auc_ci")
    auc = fmt_auc(bb["auc"], (ci[0], ci[1])) if ci is not None else f"{bb['auc']:.3f}"
    t1 = bb.get("tpr_at_1pct")
    tpr = ("—" if t1 is None else fmt_pct(float(t1)),) + ("—",) * (len(SUMMARY_LEVELS) - 1)
    return SummaryRow(
        label=BLIND_LABEL, target="—", n_members=int(bb.get("n_members") or 0),
        n_non_members=int(bb.get("n_non_members") or 0), auc=auc, tpr=tpr, advantage="—",
        epsilon_lb="—", level=BLIND_LEVEL,
    )


def blind_warning(bb: dict[str, Any] | None, best: AttackResult, best_label: str) -> str:
    """The verdict's warning when the blind baseline finds the sets not comparable, else ``""``.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> r = AttackResult.from_scores("min_k", [0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    >>> text = blind_warning({"auc": 0.91, "auc_ci": [0.85, 0.96], "comparable": False,
    ...                       "reason": "members are from 2019, non-members from 2024"},
    ...                      r, "min_k")
    >>> text.startswith("The member and non-member texts are not comparable")
    True
    """
    if not bb or bb.get("comparable", True):
        return ""
    ci = bb.get("auc_ci")
    auc = fmt_auc(bb["auc"], (ci[0], ci[1])) if ci is not None else f"{bb['auc']:.3f}"
    reason = str(bb.get("reason") or "").strip().rstrip(".")
    return (
        "The member and non-member texts are not comparable: a model-free classifier that "
        f"never queries the model tells them apart from the text alone with AUC {auc}, "
        f"against {fmt_auc(best.auc, best.auc_ci)} for the best attack ({best_label})"
        + (f". {reason[:1].upper()}{reason[1:]}" if reason else "")
        + ". The attacks' AUC is therefore not evidence of membership leakage: collect "
        "members and non-members from the same distribution and audit again"
    )


def dp_claim_line(report: AuditReport) -> str:
    """The verdict's line comparing a DP-SGD claim (``extras["dp_claim"]``) with the empirical
    ε lower bound of the attack that decided the verdict (recomputed at the claimed δ);
    ``""`` without a claim."""
    claim = report.extras.get("dp_claim")
    if not claim:
        return ""
    from privmeter.result import AttackResult

    eps, delta = float(claim["epsilon"]), float(claim["delta"])
    best = report.best
    label = attack_labels(report.results)[report.verdict.index]
    r = best
    if best.delta != delta:
        r = AttackResult.from_scores(
            best.attack, best.scores, best.membership, target=best.target,
            point_ids=best.point_ids, confidence=best.confidence, delta=delta,
            fpr_levels=tuple(t.level for t in best.tpr_at_fpr),
        )
    lb = float(r.epsilon_lb)
    conf = f"{100 * r.confidence:g}%"
    text = (f"DP claim: the model was trained with DP-SGD claiming ε = {eps:.3g} at "
            f"δ = {delta:g}; the empirical ε lower bound of {label} at that δ is {lb:.3g} "
            f"({conf} confidence)")
    if lb > eps:
        return text + (": above the claim, so the attack contradicts the DP guarantee (the "
                       "training code or the privacy accounting is wrong)")
    return text + (": at most the claim, consistent with it (an attack gives a lower bound "
                   "on ε; it cannot prove the claim)")


def fmt_eps(x: float | None) -> str:
    """An ε value as text (``"—"`` for None)."""
    return "—" if x is None else f"{x:.3g}"


def dp_figures(dp: dict[str, Any]) -> dict[str, Any]:
    """The differential-privacy box (``extras["dp"]``) as text: verdict word, claim, bounds.

    Examples
    --------
    >>> f = dp_figures({"claimed_epsilon": 2.0, "delta": 1e-5, "accountant": "rdp",
    ...     "epsilon_rdp": 2.0, "epsilon_prv": 1.9, "verdict": "consistent",
    ...     "summary": "The DP claim holds.", "n_canaries": 1000, "runs": 1,
    ...     "lower_bounds": [{"method": "one run", "epsilon_lb": 0.4, "confidence": 0.95}]})
    >>> f["headline"], f["bounds"]
    ('DP CLAIM CONSISTENT', ['ε ≥ 0.4 (one run, 95% confidence)'])
    >>> f["claim"]
    'claimed ε = 2 at δ = 1e-05 (accountant: rdp; RDP ε = 2, PRV ε = 1.9)'
    """
    claimed = dp.get("claimed_epsilon")
    accountants = [f"{name} ε = {fmt_eps(dp.get(k))}" for name, k in
                   (("RDP", "epsilon_rdp"), ("PRV", "epsilon_prv")) if dp.get(k) is not None]
    detail = "; ".join([f"accountant: {dp['accountant']}"] * bool(dp.get("accountant"))
                       + [", ".join(accountants)] * bool(accountants))
    claim = ("no claimed ε" if claimed is None else
             f"claimed ε = {fmt_eps(claimed)} at δ = {float(dp.get('delta', 0.0)):g}")
    if detail:
        claim += f" ({detail})"
    bounds = [f"ε ≥ {fmt_eps(b['epsilon_lb'])} ({b['method']}, "
              f"{100 * float(b['confidence']):g}% confidence)" for b in dp["lower_bounds"]]
    violated = dp["verdict"] == "violated"
    setup = []
    if dp.get("n_canaries") is not None:
        setup.append(f"{int(dp['n_canaries']):,} canaries")
    if dp.get("runs") is not None:
        setup.append(f"{int(dp['runs']):,} training run{'s' if int(dp['runs']) != 1 else ''}")
    return {
        "verdict": "violated" if violated else "consistent",
        "headline": "DP CLAIM VIOLATED" if violated else "DP CLAIM CONSISTENT",
        "summary": str(dp.get("summary") or ""),
        "claim": claim,
        "bounds": bounds,
        "setup": ", ".join(setup),
        "explain": "The audit measures a lower bound on ε: how much privacy the training "
        "demonstrably loses. A lower bound above the claimed ε proves that the claim does "
        "not hold (the training code or the privacy accounting is wrong); a lower bound "
        "below it is consistent with the claim but cannot prove it.",
    }


def canary_rows(c: dict[str, Any]) -> list[dict[str, Any]]:
    """The canaries of ``extras["canaries"]`` sorted by repetitions, then exposure (highest
    first), with their figures as text."""
    rows = []
    for k in sorted(c["canaries"], key=lambda k: (k["repetitions"], -k["exposure"])):
        rank = k.get("exposure_rank")
        rows.append({
            "text": k["text"],
            "repetitions": int(k["repetitions"]),
            "exposure": f"{k['exposure']:.2f}",
            "exposure_value": float(k["exposure"]),
            "exposure_rank": "—" if rank is None else f"{rank:.2f}",
            "max_exposure": f"{k['max_exposure']:.2f}",
        })
    return rows


def canary_means(c: dict[str, Any]) -> list[tuple[int, float, int]]:
    """``(repetitions, mean exposure, canaries)`` for each repetition count, ascending."""
    by: dict[int, list[float]] = {}
    for k in c["canaries"]:
        by.setdefault(int(k["repetitions"]), []).append(float(k["exposure"]))
    return [(r, float(np.mean(v)), len(v)) for r, v in sorted(by.items())]


def canary_line(c: dict[str, Any]) -> str:
    """One line of text on the canaries' exposure by repetition count."""
    means = ", ".join(f"{r}×: {m:.2f}" for r, m, _ in canary_means(c))
    top = max((float(k["max_exposure"]) for k in c["canaries"]), default=0.0)
    return (f"Canary exposure ({len(c['canaries'])} canaries of {c['template']!r}, "
            f"|R| = {int(c['space_size']):,}): mean exposure by repetitions {means} "
            f"(maximum log2|R| = {top:.2f} bits)")


#: Characters that make a spreadsheet read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text_cell(text: str) -> str:
    """A text for ``records.csv``: a leading ``'`` on cells a spreadsheet would run as a
    formula (CSV injection), then CSV quoting where needed.

    Examples
    --------
    >>> csv_text_cell('=HYPERLINK("x")'), csv_text_cell("plain"), csv_text_cell("a,b")
    ('"\\'=HYPERLINK(""x"")"', 'plain', '"a,b"')
    """
    s = "'" + text if text.startswith(_FORMULA_START) else text
    if any(ch in s for ch in ',"\r\n'):
        s = '"' + s.replace('"', '""') + '"'
    return s
