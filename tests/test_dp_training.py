"""DP-SGD training (TorchTrainer(dp=DPConfig(...)), Opacus): config, determinism, accounting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from privmeter.training import (
    DPConfig,
    InProcessExecutor,
    JobFailedError,
    ProcessExecutor,
    Store,
    TorchTrainer,
    keep_matrix,
    train_models,
)
from privmeter.training.dp import dp_sample_rate, privacy_spent

torch.set_num_threads(1)

DP = DPConfig(noise_multiplier=1.0, delta=1e-3, max_grad_norm=1.0)


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def make_bn() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def data(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0).astype(np.int64)


def trainer(dp: DPConfig | None = DP, **kw: object) -> TorchTrainer:
    opts: dict[str, object] = {"optimizer": "sgd", "lr": 0.5, "epochs": 3, "batch_size": 20}
    opts.update(kw)
    return TorchTrainer(make_mlp, dp=dp, **opts)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"delta": 1e-5}, "give exactly one of noise_multiplier and target_epsilon, got neither"),
        ({"delta": 1e-5, "noise_multiplier": 1.0, "target_epsilon": 2.0}, "got both"),
        ({"delta": 0.0, "noise_multiplier": 1.0}, r"delta must be a number in \(0, 1\)"),
        ({"delta": -1e-5, "noise_multiplier": 1.0}, r"e.g. 1/\(10 n\)\), got -1e-05"),
        ({"delta": 1e-5, "noise_multiplier": 0.0}, "noise_multiplier must be a positive"),
        ({"delta": 1e-5, "target_epsilon": float("inf")}, "target_epsilon must be a positive"),
        ({"delta": 1e-5, "noise_multiplier": 1.0, "max_grad_norm": -1.0}, "max_grad_norm"),
        ({"delta": 1e-5, "noise_multiplier": 1.0, "accountant": "gdp"},
         r"unknown accountant 'gdp'; expected one of \('rdp', 'prv'\)"),
        ({"delta": 1e-5, "noise_multiplier": 1.0, "poisson_sampling": 1},
         "poisson_sampling must be True or False"),
    ],
)
def test_config_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DPConfig(**kwargs)


def test_config_round_trip_and_trainer_type_check() -> None:
    cfg = DPConfig(target_epsilon=3, delta=1e-5, accountant="prv")
    assert DPConfig.from_dict(cfg.to_dict()) == cfg and cfg.target_epsilon == 3.0
    with pytest.raises(ValueError, match=r"unknown DP setting\(s\) \['sigma'\]"):
        DPConfig.from_dict({"sigma": 1.0, "delta": 1e-5})
    with pytest.raises(TypeError, match="dp must be a privmeter.training.DPConfig or None"):
        TorchTrainer(make_mlp, dp={"noise_multiplier": 1.0})  # type: ignore[arg-type]


def test_fingerprint_unchanged_without_dp_and_covers_the_dp_config() -> None:
    plain = json.loads(trainer(None).fingerprint())
    assert "dp" not in plain["config"]  # the cache keys of non-private trainers stay as before
    with_dp = json.loads(trainer().fingerprint())
    assert with_dp["config"]["dp"]["fields"]["noise_multiplier"] == 1.0
    others = {trainer(DPConfig(noise_multiplier=1.1, delta=1e-3)).fingerprint(),
              trainer(DPConfig(noise_multiplier=1.0, delta=1e-3, poisson_sampling=False))
              .fingerprint(), trainer().fingerprint(), trainer(None).fingerprint()}
    assert len(others) == 4


# -------------------------------------------------------------------------- training
def test_dp_training_is_deterministic_and_returns_a_plain_state_dict() -> None:
    x, y = data()
    t = trainer()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = t.fit(x, y, np.arange(100), seed=4)
    assert torch.equal(torch.rand(1), before)  # the caller's global RNG is untouched
    b = t.fit(x, y, np.arange(100), seed=4)
    c = t.fit(x, y, np.arange(100), seed=5)
    assert sorted(a) == sorted(make_mlp().state_dict())  # no Opacus "_module." prefixes
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    model = t.build(a)
    assert model(torch.from_numpy(x[:3])).shape == (3, 3)
    # shuffled fixed-size batches are deterministic too, and differ from Poisson sampling
    s = trainer(DPConfig(noise_multiplier=1.0, delta=1e-3, poisson_sampling=False))
    d1, d2 = (s.fit(x, y, np.arange(100), seed=4) for _ in range(2))
    assert all(torch.equal(d1[k], d2[k]) for k in d1)
    assert not all(torch.equal(a[k], d1[k]) for k in a)


def test_noise_and_clipping_act() -> None:
    x, y = data()
    idx = np.arange(100)
    noisy = trainer(DPConfig(noise_multiplier=50.0, delta=1e-3)).fit(x, y, idx, seed=0)
    quiet = trainer(DPConfig(noise_multiplier=0.01, delta=1e-3)).fit(x, y, idx, seed=0)
    init = trainer().init_model(0).state_dict()
    move = {k: float((noisy[k] - init[k]).norm()) / float((quiet[k] - init[k]).norm())
            for k in init}
    assert min(move.values()) > 5  # sigma C = 50: the noise dominates every update
    # clipping: with a tiny norm and almost no noise the weights barely move
    tiny = trainer(DPConfig(noise_multiplier=0.01, delta=1e-3, max_grad_norm=1e-4))
    st = tiny.fit(x, y, idx, seed=0)
    assert max(float((st[k] - init[k]).abs().max()) for k in init) < 1e-3


def test_privacy_spent_is_deterministic_and_uses_the_claimed_accountant() -> None:
    t = trainer()
    s = t.privacy_spent(100)
    assert s == t.privacy_spent(100)
    assert set(s) == {"epsilon", "accountant", "epsilon_rdp", "epsilon_prv", "delta",
                      "noise_multiplier", "sample_rate", "steps", "max_grad_norm", "n_points",
                      "poisson_sampling"}
    assert s["steps"] == t.steps(100) == 15 and s["sample_rate"] == dp_sample_rate(100, 20)
    assert s["epsilon"] == s["epsilon_rdp"] and s["epsilon_prv"] <= s["epsilon_rdp"]
    prv = trainer(DPConfig(noise_multiplier=1.0, delta=1e-3, accountant="prv"))
    assert prv.privacy_spent(100)["epsilon"] == s["epsilon_prv"]
    # target epsilon: the noise found reaches at most the target, within Opacus' tolerance
    tgt = trainer(DPConfig(target_epsilon=2.0, delta=1e-3)).privacy_spent(100)
    assert 1.98 <= tgt["epsilon"] <= 2.0 and tgt["noise_multiplier"] > 1.0
    with pytest.raises(ValueError, match=r"not differentially private \(dp=None\)"):
        trainer(None).privacy_spent(100)


def test_accountants_agree_with_dp_accounting() -> None:
    # independent implementations (Google's dp-accounting): RDP within 0.5%, Opacus' PRV
    # within 3% (relative) of the PLD accountant; both are upper bounds, so PRV >= PLD - 1%
    import dp_accounting
    from dp_accounting import pld, rdp

    for sigma, q, epochs, delta in ((2.0, 0.125, 30, 1e-4), (16.0, 0.125, 30, 1e-4)):
        dp = DPConfig(noise_multiplier=sigma, delta=delta)
        s = privacy_spent(dp, n_points=80, batch_size=10, epochs=epochs)
        assert s["sample_rate"] == q and s["steps"] == 240
        event = dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), 240)
        r = rdp.RdpAccountant()
        r.compose(event)
        p = pld.PLDAccountant()
        p.compose(event)
        assert s["epsilon_rdp"] == pytest.approx(r.get_epsilon(delta), rel=5e-3)
        pld_eps = p.get_epsilon(delta)
        assert s["epsilon_prv"] == pytest.approx(pld_eps, rel=3e-2)
        assert s["epsilon_prv"] >= 0.99 * pld_eps


# ------------------------------------------------------------------------- bad input
def test_delta_must_be_below_one_over_n() -> None:
    x, y = data()
    t = trainer(DPConfig(noise_multiplier=1.0, delta=0.02))
    msg = r"delta=0.02 is not below 1/n = 0.02 for n=50 training points.*1/\(10 n\) = 0.002"
    with pytest.raises(ValueError, match=msg):
        t.fit(x, y, np.arange(50), seed=0)
    with pytest.raises(ValueError, match=msg):
        t.privacy_spent(50)


def test_unreachable_target_epsilon_names_the_settings() -> None:
    t = trainer(DPConfig(target_epsilon=1e-9, delta=1e-3))
    with pytest.raises(ValueError, match=r"target_epsilon=1e-09 cannot be reached at "
                       r"delta=0.001 with these settings \(sampling rate q=0.2, 15 steps"):
        t.privacy_spent(100)


def test_batchnorm_is_refused_with_a_groupnorm_hint() -> None:
    x, y = data()
    t = TorchTrainer(make_bn, epochs=1, batch_size=20, dp=DP)
    with pytest.raises(ValueError, match=r"BatchNorm layer\(s\) \['1'\], which are incompatible "
                       r"with DP-SGD.*Use GroupNorm"):
        t.fit(x, y, np.arange(100), seed=0)


def test_vectorized_ensemble_training_refuses_dp() -> None:
    x, y = data()
    keep = keep_matrix(2, 120, seed=0)
    with pytest.raises(JobFailedError, match="vectorized ensemble trainer does not implement "
                       "DP-SGD"):
        train_models(trainer(), x, y, keep, seeds=0, progress=False, vectorized=True)


# ------------------------------------------------------------- store and executors
def test_dp_models_through_store_and_process_executor(tmp_path: object) -> None:
    x, y = data()
    keep = keep_matrix(2, 120, seed=0)
    t = trainer()
    store = Store(str(tmp_path))
    first = train_models(t, x, y, keep, seeds=7, store=store, progress=False,
                         executor=InProcessExecutor())
    again = train_models(t, x, y, keep, seeds=7, store=store, progress=False)
    with ProcessExecutor(max_workers=1) as ex:
        pooled = train_models(t, x, y, keep, seeds=7, progress=False, executor=ex)
    for a, b, c in zip(first, again, pooled, strict=True):
        assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)
