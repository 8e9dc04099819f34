"""One-run DP audit (Steinke et al. 2023): p-values, soundness and tightness."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from privmeter.dp_audit import one_run_epsilon, one_run_p_value


def randomized_response(rng: np.random.Generator, m: int, eps: float) -> tuple:
    """Canaries IN w.p. 1/2; the score reveals membership through eps-DP randomized response."""
    inside = rng.random(m) < 0.5
    truthful = rng.random(m) < math.exp(eps) / (1 + math.exp(eps))
    reported = np.where(truthful, inside, ~inside)
    return reported + 0.01 * rng.random(m), inside  # tiny jitter: a strict order


def test_p_value_pure_dp_is_a_binomial_tail() -> None:
    q = 1 / (1 + math.exp(-1.0))
    assert one_run_p_value(500, 100, 70, 1.0) == pytest.approx(stats.binom.sf(69, 100, q))
    assert one_run_p_value(500, 100, 0, 1.0) == 1.0


def test_p_value_delta_term_hand_worked() -> None:
    # r = 2, v = 2, eps = 0: B ~ Bin(2, 1/2); P[B >= 2] = 1/4;
    # windows: i=1: P[B = 1] = 1/2 -> 1/2; i=2: P[0 <= B < 2] = 3/4 -> 3/8; alpha = 1/2
    assert one_run_p_value(10, 2, 2, 0.0, 0.01) == pytest.approx(0.25 + 2 * 10 * 0.01 * 0.5)


def test_p_value_increases_with_eps_and_delta() -> None:
    ps = [one_run_p_value(1000, 200, 150, e) for e in (0.0, 0.5, 1.0, 2.0)]
    assert ps == sorted(ps)
    assert one_run_p_value(1000, 200, 150, 1.0, 1e-5) > one_run_p_value(1000, 200, 150, 1.0)


def test_sound_on_randomized_response() -> None:
    rng = np.random.default_rng(0)
    eps = 1.0
    above = sum(
        one_run_epsilon(*randomized_response(rng, 1000, eps)).epsilon > eps for _ in range(40)
    )
    assert above <= 2  # at 95% confidence at most ~5% of runs may exceed the truth


def test_tight_on_randomized_response_with_many_canaries() -> None:
    rng = np.random.default_rng(1)
    res = one_run_epsilon(*randomized_response(rng, 5000, 2.0))
    assert 1.4 < res.epsilon <= 2.0
    assert res.guesses == res.k_plus + res.k_minus and res.correct <= res.guesses


def test_no_signal_gives_zero() -> None:
    rng = np.random.default_rng(2)
    res = one_run_epsilon(rng.normal(size=1000), rng.random(1000) < 0.5)
    assert res.epsilon == 0.0


def test_single_test_is_not_corrected() -> None:
    rng = np.random.default_rng(3)
    s, y = randomized_response(rng, 2000, 1.5)
    one = one_run_epsilon(s, y, k_plus=1000, k_minus=1000)
    assert one.n_tests == 1 and one.guesses == 2000
    assert one.epsilon > 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_plus": 5}, "give both k_plus and k_minus"),
        ({"k_plus": 0, "k_minus": 0}, "0 < k_plus \\+ k_minus <= 4"),
        ({"confidence": 1.0}, r"confidence must be a number in \(0, 1\)"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        one_run_epsilon([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0], **kwargs)


def test_bad_p_value_input() -> None:
    with pytest.raises(ValueError, match="need 0 <= v <= r <= m, got v=5, r=3, m=10"):
        one_run_p_value(10, 3, 5, 1.0)
    with pytest.raises(ValueError, match="eps must be a non-negative number"):
        one_run_p_value(10, 3, 2, -1.0)
    with pytest.raises(ValueError, match="membership must be boolean"):
        one_run_epsilon([0.1, 0.2], [2, 0])
    with pytest.raises(ValueError, match="NaN or infinite values at index 1"):
        one_run_epsilon([0.1, np.nan], [1, 0])


@pytest.mark.parametrize(
    ("n_in", "m", "match"),
    [
        (1000, 1000, r"all 1000 canaries are members"),
        (0, 500, r"all 500 canaries are non-members"),
        (700, 1000, r"700 of 1000 canaries are members \(70%\).*probability 1/2"),
    ],
)
def test_membership_that_fair_coins_cannot_give_is_refused(n_in: int, m: int, match: str) -> None:
    # noise scores: before the check, every-canary-IN gave epsilon >= 1.87 from pure noise
    scores = np.random.default_rng(0).normal(size=m)
    membership = np.arange(m) < n_in
    with pytest.raises(ValueError, match=match):
        one_run_epsilon(scores, membership)


def test_noise_scores_with_fair_coins_give_no_epsilon() -> None:
    rng = np.random.default_rng(1)
    res = one_run_epsilon(rng.normal(size=2000), rng.random(2000) < 0.5)
    assert res.epsilon < 0.3
