"""``report.html``: one self-contained page, rendered with jinja2 (autoescaped).

:func:`build_context` gathers everything the report shows as plain strings, numbers and PNG
bytes; the HTML template and the PDF writer both render it, so they show the same content.
Every string from the data (attack names, class names, feature names and values, card keys
and values) goes through jinja2's autoescaping: a ``<script>`` in a column name stays text.

The page loads nothing: plots are base64 PNGs, CSS is inline, and its one inline script
(sortable tables) is allowed by hash in a Content-Security-Policy that forbids every other
source, so even a crafted value could not make the browser fetch anything.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from privmeter._io import atomic_write
from privmeter._version import __version__
from privmeter.references import REFERENCES
from privmeter.report import plots, tables
from privmeter.report.verdict import RULE_LINES, Verdict, assess_attack, epsilon_note

if TYPE_CHECKING:
    from privmeter.report import AuditReport
    from privmeter.result import AttackResult

__all__ = [
    "ALWAYS_DESCRIBED",
    "CITATIONS",
    "GAME_METHOD",
    "METHODS",
    "build_context",
    "render_html",
    "token_class",
    "token_view",
    "truncate_text",
    "write_html",
]

#: Most records in the most-exposed table, and most feature columns shown per record.
TOP_K = 10
MAX_FEATURES = 12
#: Most characters of a record's text, and most tokens of its coloured view, in the
#: most-exposed table (longer ones end with "…"; the full text is in records.csv).
MAX_TEXT_CHARS = 400
MAX_TOKENS = 120
#: Lower edges of the token colour bins (log-probability, natural log), from the most
#: improbable bin ``tok0`` (red; below the first edge) to the most probable ``tok7``
#: (green; at least the last edge, p >= 0.78). A token that is not scored (NaN) is
#: ``tok-na`` (grey).
TOKEN_BIN_EDGES: tuple[float, ...] = (-8.0, -6.0, -4.0, -3.0, -2.0, -1.0, -0.25)

#: References cited by the report, by key (the entries of :data:`privmeter.references.REFERENCES`).
CITATIONS: dict[str, str] = {key: ref.text() for key, ref in REFERENCES.items()}

#: The game the audit plays, described first in the methods section: (term, text, keys).
GAME_METHOD: tuple[str, str, tuple[str, ...]] = (
    "Membership inference game",
    "The attacker gets the trained model and a candidate record and guesses whether the "
    "record was in the training set. Audit points are half members, half non-members; "
    "each attack gives every point a score (higher = more likely member).", ("ye2022",))

#: The statistics of the methods section, after the attacks: (term, explanation, citation
#: keys). Each attack the report holds is described by its registry entry
#: (:attr:`privmeter.AttackSpec.title`, ``method`` and ``cites``).
METHODS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ROC and TPR at fixed FPR",
     "The exact ROC of the scores (one point per distinct score). TPR at FPR α is the "
     "largest TPR over thresholds whose empirical FPR is at most α, with exact "
     "Clopper–Pearson intervals on the TPR (members as trials) and on the FPR. With n "
     "non-members the smallest non-zero FPR is 1/n: below it the figure is marked not "
     "resolvable, because it is only the TPR at zero observed false positives.",
     ("clopper1934", "carlini2022")),
    ("AUC", "Area under the exact ROC, with a DeLong confidence interval.", ("delong1988",)),
    ("Membership advantage", "max over thresholds of TPR − FPR.", ("yeom2018",)),
    ("PPV", "Precision of the attacker's member calls, π·TPR / (π·TPR + (1 − π)·FPR), at the "
     "audit set's membership prior π.", ()),
    ("Empirical ε lower bound",
     "An (ε, δ)-DP training algorithm forces TPR ≤ e^ε·FPR + δ (members identified) and "
     "1 − FPR ≤ e^ε·(1 − TPR) + δ (non-members identified) for every test. The bound "
     "applies both to Clopper–Pearson bounds of the ROC, with a Bonferroni correction "
     "over the candidate thresholds, and reports which side and which threshold produced it. "
     "The non-members side can be large for an attack that finds no member (a few records "
     "with a loss too high for a model trained on them): that is a DP violation but exposes "
     "no training record, so it does not raise the risk verdict. It treats audit points as "
     "independent trials (exact for the record-level game, a heuristic for one trained "
     "model).",
     ("kairouz2015", "jagielski2020")),
)

_LEVEL_ADVICE: dict[str, str] = {
    "low": "No attack showed membership leakage above the rule's thresholds with this "
    "audit. Larger audits (more non-members) can reveal risk at lower FPRs.",
    "moderate": "Attacks identify training records measurably better than chance. Review the "
    "most exposed records below; regularisation or differentially private training reduce "
    "this risk.",
    "high": "Attacks identify a meaningful share of training records with few false alarms. "
    "Mitigate (e.g. differentially private training, less overfitting, removing or "
    "deduplicating the exposed records) before release, or document the accepted risk.",
    "severe": "Attacks identify many training records with few false alarms: treat the "
    "training data as exposed through this model. Do not release it as is.",
}

_SCRIPT = """(function () {
  "use strict";
  document.documentElement.setAttribute("data-js", "ready");
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      var asc = false;
      function sort() {
        asc = !asc;
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var u = parseFloat(x.getAttribute("data-sort"));
          var v = parseFloat(y.getAttribute("data-sort"));
          var c = (isNaN(u) || isNaN(v)) ? x.textContent.localeCompare(y.textContent) : u - v;
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      }
      th.tabIndex = 0;
      th.title = "Sort by this column";
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
})();"""


#: Rows of the record game's per-record table (the rest stay in results.json).
PER_RECORD_ROWS = 100

def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


# --------------------------------------------------------------------------- context
def flatten_card(card: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(key, text)`` pairs of a nested card; nested keys joined with ``' › '``."""
    out: list[tuple[str, str]] = []
    for k, v in card.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(flatten_card(v, key + " › "))
        else:
            out.append((key, tables.fmt_value(v)))
    return out


def _tpr_rows(r: AttackResult) -> list[dict[str, Any]]:
    rows = []
    for t in r.tpr_at_fpr:
        if t.resolvable:
            note = ""
            p = r.ppv_at(t.level) if t.level > 0 else float("nan")
            ppv = "—" if math.isnan(p) else tables.fmt_pct(p)
        else:
            ppv = "—"
            if t.level == 0.0:
                note = "FPR 0 cannot be measured from a finite sample"
            else:
                need = math.ceil(1.0 / t.level - 1e-9)
                note = f"needs ≥ {need:,} non-members, the audit has {r.n_non_members:,}"
            note += f"; TPR at zero observed false positives: {tables.fmt_pct(t.tpr)}"
        rows.append(
            {
                "level": t.level,
                "level_text": tables.fmt_level(t.level),
                "resolvable": t.resolvable,
                "tpr": tables.fmt_tpr(t, not_resolvable="not resolvable"),
                "tpr_value": t.tpr,
                "fpr": f"{tables.fmt_pct(t.fpr)} [{tables.fmt_pct(t.fpr_ci[0])}, "
                f"{tables.fmt_pct(t.fpr_ci[1])}]",
                "threshold": tables.fmt_num(t.threshold),
                "ppv": ppv,
                "note": note,
            }
        )
    return rows


def token_class(logprob: float) -> str:
    """The CSS class of a token with this log-probability: ``tok0`` ... ``tok7`` or
    ``tok-na`` (see :data:`TOKEN_BIN_EDGES`).

    Examples
    --------
    >>> token_class(-12.0), token_class(-2.5), token_class(-0.01), token_class(float("nan"))
    ('tok0', 'tok4', 'tok7', 'tok-na')
    """
    if math.isnan(logprob):
        return "tok-na"
    return f"tok{int(np.searchsorted(TOKEN_BIN_EDGES, logprob, side='right'))}"


def truncate_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters with a trailing "…", and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + "…", True


def token_view(
    pieces: Sequence[str], logprobs: Any, limit: int = MAX_TOKENS
) -> tuple[list[dict[str, str]], bool]:
    """The first ``limit`` tokens as ``{"text", "cls", "title"}`` (escaped by the template),
    and whether tokens were left out."""
    out = []
    for piece, lp in zip(pieces[:limit], np.asarray(logprobs)[:limit].tolist(), strict=True):
        title = "not scored" if math.isnan(lp) else f"log p = {lp:.3f} (p = {math.exp(lp):.3g})"
        out.append({"text": piece, "cls": token_class(lp), "title": title})
    return out, len(pieces) > limit


def _feature_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return tables.fmt_num(float(v))
    return str(v)


def _missing_short(verdict: Verdict) -> str:
    """``"lira and rmia did not run; the verdict rests on loss only ..."`` (reasons listed
    below it in the report, so they are not repeated here)."""
    if not verdict.not_run:
        return ""
    names = list(dict.fromkeys(a for a, _ in verdict.not_run))
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    rests = ", ".join(verdict.ran) if verdict.ran else "the attacks that ran"
    return f"{who} did not run; the verdict rests on {rests} only and may understate the risk"


def build_context(
    report: AuditReport, figures: Mapping[str, bytes] | None = None
) -> dict[str, Any]:
    """Everything the report shows, formatted once, for the HTML template and the PDF.

    Parameters
    ----------
    report : AuditReport
    figures : mapping of str to bytes, optional
        PNG plots by file name (:func:`privmeter.report.plots.report_figures`); drawn when
        not given.
    """
    figs = dict(plots.report_figures(report) if figures is None else figures)
    results = report.results
    labels = report.labels
    verdict = report.verdict
    per_attack = [assess_attack(r, index=i) for i, r in enumerate(results)]
    best = results[verdict.index]
    conf = f"{100 * best.confidence:g}%"
    records = report.records
    class_names = None if records is None else records.class_names

    attacks = []
    for i, (r, lab) in enumerate(zip(results, labels, strict=True)):
        roc_name, hist_name = plots.attack_figure_names(i, r)
        attacks.append(
            {
                "index": i,
                "anchor": f"attack-{i + 1}",
                "label": lab,
                "attack": r.attack,
                "target": tables.fmt_target(r.target),
                "level": per_attack[i].level,
                "n_members": r.n_members,
                "n_non_members": r.n_non_members,
                "auc": tables.fmt_auc(r.auc, r.auc_ci),
                "advantage": f"{r.advantage:.3f}",
                "epsilon_lb": f"{r.epsilon_lb:.3f}",
                "epsilon_note": epsilon_note(r),
                "delta": f"{r.delta:g}",
                "seed": "—" if r.seed is None else str(r.seed),
                "params": flatten_card(r.params),
                "extras": flatten_card(r.extras),
                "auto": tables.auto_summary(r.extras) if r.attack == "auto" else None,
                "tpr_rows": _tpr_rows(r),
                "roc_png": figs.get(roc_name),
                "hist_png": figs.get(hist_name),
                "roc_name": roc_name,
                "hist_name": hist_name,
                "resolution": f"1/{r.n_non_members:,} = {tables.fmt_pct(1 / r.n_non_members)}",
            }
        )

    summary = [
        {
            "row": row,
            "anchor": f"attack-{i + 1}",
            "auc_sort": results[i].auc,
            "tpr_sort": [results[i].tpr_at(lv).tpr for lv in tables.SUMMARY_LEVELS],
        }
        for i, row in enumerate(
            tables.summary_rows(results, [v.level for v in per_attack])
        )
    ]

    # most exposed records of the deciding attack
    exposed = []
    feature_names: list[str] = []
    n_hidden_features = 0
    has_features = records is not None and records.features is not None
    has_images = records is not None and records.images is not None
    if has_features and records is not None and records.feature_names is not None:
        feature_names = list(records.feature_names[:MAX_FEATURES])
        n_hidden_features = len(records.feature_names) - len(feature_names)
    has_texts = records is not None and (
        records.texts is not None or records.tokens is not None)
    for rec in tables.top_records(best, records, k=TOP_K):
        j = rec.record_index
        thumb = None
        values: list[str] | None = None
        text: str | None = None
        text_cut = False
        toks: list[dict[str, str]] | None = None
        toks_cut = False
        if records is not None and j is not None:
            if records.images is not None:
                thumb = plots.thumbnail_png(records.images[j])
            if records.features is not None:
                values = [_feature_text(v) for v in records.features[j, :MAX_FEATURES]]
            if records.texts is not None:
                text, text_cut = truncate_text(records.texts[j])
            if records.tokens is not None and records.tokens[j] is not None:
                pieces, lps = records.tokens[j]  # type: ignore[misc]
                toks, toks_cut = token_view(pieces, lps)
        exposed.append(
            {
                "rank": rec.rank,
                "point_id": rec.point_id,
                "label": "—" if rec.label is None else tables.class_name(rec.label, class_names),
                "score": tables.fmt_num(rec.score),
                "score_value": rec.score,
                "fpr": tables.fmt_pct(rec.fpr),
                "fpr_value": rec.fpr,
                "n_above": rec.n_non_members_above,
                "thumb": thumb,
                "feature_values": values,
                "text": text,
                "text_cut": text_cut,
                "tokens": toks,
                "tokens_cut": toks_cut,
            }
        )

    class_figs, skipped = tables.per_class(best, class_names)
    per_class_rows = [
        {
            "label": f.label,
            "name": f.name,
            "n_members": f.n_members,
            "n_non_members": f.n_non_members,
            "auc": tables.fmt_auc(f.auc, f.auc_ci),
            "auc_value": f.auc,
            "tpr": [tables.fmt_tpr(t, not_resolvable="not resolvable") for t in f.tpr_at_fpr],
            "tpr_resolvable": [t.resolvable for t in f.tpr_at_fpr],
        }
        for f in class_figs
    ]

    # record game: how well each record's presence is detected across the trained models
    per_record_rows: list[dict[str, Any]] = []
    for entry in best.extras.get("per_record", []) or []:
        if not isinstance(entry, dict) or entry.get("auc") in (None, "nan"):
            continue
        auc_value = float(entry["auc"])
        ci = entry.get("auc_ci")
        per_record_rows.append(
            {
                "point_id": entry.get("point_id"),
                "n_in": entry.get("n_in", "—"),
                "n_out": entry.get("n_out", "—"),
                "auc": tables.fmt_auc(auc_value, (float(ci[0]), float(ci[1])))
                if ci else f"{auc_value:.3f} ({entry.get('note', 'too few models')})",
                "auc_value": auc_value,
            }
        )
    per_record_rows.sort(key=lambda r: -float(r["auc_value"]))
    n_per_record = len(per_record_rows)
    per_record_rows = per_record_rows[:PER_RECORD_ROWS]

    extras = report.extras
    methods, cited = _methods(results, extras)
    blind = extras.get("blind_baseline")
    blind_row = None
    if blind:
        counts = (f"{blind['n_members']} / {blind['n_non_members']}"
                  if blind.get("n_members") is not None
                  and blind.get("n_non_members") is not None else "—")
        blind_row = {"row": tables.blind_row(blind), "auc_sort": blind["auc"], "counts": counts,
                     "comparable": blind["comparable"],
                     "tpr_sort": [blind.get("tpr_at_1pct") or "", ""]}
    dp = extras.get("dp")
    canaries = extras.get("canaries")
    canary_ctx = None
    if canaries and canaries["canaries"]:
        canary_ctx = {
            "template": canaries["template"],
            "space_size": f"{int(canaries['space_size']):,}",
            "log2_space": f"{math.log2(int(canaries['space_size'])):.2f}",
            "n_candidates": "—" if canaries.get("n_candidates") is None
            else f"{int(canaries['n_candidates']):,}",
            "method": canaries.get("method") or "",
            "rows": [dict(r, text=truncate_text(r["text"], 200)[0])
                     for r in tables.canary_rows(canaries)],
            "means": [{"repetitions": r, "mean": f"{m:.2f}", "n": n}
                      for r, m, n in tables.canary_means(canaries)],
            "png": figs.get(plots.CANARY_NAME),
        }

    tpr_ref = (
        "—"
        if verdict.reference_fpr is None or verdict.tpr_lo is None
        else tables.fmt_pct(verdict.tpr_lo)
    )
    best_t1, best_t01 = (best.tpr_at(lv) for lv in tables.SUMMARY_LEVELS)
    key_figures = [
        ("AUC", f"{best.auc:.3f}", f"{conf} CI [{best.auc_ci[0]:.3f}, {best.auc_ci[1]:.3f}]"),
        ("TPR at 1% FPR", *_key_tpr(best_t1, conf)),
        ("TPR at 0.1% FPR", *_key_tpr(best_t01, conf)),
        ("Empirical ε lower bound", f"{best.epsilon_lb:.2f}",
         f"{conf} confidence, δ = {best.delta:g}; "
         + (best.epsilon_detail.side or "no test refutes ε = 0")),
    ]
    identical = tables.identical_groups(results, labels)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "title": report.title,
        "generated": now,
        "version": __version__,
        "confidence": conf,
        "csp": _csp(),
        "script": _SCRIPT,
        "verdict": {
            "level": verdict.level,
            "label": labels[verdict.index],
            "anchor": f"attack-{verdict.index + 1}",
            "reason": verdict.reason,
            "advice": _LEVEL_ADVICE[verdict.level],
            "reference": "—"
            if verdict.reference_fpr is None
            else tables.fmt_level(verdict.reference_fpr),
            "tpr_lo": tpr_ref,
            "lift": "—" if verdict.lift is None else f"{verdict.lift:.3g}×",
            "auc_lo": f"{verdict.auc_lo:.3f}",
            "epsilon_note": verdict.epsilon_note,
            "missing": verdict.missing_text,
            "missing_short": _missing_short(verdict),
            "not_run": [{"attack": a, "reason": why} for a, why in verdict.not_run],
            "blind_warning": tables.blind_warning(blind, best, labels[verdict.index]),
            "dp_claim": tables.dp_claim_line(report),
        },
        "dp": None if not dp else tables.dp_figures(dp),
        "blind": blind_row,
        "canaries": canary_ctx,
        "dp_bound": "" if not extras.get("dp_claim")
        else plots.dp_bound_label(extras["dp_claim"]),
        "utility": tables.utility_lines(report.card),
        "utility_metric": str((report.card.get("utility") or {}).get("metric", ""))
        if isinstance(report.card.get("utility"), dict) else "",
        "eps_non_members": tables.NON_MEMBERS_NOTE
        if any(r.epsilon_detail.side == tables.NON_MEMBERS_SIDE for r in results) else "",
        "identical": [
            f"{' and '.join(g)} give identical ROC curves (the same ranking of the audit "
            "points): they are drawn as one curve"
            for g in identical
        ],
        "rule": list(RULE_LINES),
        "key_figures": key_figures,
        "summary": summary,
        "summary_levels": [tables.fmt_level(lv) for lv in tables.SUMMARY_LEVELS],
        "overview_png": figs.get(plots.OVERVIEW_NAME),
        "card": flatten_card(report.card),
        "attacks": attacks,
        "exposed": exposed,
        "exposed_label": labels[verdict.index],
        "exposed_has_images": has_images,
        "exposed_has_features": has_features,
        "exposed_has_texts": has_texts,
        "exposed_has_tokens": any(e["tokens"] is not None for e in exposed),
        "token_bins": _token_legend(),
        "feature_names": feature_names,
        "n_hidden_features": n_hidden_features,
        "records_given": records is not None,
        "n_best_non_members": best.n_non_members,
        "has_labels": best.labels is not None,
        "per_class": per_class_rows,
        "per_class_skipped": [
            {"label": c, "name": name, "why": why} for c, name, why in skipped
        ],
        "per_class_png": figs.get(plots.PER_CLASS_NAME),
        "per_class_label": labels[verdict.index],
        "per_record": per_record_rows,
        "n_per_record": n_per_record,
        "methods": methods,
        "citations": [(n, REFERENCES[k].text()) for n, k in enumerate(cited, start=1)],
    }


#: Attacks the methods section always describes, run or not: those of a default audit
#: (``privmeter.audit.DEFAULT_ATTACKS``, not imported: the report does not depend on the
#: pipeline). Any other registered attack is described when the report holds its results.
ALWAYS_DESCRIBED: tuple[str, ...] = ("loss", "population", "reference", "lira", "rmia", "auto")


def _attack_methods(results: Sequence[AttackResult]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(term, text, keys) of :data:`ALWAYS_DESCRIBED`, then of each other registered attack
    among ``results`` in their order, from the attack registry.

    A result's label is its attack's name, or ``name#2``... when an attack runs twice. An
    attack that is not registered in this process (results saved by another program) has
    no entry.
    """
    from privmeter.attacks import attack_info, list_attacks

    known = set(list_attacks())
    names = list(dict.fromkeys(
        [n for n in ALWAYS_DESCRIBED if n in known]
        + [name for r in results if (name := r.attack.split("#")[0]) in known]
    ))
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for name in names:
        spec = attack_info(name)
        out.append((spec.title or spec.name, spec.method or spec.summary, tuple(spec.cites)))
    return out


#: The methods entries of the report's extras: (extras key, term, default text).
EXTRA_METHODS: tuple[tuple[str, str, str], ...] = (
    ("blind_baseline", "Blind baseline (model-free)",
     "A classifier that never queries the model predicts membership from the texts alone "
     "(cross-fitted on n-gram and length features). Members and non-members collected "
     "separately often differ in date, topic or length; when this baseline separates them "
     "about as well as the attacks, the attacks' AUC measures that difference, not leakage. "
     "It is reported beside the attacks and is not part of the verdict."),
    ("canaries", "Canary exposure",
     "Random secrets of a fixed format are inserted into the training data a chosen number "
     "of times. A canary's exposure is log2 |R| − log2 rank, its rank among all |R| possible "
     "secrets by the model's likelihood (estimated by fitting the candidates' distribution "
     "when |R| is too large to score them all): log2 |R| means the model singles out the "
     "secret, 0 that it prefers every other candidate."),
    ("dp", "Differential-privacy audit",
     "Canaries are included in training at random; how well an attacker guesses which ones "
     "were included gives a lower bound on ε at the stated confidence, compared with the "
     "accountant's claimed ε."),
    ("dp_claim", "DP bound on the ROC",
     "A model trained with (ε, δ)-DP forces every attack to TPR ≤ min(1, e^ε·FPR + δ, "
     "1 − e^−ε·(1 − δ − FPR)) at each FPR; the dashed curve on the ROC plots."),
)


def _extra_methods(extras: Mapping[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for key, term, text in EXTRA_METHODS:
        e = extras.get(key)
        if not e:
            continue
        cites = e.get("cites")
        keys = tables.EXTRAS_CITES[key] if cites is None else tuple(cites)
        method = str(e.get("method") or "")
        body = text
        if method:
            body += f" {'Estimate' if key == 'canaries' else 'Method'}: {method}."
        out.append((term, body, tuple(k for k in keys if k in REFERENCES)))
    return out


def _methods(
    results: Sequence[AttackResult], extras: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The methods section's entries (the game, the attacks, the statistics, the extras)
    and the cited keys in reference order.

    References are numbered in the order the attacks, then the game, then the statistics,
    then the extras first cite them.
    """
    attacks = _attack_methods(results)
    more = _extra_methods(extras or {})
    cited: list[str] = []
    for _, _, keys in [*attacks, GAME_METHOD, *METHODS, *more]:
        cited.extend(k for k in keys if k not in cited)
    number = {k: i + 1 for i, k in enumerate(cited)}
    entries = [
        {"term": term, "text": text, "refs": [number[k] for k in keys]}
        for term, text, keys in [GAME_METHOD, *attacks, *METHODS, *more]
    ]
    return entries, cited


def _token_legend() -> list[dict[str, str]]:
    """The token colour bins as ``{"cls", "text"}`` for the legend under the table."""
    edges = TOKEN_BIN_EDGES
    out = [{"cls": "tok0", "text": f"log p < {edges[0]:g}"}]
    for i in range(1, len(edges)):
        out.append({"cls": f"tok{i}", "text": f"{edges[i - 1]:g} to {edges[i]:g}"})
    out.append({"cls": f"tok{len(edges)}", "text": f"≥ {edges[-1]:g}"})
    out.append({"cls": "tok-na", "text": "not scored"})
    return out


def _key_tpr(t: Any, conf: str) -> tuple[str, str]:
    if not t.resolvable:
        return (
            "not resolvable",
            f"needs ≥ {math.ceil(1 / t.level - 1e-9):,} non-members, has {t.n_non_members:,}",
        )
    return (
        tables.fmt_pct(t.tpr),
        f"{conf} CI [{tables.fmt_pct(t.tpr_ci[0])}, {tables.fmt_pct(t.tpr_ci[1])}]",
    )


# --------------------------------------------------------------------------- render
def _data_uri(png: bytes | None) -> str:
    if png is None:
        return ""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("report.html needs jinja2: pip install 'privmeter[report]'") from e
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("privmeter.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = _data_uri
    return env


def render_html(report: AuditReport, *, figures: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page."""
    import markupsafe

    ctx = build_context(report, figures)
    ctx["script"] = markupsafe.Markup(ctx["script"])  # our own constant, hashed in the CSP
    return str(_environment().get_template("report.html.j2").render(**ctx))


def write_html(
    report: AuditReport,
    path: str | os.PathLike[str],
    *,
    figures: Mapping[str, bytes] | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return the path."""
    p = Path(path)
    atomic_write(p, render_html(report, figures=figures).encode("utf-8"))
    return p
