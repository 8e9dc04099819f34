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


# ---------------------------------------------------------------- Gaussian DP, several runs
from privmeter.dp_audit import (  # noqa: E402
    epsilon_lower_bound_runs,
    gdp_delta,
    gdp_epsilon_lower_bound_runs,
    gdp_mu,
    gdp_mu_lower_bound,
    gdp_to_epsilon,
    threshold_grid,
    tpr_bound,
)


def gaussian_mechanism(rng: np.random.Generator, n: int, mu: float) -> tuple:
    """Scores of n IN and n OUT observations of the Gaussian mechanism: exactly mu-GDP."""
    return rng.normal(mu, 1.0, n), rng.normal(0.0, 1.0, n)


def randomized_response_runs(rng: np.random.Generator, n: int, eps: float) -> tuple:
    """n IN and n OUT answers of eps-DP randomized response (pure DP, delta = 0)."""
    p = math.exp(eps) / (1 + math.exp(eps))
    return (rng.random(n) < p).astype(float), (rng.random(n) >= p).astype(float)


def test_gdp_conversion_matches_dp_accounting_pld() -> None:
    # the Gaussian mechanism with noise sigma (sensitivity 1) is exactly (1/sigma)-GDP
    from dp_accounting import GaussianDpEvent, pld

    for sigma, delta in ((0.5, 1e-5), (2.0, 1e-5), (1.0, 1e-3)):
        pld_eps = pld.PLDAccountant().compose(GaussianDpEvent(sigma)).get_epsilon(delta)
        assert gdp_to_epsilon(1 / sigma, delta) == pytest.approx(pld_eps, rel=1e-5)
    eps = gdp_to_epsilon(1.3, 1e-6)
    assert gdp_delta(1.3, eps) == pytest.approx(1e-6, rel=1e-6)
    assert gdp_to_epsilon(0.0, 1e-5) == 0.0


def test_gdp_mu_formula_and_monotonicity() -> None:
    # mu = Phi^-1(1 - FPR) - Phi^-1(FNR)
    assert gdp_mu(0.1, 0.2) == pytest.approx(stats.norm.ppf(0.9) - stats.norm.ppf(0.2))
    assert gdp_mu(0.3, 0.2) == pytest.approx(gdp_mu(0.2, 0.3))
    assert gdp_mu_lower_bound(0.4, 0.7) == 0.0  # worse than chance: nothing
    assert gdp_mu_lower_bound(0.01, 0.1) > gdp_mu_lower_bound(0.02, 0.1)
    with pytest.raises(ValueError, match=r"fpr must be a rate in \[0, 1\], got 1.5"):
        gdp_mu(1.5, 0.1)


def test_tpr_bound_is_the_tight_region() -> None:
    f = np.linspace(0, 1, 101)
    assert np.allclose(tpr_bound(f, 0.0, 0.0), f)  # (0, 0)-DP: no test beats chance
    t = tpr_bound(f, 1.0, 1e-3)
    assert np.allclose(t, np.minimum.reduce([np.ones_like(f), math.e * f + 1e-3,
                                             1 - (1 - 1e-3 - f) / math.e]))
    assert np.all(np.diff(t) >= 0) and t[-1] == 1.0
    assert tpr_bound(0.0, 2.0, 0.01) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="fpr must hold rates in"):
        tpr_bound([0.1, 1.2], 1.0, 0.0)


def test_threshold_grid_is_label_free_and_covers_the_tails() -> None:
    s = np.arange(1000.0)
    g = threshold_grid(s)
    # top-1 (999), top-2 (998), ..., and all-but-the-lowest-1 (1) and -2 (2) tests
    assert g.size < 25 and {999.0, 998.0, 1.0, 2.0} <= set(g.tolist()) and 0.0 not in g
    assert np.array_equal(g, threshold_grid(s[::-1]))


def test_runs_bounds_are_sound_on_analytic_mechanisms() -> None:
    # 200 trials each; at 95% confidence at most ~5% may exceed the truth (binomial slack)
    rng = np.random.default_rng(11)
    delta = 1e-5
    cp_rr = [epsilon_lower_bound_runs(*randomized_response_runs(rng, 2000, 1.0), delta=0.0)
             .epsilon for _ in range(200)]
    gauss = [gaussian_mechanism(rng, 2000, 1.5) for _ in range(200)]
    true_g = gdp_to_epsilon(1.5, delta)
    cp_g = [epsilon_lower_bound_runs(a, b, delta=delta).epsilon for a, b in gauss]
    gdp_g = [gdp_epsilon_lower_bound_runs(a, b, delta=delta).epsilon for a, b in gauss]
    for values, truth in ((cp_rr, 1.0), (cp_g, true_g), (gdp_g, true_g)):
        assert np.mean(np.asarray(values) > truth) <= 0.05 + 0.03
    # the one-run bound on the same Gaussian mechanism (canaries pooled; it is the slow one)
    above = 0
    for _ in range(10):
        inside = rng.random(1000) < 0.5
        s = rng.normal(size=1000) + 1.5 * inside
        above += one_run_epsilon(s, inside, delta=delta).epsilon > true_g
    assert above <= 1


def test_runs_bounds_are_tight_with_enough_observations() -> None:
    rng = np.random.default_rng(12)
    # measured (seed 12): Clopper-Pearson on randomized response at eps = 1, 5000 + 5000
    # answers reaches 0.87 of the truth; GDP on the Gaussian mechanism at mu = 2 (eps 10.0 at
    # delta 1e-5) with 10000 + 10000 observations reaches 0.95 (CP there: 0.41, far from the
    # tails that decide a delta = 1e-5 bound)
    cp = epsilon_lower_bound_runs(*randomized_response_runs(rng, 5000, 1.0), delta=0.0)
    assert 0.8 <= cp.epsilon <= 1.0 and cp.method == "clopper_pearson"
    a, b = gaussian_mechanism(rng, 10_000, 2.0)
    g = gdp_epsilon_lower_bound_runs(a, b, delta=1e-5)
    truth = gdp_to_epsilon(2.0, 1e-5)
    assert 0.9 * truth <= g.epsilon <= truth
    assert g.mu is not None and 1.8 < g.mu <= 2.0 and g.fpr_hi is not None
    assert g.n_in == g.n_out == 10_000 and g.n_tests == threshold_grid(np.r_[a, b]).size
    d = g.to_dict()
    assert d["method"] == "gdp" and d["epsilon"] == g.epsilon


def test_runs_bounds_no_signal_and_bad_input() -> None:
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=500), rng.normal(size=500)
    assert epsilon_lower_bound_runs(a, b, delta=1e-5).epsilon == 0.0
    assert gdp_epsilon_lower_bound_runs(a, b, delta=1e-5).epsilon == 0.0
    with pytest.raises(ValueError, match="scores_in is empty"):
        epsilon_lower_bound_runs([], b, delta=1e-5)
    with pytest.raises(ValueError, match=r"scores_out holds NaN or infinite values \(first at "
                       r"index 1\)"):
        epsilon_lower_bound_runs(a, [0.0, np.nan], delta=1e-5)
    with pytest.raises(ValueError, match=r"delta must be in \[0, 1\), got 1.0"):
        gdp_epsilon_lower_bound_runs(a, b, delta=1.0)
