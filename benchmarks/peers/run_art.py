"""IBM Adversarial Robustness Toolbox (ART) on the saved models of one task.

Runs in its own venv (``benchmarks/peers/.venvs/art``) as a fresh process. Used as its
notebooks do (``notebooks/attack_membership_inference.ipynb``,
``notebooks/attack_membership_inference_shadow_models.ipynb``):

- the target wrapped in ``PyTorchClassifier`` (loss, optimizer, input shape, classes) or
  ``ScikitlearnRandomForestClassifier``;
- ``MembershipInferenceBlackBox`` in its documented setting: the attacker knows the membership
  of half of the target's members and half of its non-members (``attack_train_ratio = 0.5``),
  trains the attack model on them and infers the other half. We cross-fit (fit on half A,
  infer half B, then fit on B and infer A) so every audited point gets a score from a model
  that did not see it. With the default attack model (``nn``) and with ``rf`` (the notebook's
  choice for the PyTorch target);
- ``MembershipInferenceBlackBoxRuleBased`` (member iff correctly classified) on every point;
- ``ShadowModels`` with 8 shadow models (the reference budget of every tool) on the offline
  pool (``2 x`` the target's training-set size, so each shadow trains on as many points as the
  target, from data the target never saw), then ``MembershipInferenceBlackBox(rf)`` fitted on
  the shadow dataset and applied to every audited point.

Scores are ``infer(..., probabilities=True)`` (the attack model's membership probability), or
the rule's 0/1 decision. Writes ``.work/<task>/results/art.{npz,json}``.

    python benchmarks/peers/run_art.py TASK
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REFERENCE_BUDGET,
    Meter,
    audit_rows,
    build_mlp,
    load_mlp_states,
    load_task,
    task_dir,
    write_result,
)

with Meter() as IMPORT:
    from art.attacks.inference.membership_inference import (
        MembershipInferenceBlackBox,
        MembershipInferenceBlackBoxRuleBased,
        ShadowModels,
    )
    from art.estimators.classification import PyTorchClassifier
    from art.estimators.classification.scikitlearn import ScikitlearnRandomForestClassifier
    from art.utils import to_categorical

import numpy as np

NOTES: list[str] = []


def art_classifier(task: str, meta: dict):
    """The target, wrapped for ART (not timed: wrapping a trained model is setup)."""
    if meta["model"] == "mlp":
        import torch

        net = build_mlp(meta["in_features"], meta["n_classes"], meta["hidden"],
                        load_mlp_states(task)["target"])
        epochs, batch_size = int(meta["epochs"]), int(meta["batch_size"])

        class TrainedLikeTheTarget(PyTorchClassifier):
            """Workaround: ``ShadowModels`` calls ``fit(x, y)`` on each clone without
            arguments, so shadow models would train with ART's defaults (10 epochs, batch
            128) instead of the target's settings; this subclass only changes those two
            defaults. ``clone_for_refitting`` uses ``type(self)``, so clones keep them."""

            def fit(self, x, y, batch_size=batch_size, nb_epochs=epochs, **kwargs):
                return super().fit(x, y, batch_size=batch_size, nb_epochs=nb_epochs, **kwargs)

        NOTES.append(
            "ART, PyTorch targets: `ShadowModels` trains each shadow model with `fit(x, y)` and "
            "offers no way to pass training settings, so shadows would train with ART's "
            "defaults (10 epochs, batch 128) instead of the target's (e.g. 50 epochs, batch 32 "
            "on digits); a 4-line `PyTorchClassifier` subclass makes the target's epochs and "
            "batch size the defaults (the optimizer, Adam at the target's learning rate, is "
            "cloned by ART itself)."
        )
        if meta["optimizer"] != "adam":  # pragma: no cover - every task uses Adam
            raise ValueError("only Adam targets are wired here")
        return TrainedLikeTheTarget(
            model=net, loss=torch.nn.CrossEntropyLoss(),
            optimizer=torch.optim.Adam(net.parameters(), lr=meta["lr"]),
            input_shape=(meta["in_features"],), nb_classes=meta["n_classes"],
        )
    import joblib

    # Our own pickles, written by prepare.py in this run.
    forest = joblib.load(task_dir(task) / "models.joblib")["target"]
    return ScikitlearnRandomForestClassifier(forest)


def use_all_cores(attack) -> None:
    """Let ART's default random-forest attack model use every core (``n_jobs=-1``; ART builds
    it with scikit-learn's default, one core). The same model, only faster: in ART's favour."""
    from sklearn.ensemble import RandomForestClassifier

    if isinstance(attack.attack_model, RandomForestClassifier):
        attack.attack_model.set_params(n_jobs=-1)


def main(task: str) -> None:
    import torch

    np.random.seed(0)  # noqa: NPY002  (ART's default attack models use the global RNG)
    torch.manual_seed(0)
    bundle = load_task(task)
    meta = bundle["meta"]
    classifier = art_classifier(task, meta)
    rows, membership = audit_rows(bundle)
    x, y = bundle["x"], bundle["y"]
    xa, ya = x[rows], y[rows]
    n_classes = int(meta["n_classes"])

    # Two halves of the members and of the non-members (the attacker knows one of them).
    rng = np.random.default_rng(1)
    fold = np.zeros(rows.size, dtype=int)
    for group in (np.flatnonzero(membership), np.flatnonzero(~membership)):
        fold[rng.permutation(group)[: group.size // 2]] = 1

    attacks: dict[str, dict] = {}
    for model_type in ("nn", "rf"):
        scores = np.zeros(rows.size)
        with Meter() as m:
            for known in (0, 1):
                train, test = fold == known, fold != known
                attack = MembershipInferenceBlackBox(classifier, attack_model_type=model_type)
                use_all_cores(attack)
                attack.fit(xa[train & membership], ya[train & membership],
                           xa[train & ~membership], ya[train & ~membership])
                scores[test] = np.asarray(attack.infer(xa[test], ya[test], probabilities=True),
                                          dtype=np.float64).reshape(-1)
        label = f"black-box ({model_type}{', default' if model_type == 'nn' else ''})"
        attacks[label] = {"scores": scores, "meter": m,
                          "knows": "membership of half the audited points (cross-fitted)"}

    with Meter() as m:
        rule = MembershipInferenceBlackBoxRuleBased(classifier)
        scores = np.asarray(rule.infer(xa, ya), dtype=np.float64).reshape(-1)
    attacks["rule-based"] = {"scores": scores, "meter": m}

    pool = bundle["offline_pool"]
    with Meter() as shadow_meter:
        shadows = ShadowModels(classifier, num_shadow_models=REFERENCE_BUDGET, random_state=0)
        (mx, my, mp), (nx, ny, npred) = shadows.generate_shadow_dataset(
            x[pool], to_categorical(y[pool], n_classes))
    with Meter() as m:
        attack = MembershipInferenceBlackBox(classifier, attack_model_type="rf")
        use_all_cores(attack)
        attack.fit(mx, my, nx, ny, mp, npred)
        scores = np.asarray(attack.infer(xa, ya, probabilities=True), dtype=np.float64).reshape(-1)
    train_sizes = [len(s[0]) for s in shadows.get_shadow_models_train_sets() if s is not None]
    attacks[f"shadow models ({REFERENCE_BUDGET}) + black-box (rf)"] = {
        "scores": scores, "meter": m,
        "extra_seconds": shadow_meter.seconds,
        "extra_what": "training the shadow models (ShadowModels.generate_shadow_dataset)",
        "shadow_meter": shadow_meter.as_dict(),
        "shadow_train_sizes": train_sizes,
    }
    NOTES.append(
        "ART: `ShadowModels.generate_shadow_dataset` draws each shadow model's members and "
        "non-members from `range(len(x) - 1)`, so the last row of the shadow data is never "
        "used (harmless here; each shadow still trains on the target's training-set size)."
    )
    NOTES.append(
        "ART: the random-forest attack models (`attack_model_type=\"rf\"`) are built with "
        "scikit-learn's default `n_jobs` (one core); we set `n_jobs=-1` on them after "
        "construction (the same model, only faster: in ART's favour)."
    )
    if meta["model"] == "mlp":
        NOTES.append(
            "ART, PyTorch targets: the attack features are what `PyTorchClassifier.predict` "
            "returns, the target's logits (as in ART's notebook)."
        )

    from importlib.metadata import version

    versions = {p: version(p) for p in ("adversarial-robustness-toolbox", "torch", "numpy",
                                        "scikit-learn")}
    write_result(task_dir(task) / "results" / "art", tool="art", attacks=attacks,
                 import_meter=IMPORT, notes=NOTES, versions=versions)
    print(f"[art] {task}: " + ", ".join(f"{k} {a['meter'].seconds:.2f} s"
                                        for k, a in attacks.items())
          + f"; shadow training {shadow_meter.seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
