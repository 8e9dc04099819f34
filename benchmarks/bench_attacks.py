"""Speed and memory of the attack engine, as ratios measured in the same run.

- RMIA, one query, N = 1,000,000 audit points, Z = 100,000 population points: the sorted
  binary-search score vs a dense chunked N x Z comparison (timed on a subset and scaled);
  targets: under 2 s and under 200 MB of extra memory.
- LiRA on 1,000,000 points x 64 reference models: target under 2 s.
- RMIA offline with ``a="auto"`` vs the online attack on the same table, and vs the former
  tuning (11 full attacks on the pseudo-target, ``Pr(x)`` recomputed for each grid value),
  re-implemented here as the baseline: the former code took 7x the online attack at
  1M points x 16 models.
- The algorithm game's attack loop (every model the target in turn) for LOSS and population
  on a loss-valued table: the former per-target path (the whole table converted and every
  metric computed for each target) vs the current one (conversions cached in the table,
  metrics once on the pooled scores).

Run: ``python benchmarks/bench_attacks.py [--quick] [--only rmia_auto,algorithm]``.
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


def _former_tune_a(table: pm.SignalTable, target: int, gamma: float, temperature: float) -> float:
    """Baseline: the former tuning, one full attack on the pseudo-target per grid value."""
    refs = np.array([m for m in range(table.n_models) if m != target])
    pop = np.flatnonzero(table.population_mask)
    phi = table.logit_margin()
    r = int(refs[0])
    pop_out = pop[~table.membership[r, pop]]
    z_r = pop_out[np.random.default_rng(r).permutation(pop_out.size)[: pop_out.size // 2]]
    others = refs[refs != r]
    cand = np.setdiff1d(np.arange(table.n_points), z_r)
    x_r = cand[(~table.membership[others][:, cand]).any(axis=0)]
    lab = table.membership[r, x_r]
    aucs = []
    for a in rmia.A_GRID:
        s, _ = rmia._scores(phi, table.membership, r, others, x_r, z_r, online=False, a=a,
                            gamma=gamma, temperature=temperature, point_ids=table.point_ids)
        aucs.append(pm.metrics.auc(s, lab))
    return float(rmia.A_GRID[int(np.argmax(aucs))])


def bench_rmia_auto(n: int, z: int, n_models: int) -> None:
    rng = np.random.default_rng(2)
    mem = np.argsort(rng.random((n_models, n + z)), axis=0) < n_models // 2
    mem[0, n:] = False
    values = rng.normal(0, 3, size=n + z) + rng.normal(size=(n_models, n + z)) + mem
    table = pm.SignalTable(values, mem, role=np.array(["audit"] * n + ["population"] * z))
    t_on, _, _ = measure(lambda: rmia.rmia_attack(table, 0, rmia.RmiaParams(online=True)))
    t_auto, _, out = measure(lambda: rmia.rmia_attack(table, 0, rmia.RmiaParams(online=False)))
    p = rmia.RmiaParams(online=False)
    t_old_tune, _, old_a = measure(lambda: _former_tune_a(table, 0, p.gamma, p.temperature))
    t_fixed, _, _ = measure(lambda: rmia.rmia_attack(table, 0, rmia.RmiaParams(online=False,
                                                                                a=old_a)))
    t_old = t_old_tune + t_fixed
    print(f"RMIA offline a='auto'  N={n:,} Z={z:,} models={n_models}")
    print(f"  online attack:               {t_on:7.3f} s")
    print(f"  offline auto, former tuning: {t_old:7.3f} s  ({t_old / t_on:.1f}x online; a={old_a})")
    print(f"  offline auto, now:           {t_auto:7.3f} s  ({t_auto / t_on:.1f}x online; "
          f"a={out.extras['a']}); speed-up {t_old / t_auto:.1f}x")


def bench_algorithm_game(n_models: int, n: int, z: int) -> None:
    from privmeter.audit import Audit, BuiltTable
    from privmeter.training import keep_matrix

    rng = np.random.default_rng(3)
    keep = np.zeros((n_models, n + z), bool)
    keep[:, :n] = keep_matrix(n_models, n, seed=0)
    losses = np.logaddexp(0.0, -(rng.normal(size=(n_models, n + z)) + keep))
    role = np.array(["audit"] * n + ["population"] * z)
    table = pm.SignalTable(losses, keep, role=role, kind="loss")
    x, y = np.zeros((n + z, 1)), np.arange(n + z) % 2
    for name in ("loss", "population"):
        def former(name: str = name) -> None:
            # each target converted the whole table and computed every metric, then the pool
            per = [pm.run_attack(name, pm.SignalTable(losses, keep, role=role, kind="loss"),
                                 target=t) for t in range(n_models)]
            pm.AttackResult.from_scores(name, np.concatenate([r.scores for r in per]),
                                        np.concatenate([r.membership for r in per]))

        audit = Audit((x, y), trainer=object(), game="algorithm", attacks=[name],
                      n_references=n_models - 1, progress=False)
        built = BuiltTable(table=table, targets=tuple(range(n_models)), card={}, timings={},
                           audit_rows=np.arange(n))
        t_old, _, _ = measure(former)
        t_new, _, _ = measure(lambda a=audit, b=built: a.attack(b))  # type: ignore[misc]
        print(f"algorithm game {name:10s} {n_models} models x {n:,} points: former "
              f"{t_old:6.2f} s ({t_old / n_models:.3f} s/target), now {t_new:6.2f} s "
              f"({t_new / n_models:.3f} s/target); speed-up {t_old / t_new:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes (smoke test)")
    ap.add_argument("--only", default="", help="comma-separated: rmia, lira, rmia_auto, "
                    "algorithm (default: all)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    only = set(filter(None, args.only.split(",")))
    if not only or "rmia" in only:
        bench_rmia(1_000_000 // scale, 100_000 // scale, n_refs=4)
    if not only or "lira" in only:
        bench_lira(1_000_000 // scale, 64)
    if not only or "rmia_auto" in only:
        bench_rmia_auto(1_000_000 // scale, 100_000 // scale, n_models=16)
    if not only or "algorithm" in only:
        bench_algorithm_game(64, 50_000 // scale, 5_000 // scale)


if __name__ == "__main__":
    main()
