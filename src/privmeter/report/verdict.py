"""The risk verdict of an audit: low / moderate / high / severe, from the best attack.

The rule is deliberately simple and conservative, so that an engineer and an auditor can
check it by hand from the figures in the report:

1. For each attack, pick the *reference FPR level*: 0.1% when the audit set resolves it
   (at least 1,000 non-members), else 1% when resolvable (at least 100 non-members);
   otherwise the attack has no low-FPR evidence and only its AUC counts.
2. ``lift`` = the 95% Clopper–Pearson **lower** bound of the TPR at the threshold that
   reaches that level, divided by the 95% Clopper–Pearson **upper** bound of the FPR that
   this threshold has (not by the nominal level: with 150 non-members one false positive is
   an FPR of 0.67% whose upper bound is 3.7%, and dividing by the level let chance alone
   read as a lift of 2 in about 2% of null audits). A random guess has TPR = FPR, i.e.
   lift 1: lift 10 means that, even in the
   pessimistic reading of the data, the attack finds members ten times more often than it
   falsely accuses non-members.
3. ``AUC_lo`` = the lower bound of the DeLong interval on the AUC.
4. ``eps_members`` = the empirical epsilon lower bound from the *members-identified* side
   of the DP test, ``log(TPR_lo / FPR_hi)`` maximised over thresholds with a Bonferroni
   correction (:func:`privmeter.metrics.epsilon_lower_bound_detail`). ``e^eps_members`` is
   a lift too (at the best of several thresholds instead of the reference one), so the lift
   used below is ``max(lift, e^eps_members)``: a bound that shows members identified
   several times more often than non-members are accused raises the level, and the verdict
   and the bound cannot contradict each other on that side.
5. Level: *severe* if lift >= 50 or AUC_lo >= 0.80; *high* if lift >= 10 or AUC_lo >= 0.65;
   *moderate* if lift >= 2 or AUC_lo >= 0.55; *low* otherwise.
6. The verdict is the worst level over all attacks, each assessed with its bounds (steps
   2-4) corrected for the number of attacks (the rule ``"bonferroni"``, below). Among
   attacks at that level, the one whose evidence exceeds the level's threshold most
   decides: the larger of ``lift / lift threshold`` and ``(AUC_lo - 0.5) / (AUC threshold -
   0.5)`` (the thresholds of *moderate* for a *low* verdict), so the headline figure is the
   strongest one.

Taking the worst of ``k`` attacks is a multiple comparison: with each attack at its own 95%
bounds, the chance that *some* attack's lower bound overstates its true figure grows with
``k`` (measured: six attacks whose true AUC is just below the 0.55 of *moderate* gave a
*moderate* verdict in 12% of audits at 95% each, 2% with the correction). The verdict
therefore uses a (weighted) Bonferroni correction, the rule ``"bonferroni"``
(:data:`VERDICT_RULES`): the attacks are grouped into distinct tests (results with exactly
the same ROC curve, such as ``loss`` and ``population``, are one test), each test gets a share
``w`` of the error budget ``1 - c`` (``c`` the results' confidence, 95% by default) and every
bound of its attacks (Clopper-Pearson TPR and FPR bounds, the DeLong AUC interval, the
Bonferroni-corrected epsilon bound) is recomputed from its scores at confidence
``1 - w (1 - c)`` (:func:`at_confidence`). The shares are equal (``1 / k``), except that the
pre-selected ``auto`` attack (chosen on reference models, never the target:
:mod:`privmeter.attacks.auto`), when it ran beside other attacks, gets half of the budget and
the other tests share the other half: the weights are fixed before any result is seen, so the
family of bounds holds together with probability at least ``c`` whatever the dependence
between the attacks (Bonferroni's inequality). Holm's (1979) step-down procedure would give
the same headline: its first step is this Bonferroni step, and the verdict rests on the
single strongest rejection. ``rule="uncorrected"`` gives the former worst-of rule (each
attack at its own confidence), for comparison.
   Attacks that were requested but did not run are named in the verdict: the verdict then
   rests only on the attacks that ran.

The reported epsilon lower bound is two-sided: DP also forbids identifying *non-members*
confidently (very high losses that a model trained on the record would not give). That
side exposes no training record, so it does not raise the membership-risk verdict; an
attack can therefore be *low* with a bound above 1. The report says which side produced the
bound; ``privmeter gate --max-epsilon`` checks the two-sided (DP) bound.

Low-FPR figures come first because an attacker who is confidently right about a few records
breaches their privacy even when the average-case AUC is close to 0.5 (Carlini et al.,
S&P 2022). Using lower confidence bounds means small audits cannot inflate the verdict by
chance; they can understate it, so *low* means "no risk demonstrated at this sample size",
not "no risk".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from privmeter.result import AttackResult

__all__ = [
    "RISK_LEVELS",
    "RULE_LINES",
    "RULE_TEXT",
    "VERDICT_RULES",
    "Verdict",
    "assess_attack",
    "assess_attacks",
    "assess_risk",
    "at_confidence",
    "family_confidences",
]

#: Risk levels, from least to most severe.
RISK_LEVELS: tuple[str, ...] = ("low", "moderate", "high", "severe")

#: Reference FPR levels, tried in order: the first one the audit set resolves is used.
REFERENCE_LEVELS: tuple[float, ...] = (0.001, 0.01)

#: ``(level, minimum lift, minimum AUC lower bound)``, most severe first.
THRESHOLDS: tuple[tuple[str, float, float], ...] = (
    ("severe", 50.0, 0.80),
    ("high", 10.0, 0.65),
    ("moderate", 2.0, 0.55),
)

#: The rule in words, printed in every report.
RULE_LINES: tuple[str, ...] = (
    "Reference FPR: 0.1% when the audit set resolves it (at least 1,000 non-members), "
    "else 1% (at least 100 non-members); with fewer non-members only the AUC is used.",
    "Lift = lower 95% Clopper–Pearson bound of the TPR at the threshold that reaches the "
    "reference FPR, divided by the upper 95% Clopper–Pearson bound of that threshold's FPR "
    "(a random guess has lift 1; chance in neither the members nor the non-members can "
    "inflate it). AUC_lo = lower bound of the DeLong interval on the AUC.",
    "Severe: lift ≥ 50 or AUC_lo ≥ 0.80. High: lift ≥ 10 or AUC_lo ≥ 0.65. "
    "Moderate: lift ≥ 2 or AUC_lo ≥ 0.55. Low: otherwise.",
    "The lift also counts the ε lower bound from the members-identified side: e^ε = "
    "TPR_lo / FPR_hi at the best Bonferroni-corrected threshold is a lift as well, so a bound "
    "that shows members identified more often than chance raises the level.",
    "The ε lower bound is two-sided: DP also forbids confidently identifying non-members "
    "(records with a loss too high for a model trained on them). That side exposes no "
    "training record and does not raise the verdict, so an attack can be 'low' with ε > 1; "
    "the report names the side of every bound, and gate --max-epsilon checks the two-sided "
    "bound.",
    "The verdict is the worst level over all attacks that ran (an attack that could not run "
    "is named in the verdict); of the attacks at that level, the one whose lift or AUC_lo "
    "exceeds the level's threshold by the largest factor is named. Lower confidence bounds "
    "keep chance from inflating it; a small "
    "audit can understate the risk, so 'low' means no risk was demonstrated at this sample "
    "size, not that there is none.",
    "Taking the worst of several attacks is a multiple comparison, so each attack's bounds "
    "are Bonferroni-corrected: with k distinct attacks (identical ROC curves count once) "
    "each is assessed at confidence 1 − 5%/k (the pre-selected 'auto' attack, when it ran "
    "beside others, at 1 − 2.5% and the others share the other 2.5%), so that all the "
    "bounds hold together with 95% confidence.",
)

#: The verdict rules :func:`assess_risk` knows.
VERDICT_RULES: tuple[str, ...] = ("bonferroni", "uncorrected")

#: One sentence per rule, for the report (``Verdict.rule_text``).
RULE_TEXT: dict[str, str] = {
    "bonferroni": "Bonferroni-corrected worst of {k} attack{s}: each attack's bounds are at "
    "confidence {each} so that all of them hold together with {family} confidence{auto}.",
    "uncorrected": "Uncorrected worst of {k} attack{s}: each attack's bounds are at its own "
    "{family} confidence, so the chance that some bound overstates grows with the number of "
    "attacks.",
}


@dataclass(frozen=True)
class Verdict:
    """The risk level of one attack result, or of a whole audit (its worst attack).

    Attributes
    ----------
    level : str
        One of :data:`RISK_LEVELS`.
    attack : str
        Name of the attack that decided the level.
    index : int
        Position of that attack's result in the audit's results.
    target : int
        Target model of that result.
    reference_fpr : float or None
        FPR level the lift was measured at; None when the audit set resolves neither 0.1%
        nor 1% (fewer than 100 non-members).
    tpr_lo : float or None
        Lower confidence bound of the TPR at ``reference_fpr``.
    lift : float or None
        ``tpr_lo / fpr_hi`` at the reference threshold, or ``e^eps_members`` (the same ratio
        at the best Bonferroni-corrected threshold) when that is what set the level.
    auc : float
        AUC of the attack.
    auc_lo : float
        Lower bound of the AUC interval.
    confidence : float
        Confidence level of both bounds.
    reason : str
        One sentence saying which figure set the level.
    epsilon_lb : float or None
        The deciding attack's two-sided empirical epsilon lower bound.
    epsilon_note : str
        Which side produced that bound, at which threshold, TPR and FPR, and whether it
        counts in the verdict.
    not_run : tuple of (attack, reason)
        Attacks that were requested but produced no result: the verdict rests on the others.
    ran : tuple of str
        The attacks the verdict rests on.
    rule : str
        The verdict rule (one of :data:`VERDICT_RULES`; ``"uncorrected"`` for a single
        attack assessed by :func:`assess_attack`).
    rule_text : str
        The rule in one sentence, with this audit's numbers (for the report).
    family_size : int
        Number of distinct attacks (tests) the correction counted.
    family_confidence : float or None
        Confidence with which all the attacks' bounds hold together (None for one attack
        assessed alone). ``confidence`` is then the deciding attack's corrected level.
    """

    level: str
    attack: str
    index: int
    target: int
    reference_fpr: float | None
    tpr_lo: float | None
    lift: float | None
    auc: float
    auc_lo: float
    confidence: float
    reason: str
    epsilon_lb: float | None = None
    epsilon_note: str = ""
    not_run: tuple[tuple[str, str], ...] = ()
    ran: tuple[str, ...] = ()
    rule: str = "uncorrected"
    rule_text: str = ""
    family_size: int = 1
    family_confidence: float | None = None

    @property
    def rank(self) -> int:
        """Position of :attr:`level` in :data:`RISK_LEVELS` (0 = low)."""
        return RISK_LEVELS.index(self.level)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "level": self.level,
            "attack": self.attack,
            "index": self.index,
            "target": self.target,
            "reference_fpr": self.reference_fpr,
            "tpr_lo": self.tpr_lo,
            "lift": self.lift,
            "auc": self.auc,
            "auc_lo": self.auc_lo,
            "confidence": self.confidence,
            "reason": self.reason,
            "epsilon_lb": self.epsilon_lb,
            "epsilon_note": self.epsilon_note,
            "not_run": [{"attack": a, "reason": r} for a, r in self.not_run],
            "rule": self.rule,
            "rule_text": self.rule_text,
            "family_size": self.family_size,
            "family_confidence": self.family_confidence,
            "missing": self.missing_text,
            "text": self.text,
        }

    @property
    def missing_text(self) -> str:
        """``"LiRA and RMIA did not run: ...; the verdict rests on ..."`` (empty if none)."""
        if not self.not_run:
            return ""
        names = [a for a, _ in self.not_run]
        reasons = list(dict.fromkeys(r for _, r in self.not_run))
        rests = ", ".join(self.ran) if self.ran else "the attacks that ran"
        if len(reasons) == 1:
            who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            what = f"{who} did not run: {reasons[0]}"
        else:
            what = "; ".join(f"{a} did not run: {r}" for a, r in self.not_run)
        return f"{what}; the verdict rests on {rests} only and may understate the risk"

    @property
    def text(self) -> str:
        """The whole verdict as text: level, deciding attack, reason, ε bound, missing attacks."""
        parts = [
            f"{self.level.upper()} ({self.attack}, target "
            f"{'pooled' if self.target < 0 else self.target}): {self.reason}."
        ]
        if self.epsilon_note:
            parts.append(f"{self.epsilon_note}.")
        if self.not_run:
            parts.append(f"WARNING: {self.missing_text}.")
        return " ".join(parts)


def _conf(c: float) -> str:
    """A confidence level as a percentage: ``95%``, ``98.33%`` (4 significant digits)."""
    return f"{100 * c:.4g}%"


def _pct(x: float) -> str:
    return f"{100.0 * x:.3g}%"


def assess_attack(result: AttackResult, *, index: int = 0) -> Verdict:
    """Risk level of one attack result under the rule of this module.

    Parameters
    ----------
    result : AttackResult
        The attack to assess.
    index : int, default 0
        Its position in the audit (copied into the verdict).

    Returns
    -------
    Verdict

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> res = AttackResult.from_scores("demo", [1.0] * 80 + [0.0] * 120, [1] * 100 + [0] * 100)
    >>> v = assess_attack(res)  # 80 of 100 members above every one of 100 non-members
    >>> v.level, v.reference_fpr, round(v.tpr_lo, 3), round(v.lift, 1)  # FPR_hi = 3.6%
    ('severe', 0.01, 0.708, 19.6)
    """
    reference: float | None = None
    tpr_lo: float | None = None
    fpr_hi: float | None = None
    lift: float | None = None
    for level in REFERENCE_LEVELS:
        t = result.tpr_at(level)
        if t.resolvable:
            reference, tpr_lo, fpr_hi = level, t.tpr_ci[0], t.fpr_ci[1]
            lift = tpr_lo / fpr_hi
            break
    eps = result.epsilon_detail
    eps_lift = math.exp(eps.members) if eps.members > 0 else None
    auc_lo = float(result.auc_ci[0])
    chosen = "low"
    reason = ""
    conf = _conf(result.confidence)
    for name, min_lift, min_auc in THRESHOLDS:
        if lift is not None and reference is not None and tpr_lo is not None and lift >= min_lift:
            chosen = name
            reason = (
                f"at FPR {_pct(reference)} the TPR is at least {_pct(tpr_lo)} while the "
                f"FPR is at most {_pct(fpr_hi or reference)} ({conf} bounds), {lift:.3g}× a "
                f"random guess (threshold for {name}: {min_lift:g}×)"
            )
            break
        if eps_lift is not None and eps_lift >= min_lift and eps.tpr_lo is not None:
            chosen = name
            reason = (
                f"the ε lower bound from identifying members is {eps.members:.3g}: at score "
                f"threshold {eps.threshold:.4g} the TPR is at least {_pct(eps.tpr_lo)} while "
                f"the FPR is at most {_pct(eps.fpr_hi or 0.0)} ({conf}, Bonferroni-corrected), "
                f"{eps_lift:.3g}× a random guess (threshold for {name}: {min_lift:g}×)"
            )
            lift = max(lift or 0.0, eps_lift)
            break
        if auc_lo >= min_auc:
            chosen = name
            reason = (
                f"the AUC is at least {auc_lo:.3f} ({conf} lower bound; "
                f"threshold for {name}: {min_auc:.2f})"
            )
            break
    if not reason:
        parts = [f"AUC lower bound {auc_lo:.3f} < 0.55"]
        if lift is not None and reference is not None:
            parts.insert(0, f"lift {lift:.3g}× < 2× at FPR {_pct(reference)}")
        else:
            parts.insert(
                0,
                f"only {result.n_non_members} non-members: no FPR level of 1% or below is "
                "resolvable",
            )
        reason = "; ".join(parts)
    return Verdict(
        level=chosen,
        attack=result.attack,
        index=index,
        target=result.target,
        reference_fpr=reference,
        tpr_lo=tpr_lo,
        lift=lift,
        auc=float(result.auc),
        auc_lo=auc_lo,
        confidence=float(result.confidence),
        reason=reason,
        epsilon_lb=float(result.epsilon_lb),
        epsilon_note=epsilon_note(result),
    )


def epsilon_note(result: AttackResult) -> str:
    """Which side produced the ε lower bound, where, and whether it counts in the verdict."""
    eps = result.epsilon_detail
    if eps.side is None:
        return f"ε lower bound 0 (δ = {result.delta:g}): no test refutes ε = 0"
    text = f"ε lower bound {eps.value:.3g} (δ = {result.delta:g}) {eps.describe()}"
    if eps.side != "members identified":
        text += (
            f"; from the members-identified side it is {eps.members:.3g}. Identifying "
            "non-members exposes no training record, so this side does not raise the verdict"
        )
    return text


def _margin(v: Verdict) -> float:
    """How far the verdict's evidence exceeds the threshold of its level (1 = at it)."""
    thresholds = {name: (lift, auc) for name, lift, auc in THRESHOLDS}
    min_lift, min_auc = thresholds.get(v.level, thresholds["moderate"])
    by_auc = (v.auc_lo - 0.5) / (min_auc - 0.5)
    return by_auc if v.lift is None else max(v.lift / min_lift, by_auc)


def _sort_key(v: Verdict) -> tuple[int, float, float]:
    return (v.rank, _margin(v), v.auc_lo)


def at_confidence(result: AttackResult, confidence: float) -> AttackResult:
    """``result`` with every interval recomputed at another ``confidence``.

    The scores, membership and point ids an :class:`~privmeter.result.AttackResult` holds
    determine all its figures, so the result is rebuilt from them
    (:meth:`~privmeter.result.AttackResult.from_scores`, same FPR levels and delta): the
    Clopper-Pearson TPR and FPR bounds, the DeLong AUC interval (clustered when point ids
    repeat, as for pooled results) and the Bonferroni-corrected epsilon bound are those of the
    same counts at the new level. Returns ``result`` itself when the level is unchanged.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> r = AttackResult.from_scores("demo", [3.0, 2.0, 1.5, 1.0, 0.0, -1.0], [1, 1, 0, 1, 0, 0])
    >>> wide = at_confidence(r, 0.99)
    >>> wide.auc == r.auc and wide.auc_ci[0] < r.auc_ci[0], wide.confidence
    (True, 0.99)
    """
    from privmeter.result import AttackResult

    if confidence == result.confidence:
        return result
    return AttackResult.from_scores(
        result.attack, result.scores, result.membership, params=result.params,
        target=result.target, point_ids=result.point_ids, labels=result.labels,
        seed=result.seed, confidence=confidence, delta=result.delta,
        fpr_levels=tuple(t.level for t in result.tpr_at_fpr), extras=result.extras,
    )


def _test_key(r: AttackResult) -> tuple[Any, ...]:
    """Results with the same key have the same ROC, hence the same figures: one test."""
    return (r.target, r.n_members, r.n_non_members, r.roc.tp.tobytes(), r.roc.fp.tobytes(),
            r.point_ids.size != np.unique(r.point_ids).size)


def _is_auto(r: AttackResult) -> bool:
    """A result of the ``auto`` attack (also under a label such as ``auto#2``)."""
    return r.attack.split("#")[0] == "auto"


def family_confidences(results: Sequence[AttackResult]) -> tuple[list[float], int]:
    """The corrected confidence of each result under the ``"bonferroni"`` rule, and ``k``.

    ``k`` is the number of distinct tests (results with the same ROC are one). Each test
    gets the share ``1 / k`` of the error budget ``1 - c`` of its results' confidence ``c``;
    when a result of the ``auto`` attack is among ``k >= 2`` tests, its test gets ``1 / 2``
    and the others ``1 / (2 (k - 1))``.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> a = AttackResult.from_scores("loss", [0.9, 0.2, 0.4, 0.1], [1, 0, 1, 0])
    >>> b = AttackResult.from_scores("population", [9.0, 2.0, 4.0, 1.0], [1, 0, 1, 0])
    >>> c = AttackResult.from_scores("lira", [0.1, 0.2, 0.4, 0.9], [1, 0, 1, 0])
    >>> conf, k = family_confidences([a, b, c])
    >>> k, [round(x, 4) for x in conf]  # loss and population are one test
    (2, [0.975, 0.975, 0.975])
    """
    keys = [_test_key(r) for r in results]
    tests = list(dict.fromkeys(keys))
    k = len(tests)
    auto_tests = {key for key, r in zip(keys, results, strict=True) if _is_auto(r)}
    weights: dict[tuple[Any, ...], float] = {}
    for key in tests:
        if k >= 2 and auto_tests and len(auto_tests) < k:
            weights[key] = 0.5 / len(auto_tests) if key in auto_tests else (
                0.5 / (k - len(auto_tests)))
        else:
            weights[key] = 1.0 / k
    return [1.0 - weights[key] * (1.0 - r.confidence)
            for key, r in zip(keys, results, strict=True)], k


def assess_attacks(
    results: Sequence[AttackResult], *, rule: str = "bonferroni"
) -> list[Verdict]:
    """The verdict of each result within the audit, under ``rule`` (see the module docstring).

    With ``"bonferroni"`` each result is assessed with its bounds at its corrected confidence
    (:func:`family_confidences`); with ``"uncorrected"`` at its own. The ε lower bound and
    note of each verdict stay those of the result as reported (at its own confidence).
    """
    if rule not in VERDICT_RULES:
        raise ValueError(f"unknown verdict rule {rule!r}; known rules: {', '.join(VERDICT_RULES)}")
    if rule == "uncorrected":
        conf = [r.confidence for r in results]
    else:
        conf = family_confidences(results)[0]
    out = []
    for i, (r, c) in enumerate(zip(results, conf, strict=True)):
        v = assess_attack(at_confidence(r, c), index=i)
        if c != r.confidence:
            v = dataclasses.replace(v, epsilon_lb=float(r.epsilon_lb), epsilon_note=epsilon_note(r))
        out.append(v)
    return out


def _rule_text(rule: str, results: Sequence[AttackResult], k: int,
               conf: Sequence[float]) -> str:
    family = f"{100 * min(r.confidence for r in results):g}%"
    each = sorted({round(100 * c, 2) for c in conf})
    each_text = " or ".join(f"{c:.4g}%" for c in each)
    auto = ""
    if rule == "bonferroni" and k >= 2 and any(_is_auto(r) for r in results) and not all(
        _is_auto(r) for r in results
    ):
        auto = " (the pre-selected 'auto' attack gets half of the error budget)"
    return RULE_TEXT[rule].format(k=k, s="" if k == 1 else "s", each=each_text, family=family,
                                  auto=auto)


def assess_risk(
    results: Sequence[AttackResult], *, not_run: Sequence[tuple[str, str]] = (),
    rule: str = "bonferroni",
) -> Verdict:
    """The audit's verdict: the worst level over ``results`` under the corrected rule.

    Each result is assessed by :func:`assess_attack` with its bounds Bonferroni-corrected
    for the number of distinct attacks (:func:`assess_attacks`, :func:`family_confidences`;
    ``rule="uncorrected"``: each at its own confidence). Among the attacks at the worst level,
    the one whose lift or AUC lower bound exceeds that level's threshold by the largest factor
    decides (see the module docstring).

    Parameters
    ----------
    results : sequence of AttackResult
    not_run : sequence of (attack, reason)
        Attacks that were requested but did not run; named in the verdict's text.
    rule : {"bonferroni", "uncorrected"}
        The verdict rule (:data:`VERDICT_RULES`).

    Raises
    ------
    ValueError
        If ``results`` is empty or ``rule`` is unknown.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> member = [1] * 100 + [0] * 100
    >>> res = [AttackResult.from_scores(a, [1.0] * 80 + [0.0] * 120, member)
    ...        for a in ("loss", "lira")]
    >>> v = assess_risk(res)  # identical ROCs: one test, no correction
    >>> v.rule, v.family_size, v.confidence
    ('bonferroni', 1, 0.95)
    """
    if len(results) == 0:
        raise ValueError("need at least one attack result to assess the risk, got none")
    verdicts = assess_attacks(results, rule=rule)
    best = max(verdicts, key=_sort_key)
    missing = tuple((str(a), str(r)) for a, r in not_run)
    ran = tuple(dict.fromkeys(r.attack for r in results))
    if rule == "bonferroni":
        conf, k = family_confidences(results)
    else:
        conf, k = [r.confidence for r in results], len({_test_key(r) for r in results})
    return dataclasses.replace(
        best, not_run=missing, ran=ran, rule=rule, rule_text=_rule_text(rule, results, k, conf),
        family_size=k, family_confidence=min(r.confidence for r in results),
    )
