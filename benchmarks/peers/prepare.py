"""Train, once and with privmeter, the target and reference models every tool attacks.

Per task (see :data:`TASKS`), with one seed:

- split the rows into ``members`` (the target's training set), ``non_members`` (as many,
  never trained on) and ``population`` (the rest; never trained on by the target);
- the target trains on ``members``;
- 8 **online** reference models train on random halves of the audited points (members and
  non-members; each audited point is IN for exactly 4 of them: ``keep_matrix``), used by
  privmeter's online LiRA and RMIA;
- 8 **offline** reference models train on random halves of ``offline_pool`` (the first
  ``2 * len(members)`` population rows): each has the target's training-set size and never
  saw an audited point. They are the reference models of privmeter's offline attacks, of its
  Attack-R, and of ML Privacy Meter's ``ReferenceMetric``; ART's ``ShadowModels`` gets the same
  pool and the same count (it trains its own shadow models on it).

All 17 models of a task are trained in one call of ``train_models(..., vectorized=True)``
(scikit-learn models one after another). Everything is written to
``benchmarks/peers/.work/<task>/``: ``data.npz`` (data, splits, keep matrices), ``meta.json``
(settings, accuracies, training time) and ``models.npz`` (MLP weights) or ``models.joblib``
(the random forests, which we made ourselves). A task whose settings did not change is not
retrained.

Run in privmeter's venv: ``python benchmarks/peers/prepare.py [--force] [task ...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REFERENCE_BUDGET, task_dir

SEED = 2024

#: The benchmark tasks. ``n_members`` audited members and as many non-members.
TASKS: dict[str, dict[str, Any]] = {
    "digits_mlp": {
        "title": "PyTorch MLP on scikit-learn digits",
        "data": "digits",
        "data_options": {"flat": True},
        "model": "mlp",
        "hidden": [128, 128],
        "optimizer": "adam",
        "lr": 1e-3,
        "epochs": 50,
        "batch_size": 32,
        "n_members": 440,
    },
    "digits_rf": {
        "title": "scikit-learn RandomForestClassifier on digits",
        "data": "digits",
        "data_options": {"flat": True},
        "model": "rf",
        "n_estimators": 100,
        "n_members": 440,
    },
    "purchase_mlp": {
        "title": "MLP on a Purchase-100-shaped task (600 binary features, 100 classes, generated)",
        "data": "synthetic_purchase",
        "data_options": {"n": 20_000, "seed": 7},
        "model": "mlp",
        "hidden": [256],
        "optimizer": "adam",
        "lr": 1e-3,
        "epochs": 30,
        "batch_size": 64,
        "n_members": 5_000,
    },
}


def _fingerprint(cfg: dict[str, Any]) -> str:
    import privmeter

    blob = json.dumps({"cfg": cfg, "seed": SEED, "budget": REFERENCE_BUDGET,
                       "privmeter": privmeter.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def split(n: int, n_members: int, seed: int) -> dict[str, np.ndarray]:
    """Disjoint members / non-members / population rows, and the offline reference pool."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    members = np.sort(perm[:n_members])
    non_members = np.sort(perm[n_members : 2 * n_members])
    population = perm[2 * n_members :]
    if population.size < 2 * n_members:
        raise ValueError(f"{n} rows are too few for {n_members} members: the offline pool needs "
                         f"{2 * n_members} population rows, there are {population.size}")
    offline_pool = np.sort(population[: 2 * n_members])
    return {"members": members, "non_members": non_members,
            "population": np.sort(population), "offline_pool": offline_pool}


def _trainer(cfg: dict[str, Any], in_features: int, n_classes: int) -> Any:
    if cfg["model"] == "mlp":
        from privmeter.architectures import make_factory
        from privmeter.training import TorchTrainer

        factory = make_factory("mlp", input_shape=(in_features,), n_classes=n_classes,
                               hidden=tuple(cfg["hidden"]))
        return TorchTrainer(factory, optimizer=cfg["optimizer"], lr=cfg["lr"],
                            epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                            num_threads=os.cpu_count() or 1)
    from sklearn.ensemble import RandomForestClassifier

    from privmeter.training import SklearnTrainer

    return SklearnTrainer(RandomForestClassifier(n_estimators=cfg["n_estimators"]))


def prepare(name: str, *, force: bool = False) -> dict[str, Any]:
    """Train (or reuse) the models of one task; returns its ``meta`` dict."""
    from privmeter.datasets import load_dataset
    from privmeter.training import keep_matrix, train_models

    cfg = TASKS[name]
    out = task_dir(name)
    fp = _fingerprint(cfg)
    meta_path = out / "meta.json"
    if not force and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model_file = out / ("models.npz" if cfg["model"] == "mlp" else "models.joblib")
        if meta.get("fingerprint") == fp and model_file.exists() and (out / "data.npz").exists():
            print(f"[prepare] {name}: reusing trained models in {out}")
            return meta  # type: ignore[no-any-return]

    ds = load_dataset(cfg["data"], **cfg["data_options"])
    x = np.ascontiguousarray(np.asarray(ds.x, dtype=np.float32).reshape(len(ds), -1))
    y = np.asarray(ds.y, dtype=np.int64)
    n, in_features = x.shape
    n_classes = int(ds.n_classes)
    ss = np.random.SeedSequence([SEED, sum(map(ord, name))])
    split_seed, keep_seed, train_seed = (int(s.generate_state(1)[0]) for s in ss.spawn(3))
    rows = split(n, cfg["n_members"], split_seed)
    audit = np.r_[rows["members"], rows["non_members"]]

    k = REFERENCE_BUDGET
    keep = np.zeros((1 + 2 * k, n), dtype=bool)
    keep[0, rows["members"]] = True
    keep[1 : 1 + k][:, audit] = keep_matrix(k, audit.size, seed=keep_seed)
    keep[1 + k :][:, rows["offline_pool"]] = keep_matrix(k, rows["offline_pool"].size,
                                                         seed=keep_seed + 1)
    names = ["target"] + [f"online{i}" for i in range(k)] + [f"offline{i}" for i in range(k)]

    trainer = _trainer(cfg, in_features, n_classes)
    t0 = time.perf_counter()
    results = train_models(trainer, x, y, keep, seeds=train_seed, progress=False,
                           vectorized=cfg["model"] == "mlp")
    train_seconds = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    if cfg["model"] == "mlp":
        flat = {f"{m}/{p}": v.numpy() for m, st in zip(names, results, strict=True)
                for p, v in st.items()}
        np.savez(out / "models.npz", **flat)
        predict = _torch_predictor(trainer, results[0])
    else:
        import joblib

        joblib.dump(dict(zip(names, results, strict=True)), out / "models.joblib")
        predict = results[0].predict
    np.savez(out / "data.npz", x=x, y=y, keep_online=keep[1 : 1 + k],
             keep_offline=keep[1 + k :], **rows)
    acc = {
        "train": float(np.mean(predict(x[rows["members"]]) == y[rows["members"]])),
        "test": float(np.mean(predict(x[rows["non_members"]]) == y[rows["non_members"]])),
    }
    meta = {
        **cfg,
        "name": name,
        "fingerprint": fp,
        "seed": SEED,
        "n_rows": int(n),
        "in_features": int(in_features),
        "n_classes": n_classes,
        "n_population": int(rows["population"].size),
        "reference_models": k,
        "model_names": names,
        "target_accuracy": acc,
        "reference_training_seconds": train_seconds,
        "models_trained": len(names),
    }
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(f"[prepare] {name}: trained {len(names)} models in {train_seconds:.1f} s; target "
          f"accuracy train {acc['train']:.3f}, test {acc['test']:.3f}")
    return meta


def _torch_predictor(trainer: Any, state: Any) -> Any:
    import torch

    model = trainer.build(state).eval()

    def predict(xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(xs)).argmax(1).numpy()  # type: ignore[no-any-return]

    return predict


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*", default=list(TASKS), help="tasks (default: all)")
    ap.add_argument("--force", action="store_true", help="retrain even if cached")
    args = ap.parse_args(argv)
    for name in args.tasks:
        prepare(name, force=args.force)


if __name__ == "__main__":
    main()
