"""Differential-privacy auditing: lower bounds on epsilon from membership tests on canaries.

One training run (Steinke, Nasr & Jagielski, NeurIPS 2023, ``steinke2023``):

``m`` canaries are each included in training independently with probability 1/2. After
training, the auditor guesses "IN" for the ``k_plus`` highest-scoring canaries, "OUT" for the
``k_minus`` lowest, and abstains on the rest. If the training algorithm is (eps, delta)-DP, the
number of correct guesses ``v`` out of ``r = k_plus + k_minus`` is stochastically dominated
(up to a delta term) by ``Binomial(r, e^eps / (1 + e^eps))``; an observed ``v`` that this
binomial makes unlikely refutes eps, which gives an empirical lower bound on eps from a
single trained model (:func:`one_run_epsilon`).

Several training runs (Jagielski, Ullman & Oprea 2020, ``jagielski2020``; Nasr et al., USENIX
Security 2023, ``nasr2023``): each observation is a canary's score in a run where it was IN or
OUT; a threshold test's false-positive and false-negative rates get Clopper-Pearson upper
bounds, which refute every epsilon whose (eps, delta) region excludes them
(:func:`epsilon_lower_bound_runs`, Kairouz, Oh & Viswanath 2015, ``kairouz2015``), or give a
lower bound on the Gaussian-DP parameter mu that converts to epsilon at delta
(:func:`gdp_epsilon_lower_bound_runs`; Dong, Roth & Su 2022, ``dong2022``), tighter for DP-SGD,
whose privacy is close to Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from privmeter._validation import as_membership, check_fraction, is_int, is_real

__all__ = [
    "OneRunAudit",
    "RunsBound",
    "epsilon_lower_bound_runs",
    "gdp_delta",
    "gdp_epsilon_lower_bound_runs",
    "gdp_mu",
    "gdp_mu_lower_bound",
    "gdp_to_epsilon",
    "one_run_epsilon",
    "one_run_p_value",
    "tpr_bound",
]


def one_run_p_value(m: int, r: int, v: int, eps: float, delta: float = 0.0) -> float:
    """Upper bound on ``P[at least v of r guesses correct]`` under an (eps, delta)-DP null.

    Steinke, Nasr & Jagielski (2023), Theorem 3.1 (delta = 0) and its (eps, delta) form:
    with ``q = e^eps / (1 + e^eps)`` and ``B ~ Binomial(r, q)``::

        p <= P[B >= v] + 2 m delta * max_{1 <= i <= v} P[v - i <= B < v] / i

    Parameters
    ----------
    m : int
        Number of canaries (each included with probability 1/2).
    r : int
        Number of guesses (abstentions excluded).
    v : int
        Number of correct guesses.
    eps, delta : float
        The DP guarantee being tested.

    Examples
    --------
    >>> round(one_run_p_value(1000, 100, 60, 0.0), 4)  # a fair coin: P[Bin(100, .5) >= 60]
    0.0284
    """
    if not (is_int(m) and is_int(r) and is_int(v)):
        raise ValueError(f"m, r and v must be integers, got m={m!r}, r={r!r}, v={v!r}")
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if eps < 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta must be in [0, 1], got {delta!r}")
    q = 1.0 / (1.0 + math.exp(-eps))
    tail = float(stats.binom.sf(v - 1, r, q))  # P[B >= v]
    if delta == 0.0 or v == 0:
        return min(tail, 1.0)
    ks = np.arange(v - 1, -1, -1)  # v-1, v-2, ..., 0
    window = np.cumsum(stats.binom.pmf(ks, r, q))  # P[v - i <= B < v] for i = 1..v
    alpha = float(np.max(window / np.arange(1, v + 1)))
    return min(tail + 2.0 * m * delta * alpha, 1.0)


@dataclass(frozen=True)
class OneRunAudit:
    """Result of :func:`one_run_epsilon`.

    Attributes
    ----------
    epsilon : float
        The largest eps refuted at the stated confidence (0 if none is).
    k_plus, k_minus : int
        Guesses IN (top scores) and OUT (bottom scores) of the chosen test.
    guesses, correct : int
        ``r`` and ``v`` of that test.
    n_tests : int
        Number of (k_plus, k_minus) pairs tried; the level is Bonferroni-corrected for them.
    confidence, delta : float
    """

    epsilon: float
    k_plus: int
    k_minus: int
    guesses: int
    correct: int
    n_tests: int
    confidence: float
    delta: float


def _largest_refuted_eps(m: int, r: int, v: int, delta: float, level: float) -> float:
    if one_run_p_value(m, r, v, 0.0, delta) > level:
        return 0.0
    lo, hi = 0.0, 1.0
    while one_run_p_value(m, r, v, hi, delta) <= level and hi < 100.0:
        lo, hi = hi, 2.0 * hi
    for _ in range(40):  # p-value increases with eps: bisect on the boundary
        mid = 0.5 * (lo + hi)
        if one_run_p_value(m, r, v, mid, delta) <= level:
            lo = mid
        else:
            hi = mid
    return lo


#: Refuse a membership vector this unlikely under independent fair coin flips (two-sided).
BALANCE_P_MIN = 1e-4


def _check_coin_flips(membership: np.ndarray[Any, np.dtype[np.bool_]]) -> None:
    """The bound assumes each canary was included by an independent fair coin flip.

    A membership vector that such flips would almost never produce (every canary IN, or 70%
    of 1,000 IN) cannot support the bound: guessing IN for the top scores is then right far
    more often than under the null whatever the scores are, and the "lower bound" would
    measure the imbalance, not the model.
    """
    m = int(membership.size)
    k = int(membership.sum())
    if m == 0:
        raise ValueError("no canaries: scores and membership are empty")
    if k == 0 or k == m:
        raise ValueError(
            f"all {m} canaries are {'members' if k else 'non-members'}: the one-run bound needs "
            "canaries each included independently with probability 1/2 (about half IN)"
        )
    p = float(stats.binomtest(k, m, 0.5).pvalue)
    if p < BALANCE_P_MIN:
        raise ValueError(
            f"{k} of {m} canaries are members ({k / m:.0%}): fair coin flips give so uneven a "
            f"split with probability {p:.1g}. The one-run bound needs each canary included "
            "independently with probability 1/2; with another inclusion rate it overstates "
            "epsilon"
        )


def one_run_epsilon(
    scores: ArrayLike,
    membership: ArrayLike,
    *,
    k_plus: int | None = None,
    k_minus: int | None = None,
    delta: float = 0.0,
    confidence: float = 0.95,
    fractions: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
) -> OneRunAudit:
    """Empirical eps lower bound from one training run with random canaries.

    Steinke, Nasr & Jagielski (2023), "Privacy Auditing with One (1) Training Run", NeurIPS.
    ``membership[i]`` says whether canary ``i`` (included with probability 1/2, independently)
    was trained on; ``scores`` are any membership scores (higher = more likely IN), e.g. an
    :class:`~privmeter.AttackResult`'s ``scores``. With ``k_plus`` and ``k_minus`` given, that
    one test is evaluated. Otherwise every pair from ``fractions x m`` is tried and the bound
    is Bonferroni-corrected over the pairs, so picking the best pair does not overstate the
    confidence.

    Raises
    ------
    ValueError
        On malformed inputs, and when the membership vector could not come from independent
        fair coin flips (every canary IN or OUT, or a split with two-sided binomial p-value
        below :data:`BALANCE_P_MIN`): the bound does not hold for it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> inside = rng.random(2000) < 0.5
    >>> scores = np.where(rng.random(2000) < 0.88, inside, ~inside) + rng.random(2000) * 0.1
    >>> res = one_run_epsilon(scores, inside)
    >>> 1.0 < res.epsilon < 2.0  # the scores are randomized response at eps = log(.88/.12)
    True
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(membership)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(
            f"scores and membership must be 1-D of equal length, got {s.shape} and {y.shape}"
        )
    if not np.isfinite(s).all():
        raise ValueError(f"scores contain NaN or infinite values at index "
                         f"{int(np.argmax(~np.isfinite(s)))}")
    y = as_membership("membership", y)
    confidence = check_fraction("confidence", confidence)
    m = int(s.size)
    _check_coin_flips(y)
    order = np.argsort(-s, kind="mergesort")  # highest first
    y_sorted = y[order]
    in_correct = np.r_[0, np.cumsum(y_sorted)]  # correct IN guesses among the top k
    out_correct = np.r_[0, np.cumsum(~y_sorted[::-1])]  # correct OUT guesses, bottom k
    if (k_plus is None) != (k_minus is None):
        raise ValueError("give both k_plus and k_minus, or neither")
    if k_plus is not None and k_minus is not None:
        if k_plus < 0 or k_minus < 0 or k_plus + k_minus > m or k_plus + k_minus == 0:
            raise ValueError(
                f"need k_plus, k_minus >= 0 with 0 < k_plus + k_minus <= {m}, got "
                f"k_plus={k_plus}, k_minus={k_minus}"
            )
        pairs = [(int(k_plus), int(k_minus))]
    else:
        ks = sorted({max(0, min(m // 2, round(f * m))) for f in fractions} | {0})
        pairs = [(a, b) for a in ks for b in ks if a + b > 0]
    level = (1.0 - confidence) / len(pairs)
    best = OneRunAudit(0.0, pairs[0][0], pairs[0][1], 0, 0, len(pairs), confidence, delta)
    for kp, km in pairs:
        v = int(in_correct[kp] + out_correct[km])
        r = kp + km
        eps = _largest_refuted_eps(m, r, v, delta, level)
        if eps > best.epsilon:
            best = OneRunAudit(eps, kp, km, r, v, len(pairs), confidence, delta)
    return best


# --------------------------------------------------------------------------- Gaussian DP
def gdp_mu(fpr: float, fnr: float) -> float:
    """The mu of the Gaussian trade-off curve through ``(FPR, FNR)`` (Dong, Roth & Su 2022).

    mu-GDP means every test has ``FNR >= Phi(Phi^-1(1 - FPR) - mu)``; the curve through an
    observed point has ``mu = Phi^-1(1 - FPR) - Phi^-1(FNR)`` (negative when the test is worse
    than chance). Symmetric in FPR and FNR.

    Examples
    --------
    >>> round(gdp_mu(0.5, 0.5), 6), round(gdp_mu(0.05, 0.05), 3)
    (0.0, 3.29)
    """
    for name, v in (("fpr", fpr), ("fnr", fnr)):
        if not is_real(v) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"{name} must be a rate in [0, 1], got {v!r}")
    mu = float(stats.norm.isf(fpr) + stats.norm.isf(fnr))  # Phi^-1(1 - a) = isf(a)
    return 0.0 if math.isnan(mu) else mu  # (0, 1) or (1, 0): on the diagonal


def gdp_mu_lower_bound(fpr_hi: float, fnr_hi: float) -> float:
    """A lower bound on mu from *upper* confidence bounds on a test's FPR and FNR.

    If the mechanism is mu-GDP (Dong, Roth & Su 2022, ``dong2022``), then
    ``FNR >= Phi(Phi^-1(1 - FPR) - mu)``, so
    ``mu >= Phi^-1(1 - FPR) - Phi^-1(FNR) >= Phi^-1(1 - FPR_hi) - Phi^-1(FNR_hi)``: with
    ``FPR_hi`` and ``FNR_hi`` each an upper bound at level ``a / 2`` the result holds with
    probability ``1 - a`` (Nasr et al. 2023, ``nasr2023``, Section 4). Never below 0.

    Examples
    --------
    >>> round(gdp_mu_lower_bound(0.01, 0.2), 3)
    3.168
    >>> gdp_mu_lower_bound(0.6, 0.5)
    0.0
    """
    return max(0.0, gdp_mu(fpr_hi, fnr_hi))


def gdp_delta(mu: float, eps: float) -> float:
    """``delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)`` of mu-GDP.

    Dong, Roth & Su (2022), Corollary 2.13: mu-GDP is (eps, delta(eps))-DP for every
    ``eps >= 0``, and this is the tightest such delta.

    Examples
    --------
    >>> round(gdp_delta(1.0, 0.0), 4)  # 2 Phi(1/2) - 1
    0.3829
    """
    if not is_real(mu) or mu < 0 or not math.isfinite(mu):
        raise ValueError(f"mu must be a non-negative finite number, got {mu!r}")
    if not is_real(eps) or eps < 0 or math.isnan(eps):
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    if mu == 0.0 or math.isinf(eps):
        return 0.0
    a = float(stats.norm.cdf(-eps / mu + mu / 2))
    # e^eps Phi(x) in log space: Phi's tail is tiny where e^eps is huge
    b = math.exp(eps + float(stats.norm.logcdf(-eps / mu - mu / 2)))
    return max(0.0, a - b)


def gdp_to_epsilon(mu: float, delta: float) -> float:
    """The smallest eps with ``delta(eps) <= delta`` for mu-GDP (:func:`gdp_delta`).

    Solves ``Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2) = delta`` (Dong, Roth & Su 2022,
    ``dong2022``); 0 when mu-GDP is already (0, delta)-DP. ``delta(eps)`` decreases in eps, so
    the root is bracketed and found to 1e-10.

    Examples
    --------
    >>> round(gdp_to_epsilon(1.0, 1e-5), 3)
    4.377
    >>> gdp_to_epsilon(0.0, 1e-5), gdp_to_epsilon(0.01, 0.5)
    (0.0, 0.0)
    """
    if not is_real(delta) or not 0.0 < float(delta) < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if gdp_delta(mu, 0.0) <= delta:
        return 0.0
    hi = max(1.0, mu * mu)
    while gdp_delta(mu, hi) > delta:
        hi *= 2.0
    from scipy.optimize import brentq

    return float(brentq(lambda e: gdp_delta(mu, e) - delta, 0.0, hi, xtol=1e-10))


def tpr_bound(fpr: ArrayLike, epsilon: float, delta: float) -> Any:
    """The largest TPR an (eps, delta)-DP mechanism allows at each FPR (the tight curve).

    ``min(1, e^eps FPR + delta, 1 - e^-eps (1 - delta - FPR))`` (Kairouz, Oh & Viswanath 2015,
    ``kairouz2015``): the first term bounds identifying members, the second identifying
    non-members (``1 - FPR <= e^eps (1 - TPR) + delta``). Every membership test on a model
    trained with (eps, delta)-DP has its ROC curve below this one; draw it on ROC plots.
    Returns a float for a scalar ``fpr``, an array otherwise.

    Examples
    --------
    >>> round(float(tpr_bound(0.01, 1.0, 1e-5)), 5)
    0.02719
    >>> [round(float(t), 4) for t in tpr_bound([0.0, 0.5, 1.0], 1.0, 0.0)]
    [0.0, 0.8161, 1.0]
    """
    f = np.asarray(fpr, dtype=np.float64)
    if np.any(~np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
        raise ValueError(f"fpr must hold rates in [0, 1], got {fpr!r}")
    if not is_real(epsilon) or epsilon < 0 or math.isnan(epsilon):
        raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
    if not is_real(delta) or not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta must be in [0, 1], got {delta!r}")
    if math.isinf(epsilon):
        out = np.where(f > 0, 1.0, min(1.0, float(delta)) if delta else 0.0)
    else:
        e = math.exp(epsilon)
        out = np.minimum.reduce([
            np.ones_like(f), e * f + delta, 1.0 - (1.0 - delta - f) / e,
        ])
        out = np.maximum(out, f)  # a DP curve never dips below the diagonal
    return float(out) if np.ndim(fpr) == 0 else out


# ----------------------------------------------------------------- several training runs
@dataclass(frozen=True)
class RunsBound:
    """An epsilon lower bound from IN and OUT observations (:func:`epsilon_lower_bound_runs`).

    Attributes
    ----------
    epsilon : float
        The lower bound (0 when no test refutes eps = 0).
    method : str
        ``"clopper_pearson"`` (the (eps, delta) region) or ``"gdp"`` (Gaussian DP).
    mu : float or None
        ``"gdp"``: the lower bound on mu behind ``epsilon``.
    threshold : float or None
        The deciding test: guess IN when ``score >= threshold``.
    fpr, fnr : float or None
        Its empirical rates; ``fpr_hi``, ``fnr_hi`` their Bonferroni-corrected upper bounds.
    n_in, n_out : int
        Observations of each kind.
    n_tests : int
        Thresholds tried (the confidence is corrected for them).
    confidence, delta : float
    """

    epsilon: float
    method: str
    mu: float | None
    threshold: float | None
    fpr: float | None
    fnr: float | None
    fpr_hi: float | None
    fnr_hi: float | None
    n_in: int
    n_out: int
    n_tests: int
    confidence: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _runs_inputs(
    scores_in: ArrayLike, scores_out: ArrayLike, delta: float, confidence: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float]:
    a = np.asarray(scores_in, dtype=np.float64).ravel()
    b = np.asarray(scores_out, dtype=np.float64).ravel()
    for name, arr in (("scores_in", a), ("scores_out", b)):
        if arr.size == 0:
            raise ValueError(f"{name} is empty: need observations of IN and of OUT canaries")
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{name} holds NaN or infinite values (first at index "
                f"{int(np.argmax(~np.isfinite(arr)))})"
            )
    if not is_real(delta) or not 0.0 <= float(delta) < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta!r}")
    return a, b, check_fraction("confidence", confidence)


def threshold_grid(pooled: ArrayLike) -> np.ndarray[Any, Any]:
    """Label-free candidate thresholds: pooled-score order statistics at ranks 1, 2, 4, ...

    from the top and from the bottom (DP trade-offs are decided in the tails), plus the median.
    Depends only on the pooled scores, never on which are IN, so Bonferroni over the grid
    covers the choice of the best threshold.
    """
    s = np.sort(np.asarray(pooled, dtype=np.float64))[::-1]  # highest first
    n = s.size
    ranks: set[int] = {max(1, n // 2)}
    k = 1
    while k < n:
        ranks.add(k)
        ranks.add(n - k)
        k *= 2
    out = np.unique(np.array([s[r - 1] for r in sorted(ranks) if 1 <= r <= n]))
    return np.asarray(out, dtype=np.float64)


def _upper_cp(k: np.ndarray[Any, Any], n: int, level: float) -> np.ndarray[Any, Any]:
    """One-sided Clopper-Pearson upper bounds at level ``level`` for k successes of n."""
    with np.errstate(invalid="ignore"):
        hi = stats.beta.ppf(1.0 - level, k + 1, n - k)
    return np.where(k >= n, 1.0, hi)


def _runs_tests(
    a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], confidence: float
) -> tuple[np.ndarray[Any, Any], ...]:
    thr = threshold_grid(np.r_[a, b])
    sa, sb = np.sort(a), np.sort(b)
    fn = np.searchsorted(sa, thr, side="left").astype(np.float64)  # IN below the threshold
    fp = (b.size - np.searchsorted(sb, thr, side="left")).astype(np.float64)  # OUT at/above
    # 2 one-sided bounds per threshold, union bound over all of them
    level = (1.0 - confidence) / (2 * thr.size)
    return thr, fp, fn, _upper_cp(fp, b.size, level), _upper_cp(fn, a.size, level)


def epsilon_lower_bound_runs(
    scores_in: ArrayLike,
    scores_out: ArrayLike,
    *,
    delta: float,
    confidence: float = 0.95,
) -> RunsBound:
    """Epsilon lower bound from canary scores over several training runs (Clopper-Pearson).

    ``scores_in`` are scores (higher = more likely IN) of canaries in runs that trained on them,
    ``scores_out`` in runs that did not. For each threshold ``t`` of a label-free grid
    (:func:`threshold_grid`), the test "IN if score >= t" has Clopper-Pearson upper bounds
    ``FPR_hi`` and ``FNR_hi``; an (eps, delta)-DP training algorithm satisfies both
    ``1 - FNR <= e^eps FPR + delta`` and ``1 - FPR <= e^eps FNR + delta`` (Kairouz, Oh &
    Viswanath 2015, ``kairouz2015``), so (Jagielski, Ullman & Oprea 2020, ``jagielski2020``)::

        eps >= max(log((1 - FNR_hi - delta) / FPR_hi), log((1 - FPR_hi - delta) / FNR_hi))

    The threshold choice is paid for by a Bonferroni correction: every upper bound is at level
    ``(1 - confidence) / (2 n_thresholds)``, so the maximum over the grid is a lower bound at
    ``confidence``. The observations are treated as independent trials: exact when each comes
    from its own training run (one canary per run), an approximation when several canaries
    share a run (use :func:`one_run_epsilon` for a bound that needs no independence).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> inside, outside = rng.normal(2.0, 1.0, 5000), rng.normal(0.0, 1.0, 5000)
    >>> b = epsilon_lower_bound_runs(inside, outside, delta=1e-5)
    >>> 1.0 < b.epsilon < gdp_to_epsilon(2.0, 1e-5)  # the Gaussian mechanism at mu = 2
    True
    """
    a, b, confidence = _runs_inputs(scores_in, scores_out, delta, confidence)
    thr, fp, fn, fpr_hi, fnr_hi = _runs_tests(a, b, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(np.maximum(1.0 - fnr_hi - delta, 0.0)) - np.log(fpr_hi)
        e2 = np.log(np.maximum(1.0 - fpr_hi - delta, 0.0)) - np.log(fnr_hi)
    e = np.maximum(np.where(np.isfinite(e1), e1, -np.inf), np.where(np.isfinite(e2), e2, -np.inf))
    return _runs_result(e, None, "clopper_pearson", thr, fp, fn, fpr_hi, fnr_hi, a, b,
                        confidence, delta)


def gdp_epsilon_lower_bound_runs(
    scores_in: ArrayLike,
    scores_out: ArrayLike,
    *,
    delta: float,
    confidence: float = 0.95,
) -> RunsBound:
    """Epsilon lower bound through Gaussian DP (Nasr et al. 2023; Dong, Roth & Su 2022).

    The same tests as :func:`epsilon_lower_bound_runs` (label-free threshold grid,
    Clopper-Pearson upper bounds on FPR and FNR, Bonferroni over the grid); each gives
    ``mu >= Phi^-1(1 - FPR_hi) - Phi^-1(FNR_hi)`` (:func:`gdp_mu_lower_bound`), and the
    largest mu converts to epsilon at ``delta`` (:func:`gdp_to_epsilon`). One point of the
    trade-off curve then bounds the whole curve, which is why this bound is much tighter for
    DP-SGD (Nasr et al. 2023, ``nasr2023``). It *assumes* the training algorithm's privacy is
    Gaussian-shaped (mu-GDP; DP-SGD's is close to it): for mechanisms of another shape, such
    as randomized response, it can exceed their true epsilon.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> inside, outside = rng.normal(2.0, 1.0, 5000), rng.normal(0.0, 1.0, 5000)
    >>> b = gdp_epsilon_lower_bound_runs(inside, outside, delta=1e-5)
    >>> 1.7 < b.mu <= 2.0 and b.epsilon <= gdp_to_epsilon(2.0, 1e-5)
    True
    """
    a, b, confidence = _runs_inputs(scores_in, scores_out, delta, confidence)
    thr, fp, fn, fpr_hi, fnr_hi = _runs_tests(a, b, confidence)
    mus = np.array([gdp_mu(float(f), float(g)) for f, g in zip(fpr_hi, fnr_hi, strict=True)])
    return _runs_result(mus, mus, "gdp", thr, fp, fn, fpr_hi, fnr_hi, a, b, confidence, delta)


def _runs_result(
    score: np.ndarray[Any, Any], mus: np.ndarray[Any, Any] | None, method: str,
    thr: np.ndarray[Any, Any], fp: np.ndarray[Any, Any], fn: np.ndarray[Any, Any],
    fpr_hi: np.ndarray[Any, Any], fnr_hi: np.ndarray[Any, Any],
    a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], confidence: float, delta: float,
) -> RunsBound:
    j = int(np.argmax(score))
    best = float(score[j])
    if not best > 0.0:
        return RunsBound(0.0, method, 0.0 if mus is not None else None, None, None, None,
                         None, None, a.size, b.size, thr.size, confidence, float(delta))
    mu = float(mus[j]) if mus is not None else None
    eps = best if mus is None else (gdp_to_epsilon(best, delta) if delta > 0 else math.inf)
    return RunsBound(
        epsilon=float(eps), method=method, mu=mu, threshold=float(thr[j]),
        fpr=float(fp[j] / b.size), fnr=float(fn[j] / a.size),
        fpr_hi=float(fpr_hi[j]), fnr_hi=float(fnr_hi[j]), n_in=a.size, n_out=b.size,
        n_tests=thr.size, confidence=confidence, delta=float(delta),
    )
