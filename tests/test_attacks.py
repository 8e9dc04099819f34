"""Attacks on synthetic signal tables: known answers, oracles, invariants and bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import privmeter as pm
from conftest import balanced_membership, gaussian_table
from privmeter import metrics
from privmeter.attacks.rmia import (
    count_dominated,
    rmia_log_ratios,
    rmia_scores_from_log_ratios,
)

# ----------------------------------------------------------------- known answer


@pytest.fixture(scope="module")
def big_table() -> pm.SignalTable:
    return gaussian_table(
        n_models=65, n_points=20000, d=1.0, s=1.0, mu_spread=3.0, n_population=5000, seed=0
    )


def test_online_lira_reaches_the_optimal_test(big_table: pm.SignalTable) -> None:
    optimal = stats.norm.cdf(1.0 / math.sqrt(2.0))  # Phi(d / (s sqrt 2))
    res = pm.run_attack("lira", big_table, target=0)
    assert abs(res.auc - optimal) < 0.01
    assert res.auc_ci[0] < optimal < res.auc_ci[1] + 0.01


def test_population_attack_is_clearly_below_optimal(big_table: pm.SignalTable) -> None:
    optimal = stats.norm.cdf(1.0 / math.sqrt(2.0))
    pop = pm.run_attack("population", big_table, target=0)
    loss = pm.run_attack("loss", big_table, target=0)
    assert pop.auc == loss.auc  # same ranking, different thresholds
    # with mu spread 3, the target-only test is Phi(d / sqrt(2 (s^2 + 9)))
    assert pop.auc == pytest.approx(stats.norm.cdf(1.0 / math.sqrt(20.0)), abs=0.015)
    assert pop.auc < optimal - 0.1


def test_population_thresholds_are_calibrated(big_table: pm.SignalTable) -> None:
    res = pm.run_attack("population", big_table, target=0)
    for cal in res.extras["calibration"]:
        if cal["level"] >= 0.01:
            assert cal["population_fpr"] <= cal["level"]
            assert abs(cal["audit_fpr"] - cal["level"]) < 0.3 * cal["level"] + 0.003


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("lira", {"online": False}),
        ("reference", {}),
        ("reference", {"smoothing": "gaussian"}),
        ("rmia", {}),
        ("rmia", {"online": False}),
    ],
)
def test_reference_based_attacks_beat_loss(
    big_table: pm.SignalTable, name: str, params: dict
) -> None:
    optimal = stats.norm.cdf(1.0 / math.sqrt(2.0))
    res = pm.run_attack(name, big_table, target=0, **params)
    assert res.auc > pm.run_attack("loss", big_table, target=0).auc + 0.1
    assert res.auc < optimal + 0.01  # nothing beats the Neyman-Pearson test


def _perturb_global_rngs(seed: int) -> None:
    """Put numpy's, Python's and (when installed) torch's global generators in a new state."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global state is what is perturbed
    np.random.random(seed % 7 + 1)  # noqa: NPY002
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)


def test_attacks_are_deterministic(big_table: pm.SignalTable) -> None:
    # an attack draws from its own seeded generator only: the global generators' states, which
    # other code moves at will, must not change its scores
    for name in pm.list_attacks():
        _perturb_global_rngs(1)
        a = pm.run_attack(name, big_table, target=0)
        _perturb_global_rngs(12345)
        b = pm.run_attack(name, big_table, target=0)
        np.testing.assert_array_equal(a.scores, b.scores, err_msg=name)


def test_perturbing_the_global_rngs_changes_them() -> None:
    # the check above would pass vacuously if the perturbation did nothing
    _perturb_global_rngs(1)
    first = (random.random(), np.random.random())  # noqa: NPY002
    _perturb_global_rngs(12345)
    assert (random.random(), np.random.random()) != first  # noqa: NPY002


# ------------------------------------------------------------------------ LOSS


def test_loss_hand_worked() -> None:
    t = pm.SignalTable(np.array([[3.0, -1.0, 2.0, 0.0]]), np.array([[1, 0, 1, 0]]))
    res = pm.run_attack("loss", t)
    np.testing.assert_array_equal(res.scores, [3.0, -1.0, 2.0, 0.0])
    assert res.auc == 1.0
    loss = pm.SignalTable(np.array([[0.1, 2.0, 0.5, 0.7]]), np.array([[1, 0, 1, 0]]), kind="loss")
    assert pm.run_attack("loss", loss).auc == 1.0  # lower loss = member, not inverted


def test_loss_averages_losses_over_queries() -> None:
    vals = np.array([[[5.0, -5.0], [1.0, 1.0]]])  # (1 model, 2 points, 2 queries)
    t = pm.SignalTable(vals, np.array([[True, False]]))
    s = pm.run_attack("loss", t).scores
    expected = -np.logaddexp(0, -vals[0]).mean(axis=-1)
    np.testing.assert_allclose(s, expected)


# ------------------------------------------------------------------------ LiRA


def test_lira_online_hand_worked() -> None:
    vals = np.array([[3.0, 0.0], [2.0, 1.0], [4.0, -1.0], [0.0, 1.0], [2.0, -1.0]])
    mem = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)
    res = pm.run_attack("lira", pm.SignalTable(vals, mem), target=0, fix_variance=True)
    # point 0: IN refs {2, 4} (mean 3), OUT refs {0, 2} (mean 1); point 1: IN {1, -1},
    # OUT {1, -1} (means 0). Pooled variances: IN (2 + 2) / 2 = 2, OUT (2 + 2) / 2 = 2.
    # score 0 = log N(3; 3, 2) - log N(3; 1, 2) = 0 + 4 / 4 = 1; score 1 = 0.
    np.testing.assert_allclose(res.scores, [1.0, 0.0])
    assert res.extras["pooled_std_in"] == pytest.approx([math.sqrt(2.0)])


def test_lira_offline_is_one_sided() -> None:
    rng = np.random.default_rng(0)
    mem = balanced_membership(rng, 10, 50)
    vals = rng.normal(size=(10, 50))
    t = pm.SignalTable(vals, mem)
    s = pm.run_attack("lira", t, target=0, online=False, fix_variance=False).scores
    out = ~mem[1:]
    ref = vals[1:]
    mu = np.array([ref[out[:, i], i].mean() for i in range(50)])
    sd = np.array([ref[out[:, i], i].std(ddof=1) for i in range(50)])
    np.testing.assert_allclose(s, stats.norm.logcdf(vals[0], mu, sd), rtol=1e-10)


def test_lira_sums_queries() -> None:
    t2 = gaussian_table(n_models=16, n_points=300, d=1.0, n_queries=2, seed=3)
    both = pm.run_attack("lira", t2, target=0).scores
    singles = [
        pm.run_attack(
            "lira", pm.SignalTable(t2.values[:, :, q], t2.membership), target=0
        ).scores
        for q in range(2)
    ]
    np.testing.assert_allclose(both, singles[0] + singles[1])


# ------------------------------------------------------------------- Attack-R


def test_reference_attack_resolves_low_fpr_with_few_references() -> None:
    # Null table: the target behaves like its references, so thresholding the smoothed
    # percentile at 1 - alpha must give FPR ~ alpha; an unsmoothed percentile of 8 values
    # cannot go below 1/9 (ML Privacy Meter runs at 17-18% when asked for 1%).
    rng = np.random.default_rng(5)
    n = 20000
    mu = rng.normal(0, 2, size=n)
    mem = np.zeros((9, n), bool)
    mem[0, : n // 2] = True
    vals = mu + rng.normal(size=(9, n))
    t = pm.SignalTable(vals, mem)
    res = pm.run_attack("reference", t, target=0)
    nonmem = res.scores[~res.membership]
    fpr_at = float(np.mean(nonmem >= math.log(0.99 / 0.01)))
    assert 0.003 < fpr_at < 0.03
    assert np.unique(res.scores).size > 0.99 * n  # no plateaus at k + 1 levels
    assert abs(res.auc - 0.5) < 0.02


def test_reference_percentile_hand_worked() -> None:
    vals = np.array([[1.5, 10.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    mem = np.array([[1, 0], [0, 0], [0, 0], [0, 0], [0, 0]], dtype=bool)
    s = pm.run_attack("reference", pm.SignalTable(vals, mem), target=0).scores
    # 1.5 lies halfway between 1 (F = 1.5/4) and 2 (F = 2.5/4): F = 0.5 -> log-odds 0
    assert s[0] == pytest.approx(0.0)
    assert s[1] > math.log(0.875 / 0.125)  # beyond the largest reference: upper tail


# ------------------------------------------------------------------------- RMIA


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-6, 6), min_size=1, max_size=40),
    st.lists(st.integers(-6, 6), min_size=1, max_size=40),
    st.sampled_from([0.5, 1.0, 2.0, math.e]),
)
def test_count_dominated_equals_dense_oracle(xs: list[int], zs: list[int], gamma: float) -> None:
    # half-integers in log space make many exact ties with log(gamma) = 0 and pairs
    lx = np.array(xs, dtype=float) / 2.0
    lz = np.array(zs, dtype=float) / 2.0
    lg = math.log(gamma)
    dense = ((lx[:, None] - lz[None, :]) >= lg).sum(axis=1)
    np.testing.assert_array_equal(count_dominated(lx, np.sort(lz), lg), dense)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1.0, 2.0]), st.booleans())
def test_fast_rmia_equals_dense_oracle(seed: int, gamma: float, online: bool) -> None:
    rng = np.random.default_rng(seed)
    n_aud, n_pop, n_models = 30, 20, 6
    mem = balanced_membership(rng, n_models, n_aud + n_pop)
    mem[0, n_aud:] = False
    vals = np.round(rng.normal(0, 2, size=(n_models, n_aud + n_pop)), 1)  # ties
    t = pm.SignalTable(vals, mem, role=["audit"] * n_aud + ["population"] * n_pop)
    params = {"online": online, "gamma": gamma, "temperature": 1.5}
    if not online:
        params["a"] = 0.3
    fast = pm.run_attack("rmia", t, target=0, **params).scores
    refs = np.arange(1, n_models)
    mask = np.ones((refs.size, n_aud + n_pop), bool) if online else ~mem[refs]
    lr = rmia_log_ratios(
        t.values[refs], t.values[0], mask, a=None if online else 0.3, temperature=1.5,
        in_mask=mem[refs] if online else None,
    )[:, 0]
    dense = ((lr[:n_aud, None] - lr[None, n_aud:]) >= math.log(gamma)).mean(axis=1)
    np.testing.assert_array_equal(fast, dense)


def test_rmia_log_ratios_match_linear_space_formula() -> None:
    rng = np.random.default_rng(2)
    phi = rng.normal(0, 3, size=(5, 40, 1))
    tphi = rng.normal(0, 3, size=(40, 1))
    mask = rng.random((5, 40)) < 0.6
    mask[0] = True
    for a in (None, 0.0, 0.3, 1.0):
        lr = rmia_log_ratios(phi, tphi, mask, a=a, temperature=2.0)
        p = 1 / (1 + np.exp(-phi[..., 0] / 2.0))
        pt = 1 / (1 + np.exp(-tphi[:, 0] / 2.0))
        mean = np.array([p[mask[:, i], i].mean() for i in range(40)])
        pr = mean if a is None else (1 + a) / 2 * mean + (1 - a) / 2
        np.testing.assert_allclose(lr[:, 0], np.log(pt / pr), rtol=1e-9, atol=1e-12)


def test_rmia_online_pr_x_is_an_equal_weight_in_out_average() -> None:
    phi = np.array([[[0.0]], [[1.0]], [[2.0]], [[-1.0]], [[3.0]]])  # 5 references, 1 point
    in_mask = np.array([[True], [True], [False], [False], [False]])
    lr = rmia_log_ratios(phi, np.array([[0.5]]), np.ones((5, 1), bool), a=None,
                         temperature=1.0, in_mask=in_mask)
    p = 1 / (1 + np.exp(-phi[:, 0, 0]))
    pr = 0.5 * p[:2].mean() + 0.5 * p[2:].mean()  # not p.mean(): 2 IN vs 3 OUT
    assert lr[0, 0] == pytest.approx(np.log(1 / (1 + np.exp(-0.5)) / pr))


def test_multi_target_games_have_no_count_artefact() -> None:
    # a null table (the target's signal says nothing) with a balanced keep matrix over 6
    # models: leaving the target out gives members one IN reference fewer. Neither LiRA nor
    # RMIA may turn that design artefact into membership "signal" (or anti-signal).
    rng = np.random.default_rng(11)
    n, n_pop = 20000, 2000
    mem = np.c_[balanced_membership(rng, 6, n), np.zeros((6, n_pop), bool)]
    vals = rng.normal(0, 2, n + n_pop) + rng.normal(size=(6, n + n_pop))
    t = pm.SignalTable(vals, mem, role=["audit"] * n + ["population"] * n_pop)
    for name in ("lira", "rmia"):
        aucs = [pm.run_attack(name, t, target=k).auc for k in range(6)]
        assert abs(float(np.mean(aucs)) - 0.5) < 0.01, (name, aucs)


def test_rmia_log_ratios_keep_confident_points_apart() -> None:
    phi = np.full((4, 2, 1), 40.0)
    lr = rmia_log_ratios(phi, np.array([[41.0], [45.0]]), np.ones((4, 2), bool), a=None,
                         temperature=1.0)
    # in float64 sigmoid(40) == sigmoid(45) == 1.0 exactly; the log-space ratio still differs
    assert lr[1, 0] > lr[0, 0] > 0.0


def test_rmia_multi_query_majority_vote_oracle() -> None:
    rng = np.random.default_rng(4)
    lx = np.round(rng.normal(size=(50, 3)), 1)
    lz = np.round(rng.normal(size=(37, 3)), 1)
    got = rmia_scores_from_log_ratios(lx, lz, 1.0)
    expect = np.zeros(50)
    for i in range(50):
        for j in range(37):
            votes = sum(lx[i, q] - lz[j, q] >= 0.0 for q in range(3))
            expect[i] += votes >= 2
    np.testing.assert_array_equal(got, expect / 37)


def test_rmia_multi_query_chunks_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    import privmeter.attacks.rmia as rmia_mod

    rng = np.random.default_rng(6)
    lx, lz = rng.normal(size=(101, 4)), rng.normal(size=(53, 4))
    whole = rmia_scores_from_log_ratios(lx, lz, 1.5)
    monkeypatch.setattr(rmia_mod, "_PAIR_BUDGET", 4 * 53 * 7)  # 7 rows per chunk
    np.testing.assert_array_equal(rmia_scores_from_log_ratios(lx, lz, 1.5), whole)


def test_rmia_auto_a_never_uses_target_membership() -> None:
    t = gaussian_table(n_models=8, n_points=600, d=1.5, n_population=300, seed=9)
    res = pm.run_attack("rmia", t, target=0, online=False)
    assert res.extras["a"] in [round(0.1 * i, 1) for i in range(11)]
    assert res.extras["a_tuning_model"] != 0
    # flip the target's audit membership: tuning (and so `a` and the scores) must not change
    mem = t.membership.copy()
    mem[0, t.audit_mask] = ~mem[0, t.audit_mask]
    flipped = pm.SignalTable(t.values, mem, role=t.role)
    res2 = pm.run_attack("rmia", flipped, target=0, online=False)
    assert res2.extras["a"] == res.extras["a"]
    np.testing.assert_array_equal(res2.scores, res.scores)


# ------------------------------------------------------------- results and API


def test_run_attack_result_fields_and_json_round_trip() -> None:
    t = gaussian_table(n_models=8, n_points=400, d=2.0, n_population=100, seed=1)
    res = pm.run_attack("rmia", t, target=0, online=False, a=0.5)
    assert res.attack == "rmia" and res.target == 0
    assert res.params == {"online": False, "a": 0.5, "gamma": 1.0, "temperature": 2.0,
                          "seed": None}
    assert res.scores.shape == (400,) and res.membership.sum() == res.n_members
    assert res.auc_ci[0] <= res.auc <= res.auc_ci[1]
    assert [x.level for x in res.tpr_at_fpr] == [0.1, 0.01, 0.001, 0.0001, 0.0]
    t01 = res.tpr_at(0.001)
    assert not t01.resolvable  # 0.001 * ~200 non-members < 1
    assert res.tpr_at(0.05).level == 0.05
    text = json.dumps(res.to_dict(), allow_nan=False)
    back = pm.AttackResult.from_dict(json.loads(text))
    assert back.auc == res.auc and back.auc_ci == res.auc_ci
    assert back.tpr_at_fpr == res.tpr_at_fpr
    assert back.params == res.params and back.extras == res.extras
    np.testing.assert_array_equal(back.scores, res.scores)
    assert 0.0 <= res.ppv_at(0.1) <= 1.0
    assert "rmia" in repr(res)


def test_list_and_info() -> None:
    names = pm.list_attacks()
    assert names == sorted(names)
    assert {"lira", "loss", "population", "reference", "rmia", "shadow"} <= set(names)
    assert {"zlib", "lowercase", "min_k", "min_k_plus_plus", "pretrained_reference"} <= set(names)
    info = pm.attack_info("rmia")
    assert "ICML 2024" in info.paper
    assert [p["name"] for p in info.parameters()] == [
        "online", "a", "gamma", "temperature", "seed"
    ]
    # get_attack: the name that matches signals.get_signal, the same lookup
    from privmeter import attacks

    assert pm.get_attack is attacks.get_attack is pm.attack_info
    assert "get_attack" in pm.__all__ and "get_attack" in attacks.__all__
    assert pm.get_attack("rmia") == info
    with pytest.raises(ValueError, match="rmiaa"):
        pm.get_attack("rmiaa")


# -------------------------------------------------------------------- bad input


@pytest.fixture
def small() -> pm.SignalTable:
    return gaussian_table(n_models=4, n_points=40, d=1.0, n_population=10, seed=2)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("rmia", {"gamma": 0.0}, "gamma must be a positive number, got 0.0"),
        ("rmia", {"gamma": -1.0}, "gamma must be a positive number, got -1.0"),
        ("rmia", {"a": 1.5}, r"a must be in \[0, 1\], got 1.5"),
        ("rmia", {"a": "tuned"}, "a must be a number in"),
        ("rmia", {"temperature": 0}, "temperature must be a positive number, got 0"),
        ("rmia", {"gamm": 2.0}, "unknown parameter 'gamm' for attack 'rmia' .*'gamma'"),
        ("lira", {"online": "yes"}, "online must be True or False, got 'yes'"),
        ("reference", {"smoothing": "kde"}, "smoothing must be one of"),
        (
            "population", {"calibration_levels": (0.1, 2.0)},
            r"calibration_levels must lie in \[0, 1\], got 2.0",
        ),
    ],
)
def test_bad_params(small: pm.SignalTable, name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pm.run_attack(name, small, target=0, **params)


def test_unknown_attack_lists_known(small: pm.SignalTable) -> None:
    with pytest.raises(ValueError, match=r"unknown attack 'lirra' \(did you mean 'lira'\?\); "
                       "known attacks: (auto, )?lira, loss, .*rmia, shadow"):
        pm.run_attack("lirra", small)


def test_bad_target(small: pm.SignalTable) -> None:
    with pytest.raises(ValueError, match="target=7 is out of range"):
        pm.run_attack("loss", small, target=7)
    mem = small.membership.copy()
    mem[0, small.audit_mask] = False
    with pytest.raises(ValueError, match="target model 0 has no member"):
        pm.run_attack("loss", pm.SignalTable(small.values, mem, role=small.role), target=0)


def test_offline_without_out_reference_names_the_points() -> None:
    mem = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    t = pm.SignalTable(np.zeros((3, 4)), mem, point_ids=[10, 11, 12, 13])
    with pytest.raises(ValueError, match=r"2 points have fewer than 1 OUT reference models "
                       r"\(point ids: 10, 11\)"):
        pm.run_attack("lira", t, target=0, online=False)
    with pytest.raises(ValueError, match=r"point ids: 10, 11\)"):
        pm.run_attack("reference", t, target=0)


def test_online_without_in_reference_names_the_points() -> None:
    mem = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    t = pm.SignalTable(np.zeros((3, 4)), mem)
    with pytest.raises(ValueError, match=r"fewer than 1 IN reference models \(point ids: 0\)"):
        pm.run_attack("lira", t, target=0, online=True, fix_variance=True)


def test_per_point_variance_needs_two_references() -> None:
    t = gaussian_table(n_models=4, n_points=40, d=1.0, seed=3)
    with pytest.raises(ValueError, match="fewer than 2 (IN|OUT) reference models.*fix_variance"):
        pm.run_attack("lira", t, target=0, fix_variance=False)


def test_rmia_needs_population(small: pm.SignalTable) -> None:
    t = pm.SignalTable(small.values[:, :40], small.membership[:, :40])
    with pytest.raises(ValueError, match="RMIA needs population points"):
        pm.run_attack("rmia", t, target=0)
    with pytest.raises(ValueError, match="population attack needs population points"):
        pm.run_attack("population", t, target=0)


def test_rmia_auto_a_falls_back_to_the_default_with_one_reference() -> None:
    # the paper's cheapest setting: one offline reference model, trained on half of the
    # population; the population points it trained on have no OUT model and are not used as z
    rng = np.random.default_rng(3)
    mem = np.zeros((2, 60), bool)
    mem[0, :40] = rng.permutation(40) < 20
    mem[1, 40:] = rng.permutation(20) < 10
    vals = rng.normal(size=(2, 60)) + mem
    t = pm.SignalTable(vals, mem, role=["audit"] * 40 + ["population"] * 20)
    with pytest.warns(UserWarning, match=r"a='auto' needs at least 2 reference models to "
                      r"tune a \(has 1\); using the default a=0.3"):
        res = pm.run_attack("rmia", t, target=0, online=False)
    assert res.extras["a"] == 0.3 and res.extras["a_tuned"] is False
    assert res.extras["n_population"] == 20 and res.extras["n_population_used"] == 10
    np.testing.assert_array_equal(
        res.scores, pm.run_attack("rmia", t, target=0, online=False, a=0.3).scores
    )


def test_custom_signal_rejected_by_probability_attacks(small: pm.SignalTable) -> None:
    t = pm.SignalTable(small.values, small.membership, role=small.role, kind="custom",
                       higher_is_member=True)
    with pytest.raises(ValueError, match="needs probabilities"):
        pm.run_attack("rmia", t, target=0, online=False, a=0.5)
    # LiRA works on any real-valued signal: a custom signal with the same values scores alike
    np.testing.assert_array_equal(
        pm.run_attack("lira", t, target=0).scores, pm.run_attack("lira", small, target=0).scores
    )


def test_attack_results_use_the_metrics_module_default_levels() -> None:
    # privmeter.metrics is re-exported as is, and an attack's result reports the TPR at exactly
    # its default FPR levels: members 5 and 4 sit above every non-member (3.5, 2, 1) -> 2/3
    assert pm.metrics is metrics
    t = pm.SignalTable(np.array([[5.0, 4.0, 3.5, 3.0, 2.0, 1.0]]), np.array([[1, 1, 0, 1, 0, 0]]))
    res = pm.run_attack("loss", t)
    assert tuple(x.level for x in res.tpr_at_fpr) == metrics.DEFAULT_FPR_LEVELS
    assert metrics.DEFAULT_FPR_LEVELS[-1] == 0.0
    assert res.tpr_at(0.0).tpr == pytest.approx(2 / 3)
    assert res.tpr_at(0.0).fpr == 0.0


# ----------------------------------------------------------------------- shadow


def test_shadow_learns_class_dependent_thresholds() -> None:
    # members of class 0 sit 2 above its non-members, class 1 is shifted by +5 overall: a
    # global threshold mixes the classes, per-class attack models separate them
    rng = np.random.default_rng(0)
    n, m = 2000, 9
    labels = rng.integers(0, 2, size=n)
    mem = balanced_membership(rng, m - 1, n)
    mem = np.r_[rng.random((1, n)) < 0.5, mem]
    vals = rng.normal(size=(m, n)) + 2.0 * mem + 5.0 * labels
    t = pm.SignalTable(vals, mem, labels=labels)
    per_class = pm.run_attack("shadow", t, target=0)
    global_ = pm.run_attack("shadow", t, target=0, per_class=False, classifier="logistic")
    loss = pm.run_attack("loss", t, target=0)
    optimal = stats.norm.cdf(2.0 / math.sqrt(2.0))
    assert per_class.auc > loss.auc + 0.1
    assert abs(per_class.auc - optimal) < 0.03
    assert global_.auc == pytest.approx(loss.auc, abs=0.01)
    assert per_class.extras["attack_models"] == 2


def test_shadow_never_reads_the_target_membership() -> None:
    t = gaussian_table(n_models=6, n_points=300, d=1.0, seed=4)
    mem = t.membership.copy()
    mem[0] = ~mem[0]
    a = pm.run_attack("shadow", t, target=0).scores
    b = pm.run_attack("shadow", pm.SignalTable(t.values, mem), target=0).scores
    np.testing.assert_array_equal(a, b)


def test_shadow_bad_params(small: pm.SignalTable) -> None:
    with pytest.raises(ValueError, match="classifier must be one of"):
        pm.run_attack("shadow", small, target=0, classifier="svm")
    with pytest.raises(ValueError, match="max_train must be an integer >= 2, got 1"):
        pm.run_attack("shadow", small, target=0, max_train=1)


# ------------------------------------------------------------------- saturation


def test_saturated_margins_are_capped_keeping_the_order() -> None:
    from privmeter.attacks._common import desaturate

    phi = np.array([[1.0, -2.0, 745.0, 742.8, -745.0, 3.5, 1e4]])
    out, info = desaturate(phi)
    # the band holds the adapters' stand-ins for p = 0 or 1; 1e4 is a genuine margin
    assert info == {"saturated_values": 3, "saturation_cap": 4.5}
    np.testing.assert_array_equal(out, [[1.0, -2.0, 4.5, 4.5, -4.5, 3.5, 1e4]])
    same, none = desaturate(np.array([1.0, 2.0]))
    assert none == {} and same.tolist() == [1.0, 2.0]


def test_lira_is_not_thrown_by_saturated_probabilities() -> None:
    # a quantised model reports probability exactly 1 beyond some confidence, for members and
    # non-members alike (margin stored as 745): raw, these wreck the Gaussian fits (AUC 0.81,
    # TPR@1% 17% here); capped, LiRA keeps its power (0.96, 49%)
    rng = np.random.default_rng(7)
    n, m = 3000, 17
    mem = np.r_[rng.random((1, n)) < 0.5, balanced_membership(rng, m - 1, n)]
    vals = rng.normal(0, 1, n) + rng.normal(0, 0.5, (m, n)) + 1.5 * mem
    vals[vals > 2.5] = 745.0
    res = pm.run_attack("lira", pm.SignalTable(vals, mem), target=0)
    assert res.extras["saturated_values"] == int((vals == 745.0).sum())
    assert res.auc > 0.94
    assert res.tpr_at(0.01).tpr > 0.4


# ------------------------------------------------- edge cases (issue 8, items 3 and 4)


def _offline_table(
    seed: int, *, n_audit: int = 200, n_pop: int = 200, n_refs: int = 4, d: float = 2.0,
    ref_role: str = "population",
) -> pm.SignalTable:
    """Offline design: the target trains on half the audit points, each reference model on
    half of the non-audit points (``ref_role``); audit points are OUT for every reference."""
    rng = np.random.default_rng(seed)
    n = n_audit + n_pop
    mem = np.zeros((n_refs + 1, n), bool)
    mem[0, :n_audit] = rng.permutation(n_audit) < n_audit // 2
    mem[1:, n_audit:] = balanced_membership(rng, n_refs, n_pop) if n_refs > 1 else (
        rng.permutation(n_pop) < n_pop // 2
    )
    mu = rng.normal(0.0, 2.0, size=n)
    vals = mu + rng.normal(size=mem.shape) + d * mem
    return pm.SignalTable(vals, mem, role=["audit"] * n_audit + [ref_role] * n_pop)


def test_lira_with_one_reference_per_side_is_finite_and_uninformative_on_noise() -> None:
    # 1 IN and 1 OUT reference per point: the per-point and pooled variances are undefined;
    # before the fix the variance was floored at 1e-300 and the scores reached 1e300
    rng = np.random.default_rng(0)
    mem = np.zeros((3, 400), bool)
    mem[0, :200] = True
    mem[1, ::2] = True
    mem[2, 1::2] = True
    t = pm.SignalTable(rng.normal(size=(3, 400)), mem)
    for online in (True, False):
        res = pm.run_attack("lira", t, target=0, online=online)
        assert np.abs(res.scores).max() < 50.0, online
        assert res.extras["variance_estimator"] == "global"
        assert res.auc_ci[0] < 0.5 < res.auc_ci[1]
    # online with one common variance the score is linear in the target's signal
    res = pm.run_attack("lira", t, target=0)
    v = t.values[:, :, 0]
    mu_in = np.where(mem[1], v[1], v[2])
    mu_out = np.where(mem[1], v[2], v[1])
    s2 = np.var(v[1:], ddof=1)
    np.testing.assert_allclose(
        res.scores, (mu_in - mu_out) * (v[0] - (mu_in + mu_out) / 2) / s2, rtol=1e-9
    )


def test_lira_global_variance_matches_the_papers_fixed_variance() -> None:
    # offline with one OUT reference: the variance is np.var of all OUT signals
    rng = np.random.default_rng(1)
    mem = np.zeros((2, 100), bool)
    mem[0, :50] = True
    vals = rng.normal(size=(2, 100)) * 3.0
    res = pm.run_attack("lira", pm.SignalTable(vals, mem), target=0, online=False)
    sd = np.std(vals[1], ddof=1)
    np.testing.assert_allclose(res.scores, stats.norm.logcdf(vals[0], vals[1], sd), rtol=1e-9)
    np.testing.assert_allclose(res.extras["std_out"], [sd])


def test_reference_attack_with_one_reference_uses_the_global_variance() -> None:
    rng = np.random.default_rng(2)
    mem = np.zeros((2, 100), bool)
    mem[0, :50] = True
    vals = rng.normal(size=(2, 100)) * 1e-3  # before: the variance defaulted to 1.0
    res = pm.run_attack("reference", pm.SignalTable(vals, mem), target=0, smoothing="gaussian")
    sd = np.std(vals[1], ddof=1) * math.sqrt(2.0)  # predictive: s sqrt(1 + 1/k), k = 1
    z = (vals[0] - vals[1]) / sd
    np.testing.assert_allclose(res.scores, stats.norm.logcdf(z) - stats.norm.logcdf(-z),
                               rtol=1e-9)
    assert res.extras["variance_estimator"] == "global"


@pytest.mark.parametrize("factor", [1e-300, 1e-20, 1e20, 1e300])
@pytest.mark.parametrize(("name", "params"), [
    ("lira", {"online": True}), ("lira", {"online": False}),
    ("lira", {"fix_variance": False}), ("reference", {}),
    ("reference", {"smoothing": "gaussian"}),
])
def test_gaussian_attacks_are_scale_invariant(factor: float, name: str, params: dict) -> None:
    # before: x 1e-300 gave LiRA AUC 0.500 (instead of 0.74), x 1e300 NaN scores
    t = gaussian_table(n_models=9, n_points=400, d=1.0, seed=1)
    base = pm.run_attack(name, t, target=0, **params)
    scaled = pm.run_attack(name, pm.SignalTable(t.values * factor, t.membership), target=0,
                           **params)
    assert base.auc > 0.6
    assert scaled.auc == pytest.approx(base.auc, abs=1e-12)
    np.testing.assert_allclose(scaled.scores, base.scores, rtol=1e-6, atol=1e-9)


def test_values_near_the_float_maximum_give_finite_scores() -> None:
    t = gaussian_table(n_models=9, n_points=400, d=1.0, seed=1)
    big = pm.SignalTable(t.values / np.abs(t.values).max() * 1.7e308, t.membership)
    for name in ("lira", "reference"):
        res = pm.run_attack(name, big, target=0)
        assert np.isfinite(res.scores).all()
        assert res.auc == pytest.approx(pm.run_attack(name, t, target=0).auc, abs=1e-12)
    assert pm.run_attack("lira", big, target=0).extras["rescale_exponent"] == 1024


def test_rmia_exact_duplicate_of_a_population_point_ties_with_it() -> None:
    # issue 8's reproduction: point 2 (population) duplicates point 0 (audit) exactly;
    # LR(x, z) = 1 >= gamma = 1, so x dominates its duplicate. Before: score 0.0.
    vals = [[.753, 2.083, .753], [-2.65, 1.562, -2.65], [-.492, .535, -.492],
            [.911, 1.367, .911], [2.823, 4.085, 2.823]]
    mem = np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] * 2, bool)
    t = pm.SignalTable(vals, mem, role=["audit", "audit", "population"])
    assert pm.run_attack("rmia", t, target=0, temperature=1).scores[0] == 1.0


def test_rmia_online_duplicates_tie_with_unequal_reference_counts_too() -> None:
    # 3 IN + 3 OUT references for every audit point, population OUT everywhere: many
    # population points duplicate audit points exactly and must each tie (count as >=)
    rng = np.random.default_rng(5)
    n = 50
    mem = np.zeros((7, 2 * n), bool)
    mem[0, :n] = rng.permutation(n) < n // 2
    mem[1:, :n] = balanced_membership(rng, 6, n)
    vals = rng.normal(size=(7, n))
    t = pm.SignalTable(np.c_[vals, vals], mem, role=["audit"] * n + ["population"] * n)
    res = pm.run_attack("rmia", t, target=0)
    lr_pop = rmia_log_ratios(
        t.values[1:, n:], t.values[0, n:], np.ones((6, n), bool), a=None, temperature=2.0,
    )[:, 0]
    lr_aud = rmia_log_ratios(
        t.values[1:, :n], t.values[0, :n], np.ones((6, n), bool), a=None, temperature=2.0,
        in_mask=mem[1:, :n],
    )[:, 0]
    np.testing.assert_array_equal(lr_aud, lr_pop)  # bit-identical, hence tied
    np.testing.assert_array_equal(res.scores, (lr_aud[:, None] >= lr_pop[None]).mean(axis=1))


def test_rmia_auto_a_tunes_on_reference_only_points() -> None:
    # reference models trained outside the audited data: their training points travel in
    # the table with role 'reference' (the target's values on them are ignored)
    t = _offline_table(4, ref_role="reference", n_pop=400)
    n_audit = 200
    role = np.array(["audit"] * n_audit + ["reference"] * 300 + ["population"] * 100)
    mem = t.membership.copy()
    mem[1:, n_audit + 300:] = False  # the population proper: no model trained on it
    mem[0, n_audit:] = False
    table = pm.SignalTable(t.values, mem, role=role)
    res = pm.run_attack("rmia", table, target=0, online=False)
    assert res.extras["a_tuned"] is True and res.extras["a_tuning_model"] != 0
    assert max(res.extras["a_tuning_auc"]) > 0.7 and res.auc > 0.7
    # the target's values and membership on reference points are never used
    vals = table.values.copy()
    vals[0, n_audit : n_audit + 300] = 123.0
    mem2 = mem.copy()
    mem2[0, n_audit : n_audit + 300] = True
    other = pm.SignalTable(vals, mem2, role=role)
    res2 = pm.run_attack("rmia", other, target=0, online=False)
    np.testing.assert_array_equal(res2.scores, res.scores)
    # without the reference points tuning is impossible: a warning and the default a
    audit_pop = np.r_[np.arange(n_audit), np.arange(n_audit + 300, n_audit + 400)]
    bare = pm.SignalTable(table.values[:, audit_pop], mem[:, audit_pop], role=role[audit_pop])
    with pytest.warns(UserWarning, match=r"found no reference model to tune on.*"
                      r"role='reference'.*using the default a=0.3"):
        res3 = pm.run_attack("rmia", bare, target=0, online=False)
    assert res3.extras["a"] == 0.3 and res3.extras["a_tuned"] is False


def test_rmia_tuning_subsamples_large_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    from privmeter.attacks import rmia as rmia_mod

    t = _offline_table(6, n_audit=400, n_pop=400)
    full = pm.run_attack("rmia", t, target=0, online=False)
    monkeypatch.setattr(rmia_mod, "_TUNE_MAX_POINTS", 120)
    sub = pm.run_attack("rmia", t, target=0, online=False)
    assert sub.extras["a_tuned"] and len(sub.extras["a_tuning_auc"]) == 11
    assert abs(sub.extras["a"] - full.extras["a"]) <= 0.5


def test_rmia_tuning_seed_is_explicit() -> None:
    t = gaussian_table(n_models=8, n_points=600, d=1.5, n_population=300, seed=9)
    default = pm.run_attack("rmia", t, target=0, online=False)
    assert default.extras["a_tuning_model"] == 1  # seed=None: the first usable reference
    # the same seed gives the same choice and the same scores, whatever ran in between
    a = pm.run_attack("rmia", t, target=0, online=False, seed=3)
    np.random.seed(12345)  # noqa: NPY002 (the global RNG plays no part)
    pm.run_attack("rmia", t, target=0, online=False, seed=4)
    b = pm.run_attack("rmia", t, target=0, online=False, seed=3)
    assert a.params["seed"] == 3 and a.extras["a_tuning_model"] == b.extras["a_tuning_model"]
    np.testing.assert_array_equal(a.scores, b.scores)
    # different seeds may pick different pseudo-targets (7 references: some seeds differ)
    picked = {pm.run_attack("rmia", t, target=0, online=False, seed=s).extras["a_tuning_model"]
              for s in range(6)}
    assert len(picked) > 1 and 0 not in picked  # never the target
    # a fixed a ignores the seed; bad seeds are refused by name
    fixed = [pm.run_attack("rmia", t, target=0, online=False, a=0.4, seed=s).scores
             for s in (0, 1)]
    np.testing.assert_array_equal(fixed[0], fixed[1])
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        pm.run_attack("rmia", t, target=0, online=False, seed=-1)


def test_audit_passes_its_seed_to_rmia_tuning() -> None:
    from sklearn.linear_model import LogisticRegression

    from privmeter.audit import Audit
    from privmeter.pipeline.audit import BuiltTable
    from privmeter.training import SklearnTrainer

    t = gaussian_table(n_models=8, n_points=600, d=1.5, n_population=300, seed=9)
    built = BuiltTable(table=t, targets=(0,), card={}, timings={},
                       audit_rows=np.arange(600, dtype=np.int64))
    data = (np.zeros((900, 2)), np.arange(900) % 2)
    for seed in (2, 5):
        audit = Audit(data, SklearnTrainer(LogisticRegression()), attacks=["rmia"],
                      online=False, seed=seed, progress=False)
        (res,) = audit.attack(built)
        direct = pm.run_attack("rmia", t, target=0, online=False, seed=seed)
        assert res.params["seed"] == seed and res.params["online"] is False
        assert res.extras["a_tuning_model"] == direct.extras["a_tuning_model"]
        np.testing.assert_array_equal(res.scores, direct.scores)
    # a seed in the attack's own params wins
    audit = Audit(data, SklearnTrainer(LogisticRegression()), attacks={"rmia": {"seed": 7}},
                  online=False, seed=2, progress=False)
    assert audit.attack(built)[0].params["seed"] == 7


def test_shadow_with_offline_references_learns_from_their_training_points() -> None:
    # before: references OUT for every audit point gave 0.5 for every point (AUC 0.5)
    t = _offline_table(7, d=3.0)
    loss = pm.run_attack("loss", t, target=0)
    res = pm.run_attack("shadow", t, target=0, classifier="logistic")
    assert loss.auc > 0.75 and res.auc > loss.auc - 0.05
    assert len(np.unique(res.scores)) > 10


def test_shadow_refuses_one_sided_reference_membership() -> None:
    t = _offline_table(8)
    mem = t.membership.copy()
    mem[1:] = False  # references trained outside the table, none of it given
    bare = pm.SignalTable(t.values, mem, role=t.role)
    with pytest.raises(ValueError, match=r"every point of the table is a non-member of every "
                       r"reference model \(4 models, 400 points\).*role='reference'"):
        pm.run_attack("shadow", bare, target=0)


def test_shadow_class_without_shadow_members_uses_the_global_model() -> None:
    t = _offline_table(9, d=3.0)
    labels = np.zeros(t.n_points, int)
    labels[:100] = 1  # class 1: audit points only, never IN a reference model
    lt = pm.SignalTable(t.values, t.membership, role=t.role, labels=labels)
    res = pm.run_attack("shadow", lt, target=0, classifier="logistic")
    assert res.extras["classes_scored_by_the_global_attack_model"] == [1]
    assert res.auc > pm.run_attack("loss", t, target=0).auc - 0.05


def test_score_attack_is_run_attack_without_metrics() -> None:
    from privmeter.attacks import score_attack

    t = gaussian_table(n_models=6, n_points=300, d=1.0, n_population=100, seed=12)
    for name in ("loss", "lira", "rmia", "reference"):
        s = score_attack(name, t, target=0)
        r = pm.run_attack(name, t, target=0)
        np.testing.assert_array_equal(s.scores, r.scores)
        np.testing.assert_array_equal(s.membership, r.membership)
        assert s.params == r.params and s.target == r.target == 0


def test_shadow_attack_models_fit_on_one_openmp_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # gradient boosting with OpenMP threads competing with another busy process ran 400x
    # slower (108 s instead of 0.25 s); the attack models are small, so one thread
    from threadpoolctl import threadpool_info

    from privmeter.attacks import shadow

    seen: list[int] = []
    make = shadow._make_model

    def recording(params: Any) -> Any:
        model = make(params)
        fit = model.fit

        def fit_and_record(x: Any, y: Any) -> Any:
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp")
            return fit(x, y)

        model.fit = fit_and_record
        return model

    monkeypatch.setattr(shadow, "_make_model", recording)
    t = gaussian_table(n_models=6, n_points=300, d=1.0, seed=4)
    pm.run_attack("shadow", t, target=0)
    assert seen and set(seen) == {1}


def test_online_lira_counts_the_missing_in_and_out_references_separately() -> None:
    # one reference model: every point is IN it or OUT of it; the error must say which
    # points lack an IN and which lack an OUT model (not 'all points lack an IN model')
    ref_in = np.array([1, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    mem = np.stack([np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=bool), ref_in])
    t = pm.SignalTable(np.zeros((2, 8)), mem, point_ids=np.arange(100, 108))
    with pytest.raises(
        ValueError,
        match=r"^3 points have fewer than 1 IN reference models \(point ids: 103, 104, 106\); "
        r"5 points have fewer than 1 OUT reference models \(point ids: 100, 101, 102, 105, "
        r"107\); online LiRA needs",
    ):
        pm.run_attack("lira", t, target=0, online=True)
