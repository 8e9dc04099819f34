"""``auto`` (pseudo-target selection) against the best single attack at its paper defaults.

Tasks: the three peer-benchmark tasks (``benchmarks/peers/prepare.py``: digits MLP, digits
random forest, the Purchase-shaped MLP; the target and 8 online + 8 offline reference models
trained once and cached in ``benchmarks/peers/.work/``) and the demo (``privmeter demo``'s
config: digits MLP, 8 online reference models, trained here). For each task and each set of
8 reference models (online, offline) the same table is attacked by

- the single attacks at their paper defaults: ``loss``, ``reference`` (Attack-R), ``lira``
  and ``rmia`` (online or offline, with the mode's references; offline RMIA tunes ``a`` on
  the references as its paper does);
- ``auto`` with its defaults (up to 8 pseudo-targets, selection at the verdict's reference
  FPR, never the target's membership).

Printed: TPR at 1% FPR with its Clopper-Pearson 95% CI, AUC, what ``auto`` chose, and its
selection time; the ratio of ``auto`` to the best default and whether ``auto`` is ever below
the best default's CI.

``--queries`` also runs the query experiment (tabular tasks): the models queried with the
unchanged point plus 8 Gaussian-noise or 8 feature-dropout copies, LiRA and RMIA on
1 query vs 1 + 8 queries.

``--text-demo`` adds the text demo's audit (4 reference LMs) as a row outside the mean.

Run: ``python benchmarks/bench_auto.py [--tasks digits_mlp,...] [--queries] [--no-demo]
[--text-demo]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))

import privmeter as pm  # noqa: E402
from privmeter.signals import GaussianNoise, compute_signal  # noqa: E402
from privmeter.signals.augment import Augmentation  # noqa: E402

PEER_TASKS = ("digits_mlp", "digits_rf", "purchase_mlp")
DEFAULTS = {
    "online": [("loss", {}), ("reference", {}), ("lira", {"online": True}),
               ("rmia", {"online": True})],
    "offline": [("loss", {}), ("reference", {}), ("lira", {"online": False}),
                ("rmia", {"online": False})],
}


class FeatureDropout(Augmentation):
    """Each feature set to 0 with probability ``p``, independently per query (experiment)."""

    def __init__(self, p: float, n: int, seed: int = 0) -> None:
        self.p, self.n, self._seed = p, n, seed

    @property
    def n_queries(self) -> int:
        return self.n

    @property
    def seed(self) -> int | None:
        return self._seed

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = rng.random((x.shape[0], self.n, *x.shape[1:])) >= self.p
        return np.asarray(x[:, None] * keep, dtype=x.dtype)


# ------------------------------------------------------------------ tables
def peer_tables(task: str, augment: Augmentation | None = None) -> dict[str, pm.SignalTable]:
    """Online and offline tables (target + 8 references) of one peer task."""
    from common import REFERENCE_BUDGET, audit_rows, load_task, task_dir
    from run_privmeter import load_models

    if not (task_dir(task) / "meta.json").exists():  # else: the models prepare.py cached
        import prepare

        prepare.prepare(task)
    bundle = load_task(task)
    models = load_models(task, bundle["meta"])
    rows, membership = audit_rows(bundle)
    pop = bundle["population"]
    points = np.r_[rows, pop]
    x, y = bundle["x"][points], bundle["y"][points]
    role = np.array(["audit"] * rows.size + ["population"] * pop.size)

    def sig(m: Any) -> np.ndarray:
        base = compute_signal("logit_margin", m, x, y)
        if augment is None:
            return base
        extra = compute_signal("logit_margin", m, x, y, augmentations=augment)
        return np.concatenate([base[:, None], extra.reshape(base.size, -1)], axis=1)

    phi = {name: sig(m) for name, m in models.items()}
    target_in = np.zeros(points.size, dtype=bool)
    target_in[: rows.size] = membership
    out = {}
    for kind in ("online", "offline"):
        refs = [f"{kind}{i}" for i in range(REFERENCE_BUDGET)]
        values = np.stack([phi["target"]] + [phi[r] for r in refs])
        keep = bundle[f"keep_{kind}"][:, points]
        out[kind] = pm.SignalTable(values, np.vstack([target_in, keep]), role=role, labels=y)
    return out


def demo_table() -> pm.SignalTable:
    """The demo audit's table (``privmeter demo``: digits MLP, 8 online references)."""
    from privmeter.config import load_config
    from privmeter.config.build import build_audit

    audit = build_audit(load_config(None), progress=False)
    built = audit.build_table()
    assert built.targets == (0,)
    return built.table


# ------------------------------------------------------------------ figures
def figures(res: pm.AttackResult) -> dict[str, Any]:
    t = res.tpr_at(0.01)
    return {"tpr": t.tpr, "ci": t.tpr_ci, "auc": res.auc}


def fmt(f: dict[str, Any]) -> str:
    lo, hi = f["ci"]
    return f"{100 * f['tpr']:5.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}]  AUC {f['auc']:.3f}"


def compare(label: str, table: pm.SignalTable, mode: str,
            auto_params: dict[str, Any] | None = None) -> dict[str, Any]:
    auto_params = auto_params or {}
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, params in DEFAULTS[mode]:
            rows[name] = figures(pm.run_attack(name, table, target=0, **params))
        t0 = time.perf_counter()
        res = pm.run_attack("auto", table, target=0, online=mode == "online", **auto_params)
        wall = time.perf_counter() - t0
    auto = figures(res)
    best = max(rows, key=lambda n: (rows[n]["tpr"], rows[n]["auc"]))
    b = rows[best]
    ratio = auto["tpr"] / b["tpr"] if b["tpr"] > 0 else float("inf")
    within = auto["tpr"] >= b["ci"][0]
    print(f"\n{label} [{mode}, {table.n_models - 1} references, {table.n_queries} queries]")
    for n, f in rows.items():
        print(f"  {n:10s} {fmt(f)}")
    print(f"  {'auto':10s} {fmt(auto)}  chose {res.extras['chosen']} "
          f"(selection {res.extras['selection_seconds']:.2f} s, whole attack {wall:.2f} s, "
          f"{res.extras['n_pseudo_targets']} pseudo-targets, {res.extras['criterion']} at "
          f"{res.extras['level']})")
    top = list(res.extras["candidates"].items())[:5]
    print("    pseudo-target ranking: " + ", ".join(
        f"{n} {100 * r['score']:.1f}%" for n, r in top))
    print(f"  auto / best default ({best}) at 1% FPR: {ratio:.2f}x; "
          f"{'within' if within else 'BELOW'} the best default's CI")
    return {"task": label, "mode": mode, "best": best, "best_tpr": b["tpr"],
            "best_ci": b["ci"], "auto_tpr": auto["tpr"], "auto_ci": auto["ci"],
            "ratio": ratio, "within": within, "chosen": res.extras["chosen"],
            "selection_s": res.extras["selection_seconds"], "auto_auc": auto["auc"],
            "best_auc": b["auc"]}


def text_demo_row() -> dict[str, Any]:
    """The text demo (``privmeter demo --task text``: 4 online reference LMs), as one more
    row outside the issue's mean: its audit's own results of the paper-default attacks and
    of ``auto``."""
    from privmeter.demos import text_demo

    report, _ = text_demo(progress=False)
    by = {r.attack: r for r in report.results}
    rows = {n: figures(by[n]) for n, _ in DEFAULTS["online"] if n in by}
    res = by["auto"]
    auto = figures(res)
    best = max(rows, key=lambda n: (rows[n]["tpr"], rows[n]["auc"]))
    b = rows[best]
    ratio = auto["tpr"] / b["tpr"] if b["tpr"] > 0 else float("inf")
    print("\ntext demo [online, 4 reference LMs, 1 queries]")
    for n, f in rows.items():
        print(f"  {n:10s} {fmt(f)}")
    print(f"  {'auto':10s} {fmt(auto)}  chose {res.extras['chosen']} "
          f"(selection {res.extras['selection_seconds']:.2f} s)")
    print(f"  auto / best default ({best}) at 1% FPR: {ratio:.2f}x")
    return {"task": "text demo (4 refs, not in the mean)", "mode": "online", "best": best,
            "best_tpr": b["tpr"], "best_ci": b["ci"], "auto_tpr": auto["tpr"],
            "auto_ci": auto["ci"], "ratio": ratio, "within": auto["tpr"] >= b["ci"][0],
            "chosen": res.extras["chosen"], "selection_s": res.extras["selection_seconds"],
            "auto_auc": auto["auc"], "best_auc": b["auc"], "extra": True}


def query_experiment(task: str) -> None:
    """LiRA / RMIA on 1 query vs 1 + 8 noise or dropout queries."""
    augs: list[tuple[str, Augmentation]] = [
        ("noise sigma=0.05", GaussianNoise(n_queries=8, sigma=0.05, seed=0)),
        ("noise sigma=0.15", GaussianNoise(n_queries=8, sigma=0.15, seed=0)),
        ("dropout p=0.05", FeatureDropout(0.05, 8)),
        ("dropout p=0.15", FeatureDropout(0.15, 8)),
    ]
    print(f"\nquery experiment: {task} (TPR at 1% FPR / AUC; 1 query vs 1 + 8 queries)")
    attacks = [("lira", "online", {"online": True}), ("rmia", "online", {"online": True}),
               ("lira", "offline", {"online": False}), ("rmia", "offline", {"online": False})]
    for label, aug in augs:
        t0 = time.perf_counter()
        tables = peer_tables(task, aug)
        q_time = time.perf_counter() - t0
        cells = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, mode, params in attacks:
                t = tables[mode]
                one = pm.SignalTable(t.values[:, :, :1], t.membership, role=t.role)
                r1 = pm.run_attack(name, one, target=0, **params)
                rq = pm.run_attack(name, t, target=0, **params)
                cells.append(f"{name} {mode}: {100 * r1.tpr_at(0.01).tpr:.1f}%/{r1.auc:.3f} -> "
                             f"{100 * rq.tpr_at(0.01).tpr:.1f}%/{rq.auc:.3f}")
            ra = pm.run_attack("auto", tables["online"], target=0)
        print(f"  {label:17s} (query {q_time:.1f} s): " + "; ".join(cells)
              + f"; auto online chose {ra.extras['chosen']} "
              f"{100 * ra.tpr_at(0.01).tpr:.1f}%/{ra.auc:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(PEER_TASKS))
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--queries", action="store_true", help="also the query experiment")
    ap.add_argument("--text-demo", action="store_true",
                    help="also the text demo's audit (about 40 s; reported, not in the mean)")
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    out = []
    for task in tasks:
        tables = peer_tables(task)
        for mode in ("online", "offline"):
            out.append(compare(task, tables[mode], mode))
    if not args.no_demo:
        out.append(compare("demo", demo_table(), "online"))
    if args.queries:
        for task in tasks:
            query_experiment(task)
    main_rows = list(out)
    if args.text_demo:
        out.append(text_demo_row())
    finite = [r["ratio"] for r in main_rows if np.isfinite(r["ratio"])]
    print("\n| task | refs | best default | its TPR@1% [CI] | auto TPR@1% [CI] | auto chose | "
          "ratio | selection (s) |")
    print("| --- | --- | --- | --- | --- | --- | ---: | ---: |")
    for r in out:
        print(f"| {r['task']} | {r['mode']} | {r['best']} | {100 * r['best_tpr']:.1f}% "
              f"[{100 * r['best_ci'][0]:.1f}, {100 * r['best_ci'][1]:.1f}] | "
              f"{100 * r['auto_tpr']:.1f}% [{100 * r['auto_ci'][0]:.1f}, "
              f"{100 * r['auto_ci'][1]:.1f}] | {r['chosen']} | {r['ratio']:.2f}x | "
              f"{r['selection_s']:.2f} |")
    print(f"\nmean ratio {np.mean(finite):.2f}x (geometric {np.exp(np.mean(np.log(finite))):.2f}x)"
          f" over {len(finite)} comparisons; auto below the best default's CI in "
          f"{sum(not r['within'] for r in main_rows)} of {len(main_rows)}")


if __name__ == "__main__":
    main()
