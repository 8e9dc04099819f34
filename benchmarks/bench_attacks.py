"""Speed and memory of the attack engine, as ratios measured in the same run.

- RMIA, one query, N = 1,000,000 audit points, Z = 100,000 population points: the sorted
  binary-search score vs a dense chunked N x Z comparison (timed on a subset and scaled);
  targets: under 2 s and under 200 MB of extra memory.
- LiRA on 1,000,000 points x 64 reference models: target under 2 s.

Run: ``python benchmarks/bench_attacks.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import privmeter as pm
from privmeter.attacks import lira, rmia


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time (s) and peak traced allocation (MB) of ``fn()``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return dt, peak / 2**20, out


def dense_chunked_rmia(lr_x: np.ndarray, lr_z: np.ndarray, gamma: float, rows: int) -> np.ndarray:
    """Baseline: the dense pairwise comparison other tools build, in row chunks."""
    lg = math.log(gamma)
    out = np.empty(lr_x.size)
    for s in range(0, lr_x.size, rows):
        out[s : s + rows] = ((lr_x[s : s + rows, None] - lr_z[None, :]) >= lg).mean(axis=1)
    return out


def bench_rmia(n: int, z: int, n_refs: int) -> None:
    rng = np.random.default_rng(0)
    n_models = n_refs + 1
    mem = np.argsort(rng.random((n_models, n + z)), axis=0) < n_models // 2 + 1
    mem[0, n:] = False
    mu = rng.normal(0, 3, size=n + z)
    values = mu + rng.normal(size=(n_models, n + z)) + 1.0 * mem
    role = np.array(["audit"] * n + ["population"] * z)
    table = pm.SignalTable(values, mem, role=role)
    params = rmia.RmiaParams(online=False, a=0.3)

    t_scores, mem_scores, out = measure(lambda: rmia.rmia_attack(table, 0, params))
    t_full, mem_full, res = measure(
        lambda: pm.run_attack("rmia", table, target=0, online=False, a=0.3)
    )

    # dense baseline on a subset of the audit points, scaled to N
    refs = np.arange(1, n_models)
    mask = ~mem[refs]
    lr = rmia.rmia_log_ratios(values[refs][:, :, None], values[0][:, None], mask, a=0.3,
                              temperature=params.temperature)[:, 0]
    sub = 20000
    t_dense, _, dense = measure(
        lambda: dense_chunked_rmia(lr[:sub], lr[n:], params.gamma, 256)
    )
    np.testing.assert_array_equal(dense, out.scores[:sub])  # the fast path is exact
    t_dense_scaled = t_dense * n / sub
    print(f"RMIA  N={n:,} Z={z:,} refs={n_refs} (offline, one query)")
    print(f"  scores:             {t_scores:7.3f} s   peak extra memory {mem_scores:7.1f} MB"
          f"   target < 2 s, < 200 MB: {'OK' if t_scores < 2 and mem_scores < 200 else 'MISS'}")
    print(f"  with all metrics:   {t_full:7.3f} s   peak extra memory {mem_full:7.1f} MB"
          f"   (AUC {res.auc:.4f})")
    print(f"  dense chunked baseline: {t_dense:.3f} s on {sub:,} points -> {t_dense_scaled:.1f} s"
          f" scaled to N; speed-up {t_dense_scaled / t_scores:.0f}x")
    print(f"  a dense N x Z float64 matrix would need {n * z * 8 / 2**30:.0f} GiB")


def bench_lira(n: int, n_refs: int) -> None:
    rng = np.random.default_rng(1)
    n_models = n_refs + 1
    mem = rng.random((n_models, n)) < 0.5
    mem[0, :2] = [True, False]
    values = rng.normal(size=(n_models, n)) + mem
    table = pm.SignalTable(values, mem)
    for online in (True, False):
        params = lira.LiraParams(online=online)
        t, m, _ = measure(lambda p=params: lira.lira_attack(table, 0, p))  # type: ignore[misc]
        print(f"LiRA  N={n:,} refs={n_refs} online={online}: {t:.3f} s, peak extra memory "
              f"{m:.1f} MB   target < 2 s: {'OK' if t < 2 else 'MISS'}")
    # ratio against the naive per-point Python loop (on a subset, scaled)
    sub = 2000
    vals, msk = values[1:, :sub], mem[1:, :sub]
    t0 = time.perf_counter()
    for i in range(sub):
        v_in, v_out = vals[msk[:, i], i], vals[~msk[:, i], i]
        _ = (v_in.mean(), v_in.std(), v_out.mean(), v_out.std())
    t_loop = (time.perf_counter() - t0) * n / sub
    t_fast, _, _ = measure(lambda: lira.lira_attack(table, 0, lira.LiraParams(online=True)))
    print(f"  per-point Python loop baseline scaled to N: {t_loop:.1f} s; "
          f"speed-up {t_loop / t_fast:.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes (smoke test)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    bench_rmia(1_000_000 // scale, 100_000 // scale, n_refs=4)
    bench_lira(1_000_000 // scale, 64)


if __name__ == "__main__":
    main()
