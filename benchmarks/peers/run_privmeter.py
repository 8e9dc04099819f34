"""privmeter's side of the peer benchmark: seven attacks on the saved models of one task.

Runs in privmeter's venv as a fresh process (so the import is measured cold). The audit step
is: query the target and the 16 reference models for the logit margin on every audited and
population point (``compute_signal``), build two ``SignalTable`` objects (target + 8 online
references; target + 8 offline references) and run

- ``loss`` and ``population`` (the target only),
- ``reference`` (Attack-R) on the 8 offline references (the ones ML Privacy Meter gets),
- ``lira`` online (8 online references) and offline (8 offline references),
- ``rmia`` online and offline (``a="auto"``: tuned by attacking reference models with the
  others, never the target).

The query (all 17 models, shared by every attack) and each attack are measured separately.
Every attack runs with its default parameters; nothing is tuned on the target's membership.
Writes ``.work/<task>/results/privmeter.{npz,json}``.

    python benchmarks/peers/run_privmeter.py TASK
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REFERENCE_BUDGET,
    Meter,
    audit_rows,
    load_mlp_states,
    load_task,
    task_dir,
    write_result,
)

with Meter() as IMPORT:
    import privmeter as pm
    from privmeter.models import SklearnModel, TorchModel
    from privmeter.signals import compute_signal

import numpy as np

#: (label in the results, table, attack name, parameters)
ATTACKS = [
    ("loss", "online", "loss", {}),
    ("population", "online", "population", {}),
    ("reference (offline refs)", "offline", "reference", {}),
    ("lira online", "online", "lira", {"online": True}),
    ("lira offline", "offline", "lira", {"online": False}),
    ("rmia online", "online", "rmia", {"online": True}),
    ("rmia offline", "offline", "rmia", {"online": False}),
]


def load_models(task: str, meta: dict) -> dict[str, object]:
    """Model-access adapters for the target and the 16 reference models (not timed)."""
    if meta["model"] == "mlp":
        from privmeter.architectures import make_factory

        factory = make_factory("mlp", input_shape=(meta["in_features"],),
                               n_classes=meta["n_classes"], hidden=tuple(meta["hidden"]))
        import torch

        out = {}
        for name, state in load_mlp_states(task).items():
            module = factory()
            module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
            out[name] = TorchModel(module, n_classes=meta["n_classes"])
        return out
    import joblib

    # Our own pickles, written by prepare.py in this run.
    return {name: SklearnModel(est) for name, est in joblib.load(task_dir(task) /
                                                                "models.joblib").items()}


def main(task: str) -> None:
    bundle = load_task(task)
    meta = bundle["meta"]
    models = load_models(task, meta)
    rows, membership = audit_rows(bundle)
    pop = bundle["population"]
    points = np.r_[rows, pop]
    x, y = bundle["x"][points], bundle["y"][points]
    role = np.array(["audit"] * rows.size + ["population"] * pop.size)
    k = REFERENCE_BUDGET

    attacks: dict[str, dict] = {}
    with Meter() as query:
        phi = {name: compute_signal("logit_margin", m, x, y) for name, m in models.items()}
        target_in = np.zeros(points.size, dtype=bool)
        target_in[: rows.size] = membership
        tables = {}
        for kind in ("online", "offline"):
            refs = [f"{kind}{i}" for i in range(k)]
            values = np.stack([phi["target"]] + [phi[r] for r in refs])
            keep = bundle[f"keep_{kind}"][:, points]
            tables[kind] = pm.SignalTable(values, np.vstack([target_in, keep]), role=role,
                                          labels=y)
    for label, table, name, params in ATTACKS:
        with Meter() as m:
            res = pm.run_attack(name, tables[table], target=0, **params)
        if not np.array_equal(res.membership, membership):
            raise AssertionError("privmeter returned points in an unexpected order")
        attacks[label] = {"scores": res.scores, "meter": m,
                          "params": {k2: repr(v) for k2, v in res.params.items()}}
    attack_seconds = sum(a["meter"].seconds for a in attacks.values())

    # Context only (not part of privmeter's audit time): the two attacks ML Privacy Meter
    # has, population and Attack-R with the 8 offline references, querying only what they
    # need (the target on audited + population points, the references on audited points).
    with Meter() as matched:
        t_phi = compute_signal("logit_margin", models["target"], x, y)
        pop_table = pm.SignalTable(t_phi[None], target_in[None], role=role, labels=y)
        xa, ya = x[: rows.size], y[: rows.size]
        ref_phi = [compute_signal("logit_margin", models[f"offline{i}"], xa, ya)
                   for i in range(k)]
        ref_table = pm.SignalTable(
            np.stack([t_phi[: rows.size], *ref_phi]),
            np.vstack([membership, bundle["keep_offline"][:, rows]]), labels=ya,
        )
        same = (pm.run_attack("population", pop_table, target=0),
                pm.run_attack("reference", ref_table, target=0))
    for res, label in zip(same, ("population", "reference (offline refs)"), strict=True):
        if not np.allclose(res.scores, attacks[label]["scores"]):
            raise AssertionError(f"{label}: the matched run gave different scores")
    versions = {"privmeter": pm.__version__, "numpy": np.__version__}
    write_result(task_dir(task) / "results" / "privmeter", tool="privmeter", attacks=attacks,
                 import_meter=IMPORT, notes=[], versions=versions,
                 extra={"query": query.as_dict(), "matched": matched.as_dict(),
                        "models_queried": len(models),
                        "points_queried": int(points.size)})
    print(f"[privmeter] {task}: query {query.seconds:.2f} s, all attacks {attack_seconds:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1])
