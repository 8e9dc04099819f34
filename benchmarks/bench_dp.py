"""DP-SGD benchmark: the cost of differential privacy in training, and what vectorizing would buy.

1. One MLP (64-128-128-10) on scikit-learn's digits (1000 training points, 10 epochs, batch
   64, SGD), trained by ``TorchTrainer`` without DP and with ``dp=DPConfig(...)`` (Opacus
   per-example gradients, clipping, noise; Poisson sampling and shuffled batches): wall times
   and the DP / non-DP ratio, plus the accountants' time (``privacy_spent``; RDP and PRV).
2. The vectorized ensemble trainer does not implement DP-SGD. To size what it would gain,
   one DP-SGD step of K = 16 such models is timed two ways on the same (K, B) batches:
   K Opacus steps one after another (what ``train_models(vectorized=False)`` does), and a
   ``torch.func`` prototype (``vmap`` over models of ``vmap(grad)`` over examples, per-example
   clipping, sum, Gaussian noise) -- the core of a vectorized DP ensemble step.

All ratios come from measurements in the same run (best of ``--repeats``).

    .venv/bin/python benchmarks/bench_dp.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.func import functional_call, grad, stack_module_state, vmap

from privmeter.training import MLP, DPConfig, TorchTrainer

SIZES = (64, 128, 128, 10)
POOL = 1000
EPOCHS = 10
BATCH = 64
K = 16


make_model = MLP(SIZES)  # a picklable factory: each call builds a fresh network


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    x = (x[perm] / 16.0).astype(np.float32)
    y = y[perm].astype(np.int64)
    return x[:POOL], y[:POOL], x[POOL:], y[POOL:]


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _accuracy(trainer: TorchTrainer, state: dict[str, torch.Tensor], x: np.ndarray,
              y: np.ndarray) -> float:
    with torch.no_grad():
        pred = trainer.build(state)(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def bench_training(repeats: int) -> None:
    x, y, xt, yt = _digits()
    idx = np.arange(POOL)
    common: dict[str, Any] = {"optimizer": "sgd", "lr": 0.5, "epochs": EPOCHS,
                              "batch_size": BATCH}
    dp = DPConfig(noise_multiplier=1.0, delta=1e-5, max_grad_norm=1.0)
    trainers = {
        "non-private": TorchTrainer(make_model, **common),
        "DP-SGD, Poisson": TorchTrainer(make_model, dp=dp, **common),
        "DP-SGD, shuffled": TorchTrainer(
            make_model, dp=DPConfig(noise_multiplier=1.0, delta=1e-5, max_grad_norm=1.0,
                                    poisson_sampling=False), **common),
    }
    trainers["DP-SGD, Poisson"].fit(x, y, idx[:100], seed=0)  # warm up: Opacus import
    times: dict[str, float] = {}
    print(f"1. one MLP {SIZES}, {POOL} digits, {EPOCHS} epochs, batch {BATCH}, SGD")
    for name, t in trainers.items():
        sec, state = _best(lambda t=t: t.fit(x, y, idx, seed=0), repeats)
        times[name] = sec
        print(f"   {name:18s} {sec:7.3f} s   test accuracy {_accuracy(t, state, xt, yt):.3f}")
    for name in ("DP-SGD, Poisson", "DP-SGD, shuffled"):
        print(f"   ratio {name} / non-private: {times[name] / times['non-private']:.1f}x")
    from privmeter.training.dp import _epsilon, _noise_for_target

    _epsilon.cache_clear()
    sec, spent = _best(lambda: (_epsilon.cache_clear(),
                                trainers["DP-SGD, Poisson"].privacy_spent(POOL))[1], repeats)
    print(f"   privacy_spent (RDP + PRV): {sec:.3f} s -> epsilon_rdp "
          f"{spent['epsilon_rdp']:.2f}, epsilon_prv {spent['epsilon_prv']:.2f} at delta 1e-5")
    target = TorchTrainer(make_model, dp=DPConfig(target_epsilon=2.0, delta=1e-5), **common)
    _noise_for_target.cache_clear()
    sec, spent = _best(lambda: (_noise_for_target.cache_clear(), _epsilon.cache_clear(),
                                target.privacy_spent(POOL))[2], repeats)
    print(f"   target_epsilon=2 -> noise_multiplier {spent['noise_multiplier']:.3f} "
          f"(Opacus get_noise_multiplier + both accountants): {sec:.3f} s")


def bench_vectorized_step(repeats: int) -> None:
    x, y, _, _ = _digits()
    rng = np.random.default_rng(0)
    batches = torch.from_numpy(rng.integers(0, POOL, size=(K, BATCH)))
    xb, yb = torch.from_numpy(x)[batches], torch.from_numpy(y)[batches]  # (K, B, ...)
    dp = DPConfig(noise_multiplier=1.0, delta=1e-5, max_grad_norm=1.0)
    from privmeter.training.dp import make_dp_step

    steps = 20
    models = [make_model() for _ in range(K)]
    wrapped = [make_dp_step(m, torch.optim.SGD(m.parameters(), lr=0.1), noise_multiplier=1.0,
                            max_grad_norm=1.0, expected_batch_size=BATCH, noise_seed=k)
               for k, m in enumerate(models)]

    def opacus_steps() -> None:
        for _ in range(steps):
            for k, (gsm, opt) in enumerate(wrapped):
                loss = F.cross_entropy(gsm(xb[k]), yb[k], reduction="none").sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    params, buffers = stack_module_state([make_model() for _ in range(K)])
    base = make_model().to("meta")
    gen = torch.Generator().manual_seed(0)

    def loss_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xi: torch.Tensor,
                 yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(base, (p, b), (xi[None],))
        return F.cross_entropy(out, yi[None])

    per_example = vmap(vmap(grad(loss_one), in_dims=(None, None, 0, 0)),
                       in_dims=(0, 0, 0, 0))

    def func_steps() -> None:
        with torch.no_grad():
            for _ in range(steps):
                g = per_example(params, buffers, xb, yb)  # each (K, B, *shape)
                norms = torch.sqrt(sum(v.flatten(2).square().sum(2) for v in g.values()))
                factor = (dp.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)  # (K, B)
                for name, v in g.items():
                    summed = torch.einsum("kb,kb...->k...", factor, v)
                    noise = torch.normal(0.0, 1.0 * dp.max_grad_norm, summed.shape,
                                         generator=gen)
                    params[name].sub_(0.1 * (summed + noise) / BATCH)

    t_opacus, _ = _best(opacus_steps, repeats)
    t_func, _ = _best(func_steps, repeats)
    print(f"2. one DP-SGD step of K={K} MLPs {SIZES}, batch {BATCH} each ({steps} steps timed)")
    print(f"   K Opacus steps in turn:     {1000 * t_opacus / steps:7.2f} ms / step")
    print(f"   torch.func vectorized step: {1000 * t_func / steps:7.2f} ms / step")
    print(f"   speed-up of vectorizing: {t_opacus / t_func:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")  # Opacus' hooks
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs (1 torch thread), load {os.getloadavg()[0]:.1f}")
    bench_training(args.repeats)
    bench_vectorized_step(args.repeats)


if __name__ == "__main__":
    main()
