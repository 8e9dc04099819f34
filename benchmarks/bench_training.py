"""Training benchmarks: the vectorized ensemble trainer, and the Ray executor.

1. 16 MLPs (64-128-128-10) on scikit-learn's digits, each on its half of a 1000-point pool
   (a balanced keep matrix), trained one after another with ``TorchTrainer`` and all at once
   with ``EnsembleTrainer`` (``train_models(..., vectorized=True)``): same configuration,
   epochs, batch size and seeds. Prints both wall times, their ratio, the mean test accuracy of
   each, and the arithmetic rate each reached (the ensemble is bounded by the CPU's
   matrix-multiply throughput, the sequential loop by per-step Python/dispatch overhead).
2. 16 scikit-learn random forests with ``RayExecutor`` on a local 2-CPU Ray cluster vs
   in-process (and a local 2-process pool for comparison).

All ratios come from measurements in the same run (best of ``--repeats`` interleaved runs).

    .venv/bin/python benchmarks/bench_training.py [--repeats 3] [--skip-ray]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from privmeter.training import (
    MLP,
    InProcessExecutor,
    ProcessExecutor,
    SklearnTrainer,
    TorchTrainer,
    keep_matrix,
    train_models,
)

SIZES = (64, 128, 128, 10)
N_MODELS = 16
POOL = 1000


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    x = (x[perm] / 16.0).astype(np.float32)
    y = y[perm].astype(np.int64)
    return x[:POOL], y[:POOL], x[POOL:], y[POOL:]


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    times: list[float] = []
    out: Any = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, out


def _accuracy(trainer: TorchTrainer, states: list[dict[str, torch.Tensor]],
              x: np.ndarray, y: np.ndarray) -> float:
    xt = torch.from_numpy(x)
    accs = []
    with torch.no_grad():
        for s in states:
            pred = trainer.build(s)(xt).argmax(1).numpy()
            accs.append(float((pred == y).mean()))
    return 100.0 * float(np.mean(accs))


def _train_flops(epochs: int, n_train: int) -> float:
    """Multiply-add FLOPs of training (forward 2*MACs, backward 2x forward minus the input
    gradient of the first layer, which is not needed)."""
    macs = [a * b for a, b in itertools.pairwise(SIZES)]
    per_sample = 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:])
    return float(per_sample) * n_train * epochs * N_MODELS


def bench_ensemble(
    repeats: int, epochs: int, batch_sizes: list[int], threads: int, unfused: bool
) -> None:
    xp, yp, xt, yt = _digits()
    keep = keep_matrix(N_MODELS, POOL, seed=0)
    seeds = list(range(N_MODELS))
    print(f"\n== ensemble vs sequential: {N_MODELS} MLPs {'-'.join(map(str, SIZES))} on digits "
          f"({POOL} pool points, {POOL // 2} per model, {len(yt)} test points), Adam lr 1e-3, "
          f"{epochs} epochs, same seeds")
    print("sequential = train_models(...) with TorchTrainer, timed with 1 and with "
          f"{threads} torch threads, the faster counts; ensemble = train_models(..., "
          f"vectorized=True) with {threads} threads")
    print(f"{'batch':>5} {'optimizer':>9} {'sequential s':>13} {'ensemble s':>11} "
          f"{'ratio':>6} {'seq acc':>8} {'ens acc':>8} {'diff':>6} "
          f"{'seq GF/s':>9} {'ens GF/s':>9}")
    flops = _train_flops(epochs, POOL // 2)
    variants = [True, False] if unfused else [True]
    for fused in variants:
        for bs in batch_sizes:
            def make(n_threads: int, bs: int = bs, fused: bool = fused) -> TorchTrainer:
                return TorchTrainer(MLP(SIZES), optimizer="adam", lr=1e-3, epochs=epochs,
                                    batch_size=bs, fused=fused, num_threads=n_threads)

            seq_trainers = {n: make(n) for n in sorted({1, threads})}
            ens_trainer = make(threads)
            # warm-up (allocator, kernels), then interleave the runs to share machine noise
            train_models(ens_trainer, xp, yp, keep[:2], seeds=seeds[:2], progress=False,
                         vectorized=True)
            seq_times: dict[int, list[float]] = {n: [] for n in seq_trainers}
            ens_times: list[float] = []
            seq_states: Any = None
            ens_states: Any = None
            for _ in range(repeats):
                for n, tr in seq_trainers.items():
                    t0 = time.perf_counter()
                    seq_states = train_models(tr, xp, yp, keep, seeds=seeds, progress=False)
                    seq_times[n].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ens_states = train_models(ens_trainer, xp, yp, keep, seeds=seeds, progress=False,
                                          vectorized=True)
                ens_times.append(time.perf_counter() - t0)
            best_n = min(seq_times, key=lambda n: min(seq_times[n]))
            ts, te = min(seq_times[best_n]), min(ens_times)
            acc_s = _accuracy(ens_trainer, seq_states, xt, yt)
            acc_e = _accuracy(ens_trainer, ens_states, xt, yt)
            label = "fused" if fused else "for-loop"
            print(f"{bs:>5} {label:>9} {ts:>9.2f} ({best_n}t) {te:>11.2f} {ts / te:>5.2f}x "
                  f"{acc_s:>7.2f}% {acc_e:>7.2f}% {acc_e - acc_s:>+6.2f} "
                  f"{flops / ts / 1e9:>9.1f} {flops / te / 1e9:>9.1f}")
    print("(optimizer 'fused' is TorchTrainer's default; 'for-loop' is torch's default "
          "optimizer implementation. Times: best of the interleaved repeats; GF/s: training "
          "arithmetic divided by wall time)")


def bench_matmul_peak(threads: int) -> float:
    """Batched matrix-multiply throughput of this CPU at the ensemble's shapes (GFLOP/s)."""
    torch.set_num_threads(threads)
    a = torch.randn(N_MODELS, 64, 128)
    b = torch.randn(N_MODELS, 128, 128)
    for _ in range(20):
        torch.bmm(a, b)
    n = 300
    t0 = time.perf_counter()
    for _ in range(n):
        torch.bmm(a, b)
    dt = (time.perf_counter() - t0) / n
    return 2 * N_MODELS * 64 * 128 * 128 / dt / 1e9


def bench_ray(repeats: int, cpus: int) -> None:
    from sklearn.ensemble import RandomForestClassifier

    xp, yp, _, _ = _digits()
    keep = keep_matrix(N_MODELS, POOL, seed=0)
    trainer = SklearnTrainer(RandomForestClassifier(n_estimators=150, n_jobs=1))
    print(f"\n== executors: {N_MODELS} scikit-learn random forests (150 trees) on digits")
    t_local, local_times, local = _best(
        lambda: train_models(trainer, xp, yp, keep, seeds=0, progress=False,
                             executor=InProcessExecutor()), repeats)
    print(f"in-process:             {t_local:6.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in local_times)})")

    with ProcessExecutor(max_workers=cpus) as pex:
        t0 = time.perf_counter()
        pooled = train_models(trainer, xp, yp, keep, seeds=0, progress=False, executor=pex)
        t_pool_cold = time.perf_counter() - t0
        t_pool, _, _ = _best(lambda: train_models(trainer, xp, yp, keep, seeds=0,
                                                  progress=False, executor=pex), repeats)
    same_pool = all(np.array_equal(a.predict_proba(xp), b.predict_proba(xp))
                    for a, b in zip(local, pooled, strict=True))
    print(f"process pool ({cpus} CPUs): {t_pool:6.2f} s warm, {t_pool_cold:.2f} s with "
          f"worker start-up; speed-up vs in-process {t_local / t_pool:.2f}x warm "
          f"({t_local / t_pool_cold:.2f}x cold); identical results: {same_pool}")

    try:
        import ray
    except ImportError:
        print("Ray: not installed (pip install privmeter[ray]); skipped")
        return
    from privmeter.training import RayExecutor

    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - t0
    try:
        ex = RayExecutor()
        t0 = time.perf_counter()
        remote = train_models(trainer, xp, yp, keep, seeds=0, progress=False, executor=ex)
        t_cold = time.perf_counter() - t0
        t_ray, ray_times, _ = _best(lambda: train_models(trainer, xp, yp, keep, seeds=0,
                                                         progress=False, executor=ex), repeats)
        same = all(np.array_equal(a.predict_proba(xp), b.predict_proba(xp))
                   for a, b in zip(local, remote, strict=True))
        print(f"Ray ({cpus} CPUs):           {t_ray:6.2f} s warm (runs: "
              f"{', '.join(f'{t:.2f}' for t in ray_times)}), {t_cold:.2f} s first call, "
              f"ray.init {t_init:.2f} s")
        print(f"Ray speed-up vs in-process: {t_local / t_ray:.2f}x warm, "
              f"{t_local / t_cold:.2f}x first call, {t_local / (t_cold + t_init):.2f}x "
              f"including ray.init; identical results: {same}")
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--unfused", action="store_true",
                        help="also time torch's default (for-loop) Adam implementation")
    args = parser.parse_args()
    print(f"privmeter training benchmark | {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, python {platform.python_version()}")
    peak = bench_matmul_peak(args.threads)
    print(f"batched matmul peak at the ensemble's shapes: {peak:.0f} GFLOP/s "
          f"({args.threads} threads)")
    bench_ensemble(args.repeats, args.epochs, args.batch_sizes, args.threads, args.unfused)
    if not args.skip_ray:
        bench_ray(args.repeats, cpus=2)


if __name__ == "__main__":
    main()
