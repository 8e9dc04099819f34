"""Differential-privacy auditing in one training run (Steinke, Nasr & Jagielski, NeurIPS 2023).

``m`` canaries are each included in training independently with probability 1/2. After
training, the auditor guesses "IN" for the ``k_plus`` highest-scoring canaries, "OUT" for the
``k_minus`` lowest, and abstains on the rest. If the training algorithm is (eps, delta)-DP, the
number of correct guesses ``v`` out of ``r = k_plus + k_minus`` is stochastically dominated
(up to a delta term) by ``Binomial(r, e^eps / (1 + e^eps))``; an observed ``v`` that this
binomial makes unlikely refutes eps, which gives an empirical lower bound on eps from a
single trained model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from privmeter._validation import as_membership, check_fraction, is_int

__all__ = ["OneRunAudit", "one_run_epsilon", "one_run_p_value"]


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
