"""The DP audit game: DP-SGD is consistent with its claim, a broken DP-SGD is flagged."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

import _dp_helpers as _dp
from privmeter.dp_game import (
    DPAuditResult,
    canaries_needed,
    dp_audit_game,
    max_certifiable_epsilon,
)
from privmeter.training import DPConfig, Store, TorchTrainer

torch.set_num_threads(1)

D = 50


make_mlp = functools.partial(_dp.make_mlp, D, 64)


def task(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    return _dp.four_class_task(n, D)


def dp_trainer(sigma: float, *, cls: type = TorchTrainer, epochs: int = 10) -> TorchTrainer:
    trainer: TorchTrainer = cls(
        make_mlp, optimizer="sgd", lr=2.0, epochs=epochs, batch_size=50,
        dp=DPConfig(noise_multiplier=sigma, delta=1e-6, max_grad_norm=1.0),
    )
    return trainer


@pytest.mark.parametrize(("sigma", "runs"), [(1.0, 2), (3.0, 1)])
def test_dp_sgd_lower_bounds_stay_below_the_claim(sigma: float, runs: int) -> None:
    # claimed (RDP, delta 1e-6, ~300 points, 10 epochs at q = 1/7): 11.6 at sigma 1, 1.9 at 3;
    # measured bounds at sigma 1 (seed 1): one-run 0.44, Clopper-Pearson 0.15, GDP 0.77
    res = dp_audit_game(task(), dp_trainer(sigma), n_canaries=200, runs=runs, seed=1)
    assert res.verdict == "consistent" and not res.violated
    assert [b.method for b in res.bounds] == (
        ["one_run"] if runs == 1 else ["one_run", "clopper_pearson", "gdp"]
    )
    assert all(0.0 <= b.epsilon <= res.claimed_epsilon for b in res.bounds)
    assert all(b.confidence == pytest.approx(1 - 0.05 / len(res.bounds)) for b in res.bounds)
    assert res.accountant == "rdp" and res.claimed_epsilon == res.claimed_epsilon_rdp
    assert res.claimed_epsilon_prv is not None and res.claimed_epsilon_prv < res.claimed_epsilon
    assert res.inclusion.shape == res.scores.shape == (runs, 200)
    assert len(res.seeds) == runs and len(res.privacy) >= 1
    assert res.source_rows is not None and len(set(res.source_rows)) == 200
    assert "no evidence that the privacy guarantee is broken" in res.summary()


def test_broken_dp_sgd_is_flagged_as_violated() -> None:
    # no noise, clipping kept; the accountant claims 0.57-0.62 (sigma 16, delta 1e-6).
    # Measured with 200 mislabelled canaries, 2 runs, 30 epochs, seeds 0-4: every seed
    # violated; one-run 2.19-2.61, Clopper-Pearson 1.96-2.73, GDP 8.4-11.2
    res = dp_audit_game(task(), dp_trainer(16.0, cls=_dp.NoNoiseTrainer, epochs=30),
                        n_canaries=200, runs=2, seed=0)
    assert res.verdict == "violated" and res.violated
    assert res.claimed_epsilon < 0.6
    flagged = [b.method for b in res.bounds if b.epsilon > res.claimed_epsilon]
    assert "one_run" in flagged and "gdp" in flagged
    assert res.lower_bound.epsilon == max(b.epsilon for b in res.bounds)
    assert "The DP claim is violated" in res.summary()
    assert res.summary_lines()[-1].startswith("DP verdict: VIOLATED")
    # the same pipeline with its noise is consistent (one run)
    ok = dp_audit_game(task(), dp_trainer(16.0, epochs=30), n_canaries=200, seed=0)
    assert ok.verdict == "consistent"


def test_result_round_trips_through_json_and_draws_the_tpr_bound(tmp_path: object) -> None:
    x, y = task(120)
    t = dp_trainer(2.0, epochs=1)
    store = Store(str(tmp_path))
    res = dp_audit_game((x, y), t, n_canaries=40, runs=2, seed=3, store=store)
    again = dp_audit_game((x, y), t, n_canaries=40, runs=2, seed=3, store=store)
    assert np.array_equal(res.scores, again.scores) and res.seeds == again.seeds
    d = json.loads(json.dumps(res.to_dict()))
    back = DPAuditResult.from_dict(d)
    assert back.to_dict() == d
    assert d["verdict"] in ("consistent", "violated") and d["summary"] == res.summary()
    assert "steinke2023" in d["cites"] and "nasr2023" in d["cites"]
    fpr = np.array([0.0, 0.01, 0.5])
    bound = res.tpr_bound(fpr)
    assert bound[0] == pytest.approx(res.delta)
    assert bound[1] == pytest.approx(min(1.0, np.exp(res.claimed_epsilon) * 0.01 + res.delta))


def test_ood_and_gradient_canaries_and_a_callers_claim() -> None:
    x, y = task(120)
    plain = TorchTrainer(make_mlp, optimizer="sgd", lr=0.5, epochs=2, batch_size=40)
    for canary in ("ood", "gradient"):
        res = dp_audit_game((x, y), dp_trainer(2.0, epochs=1), n_canaries=40, canary=canary)
        assert res.canary == canary and res.source_rows is None
        assert np.isfinite(res.scores).all() and res.scores.shape == (1, 40)
    # a pipeline without an accountant: the caller states the claim
    res = dp_audit_game((x, y), plain, n_canaries=40, claimed_epsilon=0.5, delta=1e-4)
    assert res.claimed_epsilon == 0.5 and res.accountant is None and res.privacy == ()


def test_how_many_canaries() -> None:
    assert max_certifiable_epsilon(1) == 0.0
    assert max_certifiable_epsilon(100) < max_certifiable_epsilon(1000)
    need = canaries_needed(1.0)
    assert max_certifiable_epsilon(need) >= 1.0 > max_certifiable_epsilon(need - 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_canaries": 3}, r"n_canaries=3 with runs=1 is too few to bound anything.*"
                            r"certifying epsilon = 1 needs at least \d+ canaries"),
        ({"canary": "poison"}, r"unknown canary 'poison'; expected one of"),
        ({"n_canaries": 70}, "at most half of the 120 rows; lower n_canaries or use "
                             "canary='ood'"),
        ({"delta": 1e-5}, "differs from the trainer's DPConfig delta=1e-06"),
        ({"runs": 0}, "runs"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    x, y = task(120)
    opts: dict = {"n_canaries": 40}
    opts.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dp_audit_game((x, y), dp_trainer(2.0, epochs=1), **opts)


def test_claimed_epsilon_missing() -> None:
    x, y = task(120)
    plain = TorchTrainer(make_mlp, epochs=1)
    with pytest.raises(ValueError, match="claimed epsilon missing: the trainer is not "
                       "differentially private"):
        dp_audit_game((x, y), plain, n_canaries=40)
    with pytest.raises(ValueError, match="with claimed_epsilon, give its delta too"):
        dp_audit_game((x, y), plain, n_canaries=40, claimed_epsilon=1.0)
