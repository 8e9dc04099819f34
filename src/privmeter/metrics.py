"""ROC, AUC, TPR at fixed FPR, confidence intervals and empirical epsilon lower bounds.

Every curve comes from one counting primitive, :func:`binary_counts`: the exact ROC of the
scores (one point per distinct score, ties kept together), never a threshold grid.
Convention: a higher score means "more likely a member"; ``membership`` is True for members.
(The parameter was called ``labels`` before; ``labels=`` is still accepted, with a
``DeprecationWarning``, for one release. Class labels are ``labels`` elsewhere, e.g. in
:class:`~privmeter.SignalTable`.)
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from privmeter._validation import as_membership, check_fraction

__all__ = [
    "DEFAULT_FPR_LEVELS",
    "EPSILON_SIDES",
    "EpsilonBound",
    "RocCurve",
    "TprAtFpr",
    "advantage",
    "auc",
    "auc_delong_ci",
    "auc_hoeffding_ci",
    "binary_counts",
    "clopper_pearson",
    "epsilon_lower_bound",
    "epsilon_lower_bound_detail",
    "ppv",
    "ppv_at_fpr_from_roc",
    "roc_curve",
    "tpr_at_fpr",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _accepts_labels_keyword(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Let ``fn(scores, labels=...)`` (the old keyword) still work, with a DeprecationWarning."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "labels" in kwargs:
            if "membership" in kwargs or len(args) > 1:
                raise TypeError(
                    f"{fn.__name__}() got both membership and the deprecated labels=; pass "
                    "membership only"
                )
            warnings.warn(
                f"{fn.__name__}(labels=...) is deprecated: the keyword is now membership= "
                "(labels means class labels elsewhere in privmeter)",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs["membership"] = kwargs.pop("labels")
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


#: FPR levels reported by default: 10%, 1%, 0.1%, 0.01% and 0.
DEFAULT_FPR_LEVELS: tuple[float, ...] = (0.1, 0.01, 0.001, 0.0001, 0.0)


def _check_scores_labels(
    scores: ArrayLike, membership: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(membership)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    if y.shape != s.shape:
        raise ValueError(f"membership has shape {y.shape} but scores have shape {s.shape}")
    y = as_membership("membership", y)
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(
            f"scores contain {int(bad.sum())} NaN or infinite values; first at index "
            f"{int(np.argmax(bad))}"
        )
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError(
            f"need both members and non-members, got {n_pos} members of {y.size} points"
        )
    return s, y


@_accepts_labels_keyword
def binary_counts(
    scores: ArrayLike, membership: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Cumulative true and false positives at each distinct score threshold.

    The counting primitive behind every curve. Thresholds are the distinct scores in
    decreasing order; a point is predicted "member" when its score is ``>=`` the threshold.

    Returns
    -------
    tp, fp : ndarray of int
        Numbers of members and non-members with score ``>= thresholds[i]``.
    thresholds : ndarray of float
        Distinct scores, decreasing.

    Examples
    --------
    >>> tp, fp, thr = binary_counts([0.9, 0.8, 0.8, 0.1], [1, 0, 1, 0])
    >>> tp.tolist(), fp.tolist(), thr.tolist()
    ([1, 2, 2], [0, 1, 2], [0.9, 0.8, 0.1])
    """
    s, y = _check_scores_labels(scores, membership)
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted = s[order]
    y_sorted = y[order]
    # last index of each run of equal scores
    distinct = np.flatnonzero(np.diff(s_sorted)) if s_sorted.size > 1 else np.array([], int)
    ends = np.r_[distinct, s_sorted.size - 1]
    tp = np.cumsum(y_sorted, dtype=np.int64)[ends]
    fp = (ends + 1 - tp).astype(np.int64)
    return tp, fp, s_sorted[ends]


@dataclass(frozen=True)
class RocCurve:
    """An exact ROC curve, starting at (0, 0) and ending at (1, 1).

    ``thresholds[0]`` is ``+inf`` (nobody predicted member).
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    tp: NDArray[np.int64]
    fp: NDArray[np.int64]
    n_pos: int
    n_neg: int


@_accepts_labels_keyword
def roc_curve(scores: ArrayLike, membership: ArrayLike) -> RocCurve:
    """Exact ROC curve of membership scores (ties give one diagonal segment).

    Examples
    --------
    >>> r = roc_curve([0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0])
    >>> r.fpr.tolist(), r.tpr.tolist()
    ([0.0, 0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0, 1.0])
    """
    tp, fp, thr = binary_counts(scores, membership)
    n_pos, n_neg = int(tp[-1]), int(fp[-1])
    tp = np.r_[0, tp].astype(np.int64)
    fp = np.r_[0, fp].astype(np.int64)
    thresholds = np.r_[np.inf, thr]
    return RocCurve(
        fpr=fp / n_neg,
        tpr=tp / n_pos,
        thresholds=thresholds,
        tp=tp,
        fp=fp,
        n_pos=n_pos,
        n_neg=n_neg,
    )


@_accepts_labels_keyword
def auc(scores: ArrayLike, membership: ArrayLike) -> float:
    """Area under the exact ROC curve (= P[score_member > score_nonmember] + 0.5 P[tie]).

    Examples
    --------
    >>> auc([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])
    0.75
    """
    r = roc_curve(scores, membership)
    return float(np.trapezoid(r.tpr, r.fpr))


def _midranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(stats.rankdata(x, method="average"), dtype=np.float64)


@_accepts_labels_keyword
def auc_delong_ci(
    scores: ArrayLike,
    membership: ArrayLike,
    *,
    confidence: float = 0.95,
    clusters: ArrayLike | None = None,
) -> tuple[float, tuple[float, float]]:
    """AUC with a DeLong confidence interval, in O(n log n).

    DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach", Biometrics 44(3);
    fast midrank algorithm of Sun & Xu (2014), IEEE Signal Processing Letters 21(11).
    The interval is the normal interval on the AUC, clipped to ``[0, 1]``.

    With ``clusters`` (one id per score), scores that share an id are not taken as
    independent: the variance is Obuchowski's (1997, "Nonparametric analysis of clustered
    ROC curve data", Biometrics 53(2)) estimator over clusters,
    ``I / (I - 1) * sum_i (S10_i / m + S01_i / n)^2`` with ``S10_i`` (``S01_i``) the sum of
    the centred placement values of cluster ``i``'s members (non-members). This is the
    interval to use for results pooled over several targets, where each audited record
    appears once per target (the algorithm and record games): treating its repeated scores
    as independent understates the variance. The interval then uses Student's t with
    ``I - 1`` degrees of freedom (``I`` clusters) instead of the normal quantile, so that a
    record game with a handful of records does not claim the precision of a large sample.

    Examples
    --------
    >>> a, (lo, hi) = auc_delong_ci([0.9, 0.8, 0.7, 0.6, 0.2, 0.1], [1, 1, 0, 1, 0, 0])
    >>> round(a, 4), lo < a < hi
    (0.8889, True)
    """
    _check_confidence(confidence)
    s, y = _check_scores_labels(scores, membership)
    pos, neg = s[y], s[~y]
    m, n = pos.size, neg.size
    r_all = _midranks(np.r_[pos, neg])
    r_pos = _midranks(pos)
    r_neg = _midranks(neg)
    auc_value = float((r_all[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    v10 = (r_all[:m] - r_pos) / n  # structural components of the members
    v01 = 1.0 - (r_all[m:] - r_neg) / m  # and of the non-members
    k_pos, k_neg = m, n
    n_cl = 0
    if clusters is None:
        s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
        s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
        se = math.sqrt(max(s10 / m + s01 / n, 0.0))
    else:
        c = np.asarray(clusters)
        if c.shape != s.shape:
            raise ValueError(f"clusters have shape {c.shape} but scores have shape {s.shape}")
        _, inv = np.unique(c, return_inverse=True)
        inv = inv.reshape(-1)
        n_cl = int(inv.max()) + 1
        a = np.bincount(inv[y], weights=v10 - auc_value, minlength=n_cl)
        b = np.bincount(inv[~y], weights=v01 - auc_value, minlength=n_cl)
        var = n_cl / (n_cl - 1) * float(np.sum((a / m + b / n) ** 2)) if n_cl > 1 else 0.0
        se = math.sqrt(max(var, 0.0))
        # the Hoeffding fallback below counts independent units: clusters, not scores
        k_pos = int(np.unique(inv[y]).size)
        k_neg = int(np.unique(inv[~y]).size)
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    if clusters is not None and n_cl > 1:
        # few clusters: the variance is estimated from n_cl sums, use Student's t with
        # n_cl - 1 degrees of freedom (the usual small-sample correction of a cluster
        # variance; it tends to the normal quantile for many clusters)
        z = float(stats.t.ppf(0.5 + confidence / 2.0, df=n_cl - 1))
    if se == 0.0:
        # Perfect separation (or one score for everybody): DeLong's variance estimate is 0,
        # and an interval of width zero would claim certainty from a finite sample. Use the
        # distribution-free Hoeffding interval instead, valid at every sample size.
        return auc_value, auc_hoeffding_ci(auc_value, k_pos, k_neg, confidence=confidence)
    return auc_value, (max(0.0, auc_value - z * se), min(1.0, auc_value + z * se))


def auc_hoeffding_ci(
    auc_value: float, n_pos: int, n_neg: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Distribution-free interval on an AUC, valid at every sample size.

    The AUC of ``n_pos`` members and ``n_neg`` non-members is a two-sample U-statistic
    with a kernel in ``[0, 1]``; Hoeffding's inequality for U-statistics (Hoeffding 1963,
    "Probability inequalities for sums of bounded random variables", JASA 58(301), section 5)
    gives ``P(|AUC - E AUC| >= t) <= 2 exp(-2 k t^2)`` with ``k = min(n_pos, n_neg)``, so
    ``t = sqrt(log(2 / alpha) / (2 k))``. It is conservative (wide) but, unlike DeLong's
    normal approximation, never claims more certainty than a few observations carry.

    Examples
    --------
    >>> lo, hi = auc_hoeffding_ci(1.0, 5, 5)  # 5 models with a record, 5 without
    >>> round(lo, 3), hi
    (0.393, 1.0)
    """
    _check_confidence(confidence)
    k = min(int(n_pos), int(n_neg))
    if k < 1:
        raise ValueError(f"need at least one member and one non-member, got {n_pos}, {n_neg}")
    t = math.sqrt(math.log(2.0 / (1.0 - confidence)) / (2.0 * k))
    return max(0.0, float(auc_value) - t), min(1.0, float(auc_value) + t)


def _check_confidence(confidence: float) -> None:
    check_fraction("confidence", confidence)


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, *, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact (Clopper–Pearson 1934) two-sided interval for a binomial proportion ``k / n``.

    ``[Beta(a/2; k, n-k+1), Beta(1-a/2; k+1, n-k)]`` with ``a = 1 - confidence``; the lower
    bound is 0 when ``k = 0`` and the upper bound 1 when ``k = n``.

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 10)
    >>> float(lo), round(float(hi), 4)
    (0.0, 0.3085)
    """
    _check_confidence(confidence)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore"):
        lo = np.where(k_arr > 0, special.betaincinv(k_arr, n_arr - k_arr + 1, alpha / 2), 0.0)
        hi = np.where(
            k_arr < n_arr, special.betaincinv(k_arr + 1, n_arr - k_arr, 1 - alpha / 2), 1.0
        )
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


@dataclass(frozen=True)
class TprAtFpr:
    """TPR at a fixed FPR level, with exact confidence intervals.

    Attributes
    ----------
    level : float
        The requested FPR level.
    tpr : float
        Largest TPR over thresholds whose empirical FPR is ``<= level``.
    tpr_ci : (float, float)
        Clopper–Pearson interval on that TPR (``n_members`` trials).
    fpr : float
        The empirical FPR at the chosen threshold.
    fpr_ci : (float, float)
        Clopper–Pearson interval on that FPR (``n_non_members`` trials): where the true FPR of
        the chosen threshold can lie.
    threshold : float
        Score threshold (predict member when ``score >= threshold``; ``inf`` = never).
    resolvable : bool
        False when ``level < 1 / n_non_members``: the data cannot tell this level apart from
        zero false positives, so the figure is TPR at zero observed false positives.
    """

    level: float
    tpr: float
    tpr_ci: tuple[float, float]
    fpr: float
    fpr_ci: tuple[float, float]
    threshold: float
    resolvable: bool
    n_members: int
    n_non_members: int

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable dict (``inf`` threshold as the string ``"inf"``)."""
        return {
            "level": self.level,
            "tpr": self.tpr,
            "tpr_ci": list(self.tpr_ci),
            "fpr": self.fpr,
            "fpr_ci": list(self.fpr_ci),
            "threshold": _float_to_json(self.threshold),
            "resolvable": self.resolvable,
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> TprAtFpr:
        """Inverse of :meth:`to_dict`."""
        tpr_ci = d["tpr_ci"]
        fpr_ci = d["fpr_ci"]
        assert isinstance(tpr_ci, list) and isinstance(fpr_ci, list)
        return cls(
            level=float(d["level"]),  # type: ignore[arg-type]
            tpr=float(d["tpr"]),  # type: ignore[arg-type]
            tpr_ci=(float(tpr_ci[0]), float(tpr_ci[1])),
            fpr=float(d["fpr"]),  # type: ignore[arg-type]
            fpr_ci=(float(fpr_ci[0]), float(fpr_ci[1])),
            threshold=_float_from_json(d["threshold"]),
            resolvable=bool(d["resolvable"]),
            n_members=int(d["n_members"]),  # type: ignore[call-overload]
            n_non_members=int(d["n_non_members"]),  # type: ignore[call-overload]
        )


def _float_to_json(x: float) -> float | str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def _float_from_json(x: object) -> float:
    """A float from a JSON value: a number, or a string such as ``"NaN"`` or ``"Infinity"``."""
    return float(x)  # type: ignore[arg-type]


def _check_level(level: float) -> float:
    lv = float(level)
    if not 0.0 <= lv <= 1.0 or math.isnan(lv):
        raise ValueError(f"FPR level must be in [0, 1], got {level!r}")
    return lv


def tpr_at_fpr_from_roc(roc: RocCurve, level: float, *, confidence: float = 0.95) -> TprAtFpr:
    """:func:`tpr_at_fpr` on a precomputed :class:`RocCurve`."""
    lv = _check_level(level)
    # fp is non-decreasing: the last ROC point with fp <= level * n_neg has the largest TPR
    max_fp = math.floor(lv * roc.n_neg + 1e-9)
    i = int(np.searchsorted(roc.fp, max_fp, side="right")) - 1
    tp, fp = int(roc.tp[i]), int(roc.fp[i])
    tlo, thi = clopper_pearson(tp, roc.n_pos, confidence=confidence)
    flo, fhi = clopper_pearson(fp, roc.n_neg, confidence=confidence)
    return TprAtFpr(
        level=lv,
        tpr=tp / roc.n_pos,
        tpr_ci=(float(tlo), float(thi)),
        fpr=fp / roc.n_neg,
        fpr_ci=(float(flo), float(fhi)),
        threshold=float(roc.thresholds[i]),
        resolvable=lv * roc.n_neg >= 1.0,
        n_members=roc.n_pos,
        n_non_members=roc.n_neg,
    )


@_accepts_labels_keyword
def tpr_at_fpr(
    scores: ArrayLike, membership: ArrayLike, level: float, *, confidence: float = 0.95
) -> TprAtFpr:
    """Largest TPR over thresholds with empirical FPR ``<= level``, with Clopper–Pearson CIs.

    Examples
    --------
    >>> r = tpr_at_fpr([0.9, 0.8, 0.7, 0.6, 0.1], [1, 0, 1, 1, 0], 0.0)
    >>> r.tpr, r.fpr, r.resolvable
    (0.3333333333333333, 0.0, False)
    """
    return tpr_at_fpr_from_roc(roc_curve(scores, membership), level, confidence=confidence)


@_accepts_labels_keyword
def advantage(scores: ArrayLike, membership: ArrayLike) -> float:
    """Membership advantage ``max_t TPR(t) - FPR(t)`` (Yeom et al. 2018, CSF).

    Examples
    --------
    >>> advantage([0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0])
    1.0
    """
    r = roc_curve(scores, membership)
    return float(np.max(r.tpr - r.fpr))


def ppv(tpr: float, fpr: float, prior: float) -> float:
    """Positive predictive value at membership prior ``pi``: ``pi TPR / (pi TPR + (1-pi) FPR)``.

    Returns NaN when the attack predicts nobody a member (TPR = FPR = 0).

    Examples
    --------
    >>> ppv(0.5, 0.01, 0.5)
    0.9803921568627451
    >>> round(ppv(0.5, 0.01, 0.01), 4)
    0.3356
    """
    if not 0.0 < prior < 1.0:
        raise ValueError(f"membership prior must be in (0, 1), got {prior!r}")
    num = prior * tpr
    den = num + (1.0 - prior) * fpr
    return float(num / den) if den > 0 else float("nan")


def ppv_at_fpr_from_roc(roc: RocCurve, level: float, prior: float) -> float:
    """PPV of the attacker's member calls at FPR ``<= level`` under membership prior ``prior``.

    The operating point is the one :func:`tpr_at_fpr_from_roc` reports. When it makes no
    member call at all (TPR = FPR = 0: the highest score is shared by members and
    non-members, so any deterministic threshold below it exceeds the FPR level), the PPV of
    :func:`ppv` is 0/0. The attacker can still operate at FPR ``<= level`` with a
    randomised threshold that calls each point of the top tie group a member with a small
    probability (a Neyman–Pearson randomised test); the expected TPR and FPR then scale
    together, so the PPV is that of the whole top tie group. This is what is returned, so
    the PPV is always a number in ``[0, 1]``.

    Examples
    --------
    >>> r = roc_curve([1.0, 1.0, 1.0, 0.2, 0.1], [1, 1, 0, 0, 0])  # top score tied
    >>> ppv_at_fpr_from_roc(r, 0.01, 0.5)  # 2 members and 1 non-member share it
    0.75
    """
    lv = _check_level(level)
    if not 0.0 < prior < 1.0:
        raise ValueError(f"membership prior must be in (0, 1), got {prior!r}")
    max_fp = math.floor(lv * roc.n_neg + 1e-9)
    i = int(np.searchsorted(roc.fp, max_fp, side="right")) - 1
    if roc.tp[i] == 0 and roc.fp[i] == 0:
        i = 1  # the first ROC point after (0, 0): the top tie group
    return ppv(float(roc.tp[i]) / roc.n_pos, float(roc.fp[i]) / roc.n_neg, prior)


#: Which inequality of the DP hypothesis test produced an epsilon lower bound.
EPSILON_SIDES: tuple[str, ...] = ("members identified", "non-members identified")


@dataclass(frozen=True)
class EpsilonBound:
    """An empirical epsilon lower bound and where on the ROC it comes from.

    (eps, delta)-DP bounds both error trade-offs of every membership test (Kairouz, Oh &
    Viswanath 2015): ``TPR <= e^eps FPR + delta`` (the test cannot identify *members*
    much more often than it falsely accuses non-members) and
    ``1 - FPR <= e^eps (1 - TPR) + delta`` (it cannot identify *non-members*, by a low
    score, much more often than it misses members). The bound is the larger of the two.

    Attributes
    ----------
    value : float
        The lower bound (``max(members, non_members)``, at least 0).
    side : str or None
        ``"members identified"`` or ``"non-members identified"`` (see
        :data:`EPSILON_SIDES`): the inequality that produced ``value``; None when it is 0.
    members, non_members : float
        The bound from each inequality alone.
    threshold : float or None
        Score threshold of the deciding test (predict member when ``score >= threshold``).
    tpr, fpr : float or None
        Empirical TPR and FPR of that test.
    tpr_lo, fpr_hi : float or None
        The Bonferroni-corrected Clopper–Pearson bounds the value was computed from.
    """

    value: float
    side: str | None
    members: float
    non_members: float
    threshold: float | None
    tpr: float | None
    fpr: float | None
    tpr_lo: float | None
    fpr_hi: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable dict (an infinite threshold as a string)."""
        return {
            "value": self.value,
            "side": self.side,
            "members": self.members,
            "non_members": self.non_members,
            "threshold": None if self.threshold is None else _float_to_json(self.threshold),
            "tpr": self.tpr,
            "fpr": self.fpr,
            "tpr_lo": self.tpr_lo,
            "fpr_hi": self.fpr_hi,
        }

    def describe(self) -> str:
        """One phrase: which side, at which threshold / TPR / FPR."""
        if self.side is None or self.tpr is None or self.fpr is None:
            return "no test refutes epsilon = 0"
        where = (
            f"threshold {self.threshold:.4g}, TPR {100 * self.tpr:.3g}%, "
            f"FPR {100 * self.fpr:.3g}%"
        )
        if self.side == EPSILON_SIDES[0]:
            return f"from identifying members ({where})"
        return (
            f"from identifying non-members: few members score below the threshold ({where})"
        )


def epsilon_lower_bound_detail(
    roc: RocCurve,
    *,
    delta: float = 0.0,
    confidence: float = 0.95,
    max_thresholds: int = 200,
) -> EpsilonBound:
    """:func:`epsilon_lower_bound` on a precomputed ROC, with the side and test behind it."""
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta!r}")
    _check_confidence(confidence)
    if max_thresholds < 1:
        raise ValueError(f"max_thresholds must be >= 1, got {max_thresholds!r}")
    n = roc.tp.size
    # Label-free candidate thresholds: ROC points at evenly spaced ranks of the pooled scores
    # (the rank of a threshold, tp + fp, does not depend on which points are members).
    ranks = roc.tp + roc.fp
    total = roc.n_pos + roc.n_neg
    if n > max_thresholds:
        targets = np.linspace(0, total, max_thresholds)
        idx = np.unique(np.clip(np.searchsorted(ranks, targets, side="left"), 0, n - 1))
    else:
        idx = np.arange(n)
    # Bonferroni over the candidate thresholds and the two inequalities: the bound holds
    # with the stated confidence even though the best threshold is picked afterwards.
    n_tests = 2 * idx.size
    per_test = 1.0 - (1.0 - confidence) / n_tests
    # one-sided bounds at level (1 - per_test) each == two-sided CP at 1 - 2 (1 - per_test)
    two_sided = 1.0 - 2.0 * (1.0 - per_test)
    tpr_lo, _ = clopper_pearson(roc.tp[idx], roc.n_pos, confidence=two_sided)
    _, fpr_hi = clopper_pearson(roc.fp[idx], roc.n_neg, confidence=two_sided)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(np.maximum(tpr_lo - delta, 0.0)) - np.log(fpr_hi)
        e2 = np.log(np.maximum(1.0 - fpr_hi - delta, 0.0)) - np.log(1.0 - tpr_lo)
    e1 = np.where(np.isfinite(e1), e1, -np.inf)
    e2 = np.where(np.isfinite(e2), e2, -np.inf)
    best1 = float(max(np.max(e1), 0.0))
    best2 = float(max(np.max(e2), 0.0))
    value = max(best1, best2)
    if value <= 0.0:
        return EpsilonBound(0.0, None, best1, best2, None, None, None, None, None)
    side = 0 if best1 >= best2 else 1
    j = int(idx[int(np.argmax(e1 if side == 0 else e2))])
    k = int(np.searchsorted(idx, j))
    return EpsilonBound(
        value=value,
        side=EPSILON_SIDES[side],
        members=best1,
        non_members=best2,
        threshold=float(roc.thresholds[j]),
        tpr=float(roc.tpr[j]),
        fpr=float(roc.fpr[j]),
        tpr_lo=float(tpr_lo[k]),
        fpr_hi=float(fpr_hi[k]),
    )


def epsilon_lower_bound_from_roc(
    roc: RocCurve,
    *,
    delta: float = 0.0,
    confidence: float = 0.95,
    max_thresholds: int = 200,
) -> float:
    """:func:`epsilon_lower_bound` on a precomputed :class:`RocCurve`."""
    return epsilon_lower_bound_detail(
        roc, delta=delta, confidence=confidence, max_thresholds=max_thresholds
    ).value


@_accepts_labels_keyword
def epsilon_lower_bound(
    scores: ArrayLike,
    membership: ArrayLike,
    *,
    delta: float = 0.0,
    confidence: float = 0.95,
    max_thresholds: int = 200,
) -> float:
    """Empirical lower bound on the DP epsilon implied by an attack's ROC.

    For a mechanism that is (eps, delta)-DP, every test satisfies
    ``TPR <= e^eps FPR + delta`` and ``1 - FPR <= e^eps (1 - TPR) + delta`` (Kairouz, Oh &
    Viswanath 2015, ICML). With Clopper–Pearson bounds ``TPR_lo`` and ``FPR_hi`` this gives
    (Jagielski, Ullman & Oprea 2020, NeurIPS)::

        eps >= max(log((TPR_lo - delta) / FPR_hi), log((1 - FPR_hi - delta) / (1 - TPR_lo)))

    The bound is maximised over at most ``max_thresholds`` label-free candidate thresholds
    with a Bonferroni correction over them, so the result is a valid lower bound at the
    stated ``confidence`` (taking the best threshold without correction overstates it).
    It treats each audit point as an independent trial, which is exact for the record-level
    game and a heuristic for a single trained model.

    Examples
    --------
    >>> scores = [1.0] * 90 + [0.0] * 10 + [1.0] * 5 + [0.0] * 95
    >>> membership = [1] * 100 + [0] * 100
    >>> round(epsilon_lower_bound(scores, membership), 2)
    1.84
    """
    return epsilon_lower_bound_from_roc(
        roc_curve(scores, membership), delta=delta, confidence=confidence,
        max_thresholds=max_thresholds,
    )
