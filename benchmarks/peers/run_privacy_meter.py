"""ML Privacy Meter 1.0.1 (``privacy-meter`` on PyPI) on the saved models of one task.

Runs in its own venv (``benchmarks/peers/.venvs/privacy_meter``) as a fresh process. Used as its
tutorials do (``tutorials/population_metric.ipynb``, ``tutorials/reference_metric.ipynb``):
a ``Dataset`` with a ``train`` split (the target's members) and a ``test`` split (the
non-members), ``InformationSource`` objects, a metric with the ``ModelLoss`` signal, then
``Audit(...).prepare()`` and ``.run()`` for the privacy loss of a model:

- ``PopulationMetric``: the reference information source is the target model on the
  population points;
- ``ReferenceMetric``: the reference information source is the 8 offline reference models
  (trained on population data only, each on as many points as the target, never on an audited
  point: the setting of its tutorial) on the target's dataset;

each with the default threshold function (``linear_itp_threshold_func``, what
``MetricEnum.POPULATION`` / ``MetricEnum.REFERENCE`` use) and with
``logit_rescale_threshold_func``.

Per-point scores. A metric returns, for each FPR tolerance ``alpha`` of a grid, the member /
non-member decision of every point (thresholds are monotone in ``alpha``). The score of a
point is the number of grid levels at which it is called a member, i.e. (up to the grid) the
smallest ``alpha`` at which the tool flags it: exactly the ROC the tool itself draws. The timed
audit uses the tool's default grid (100 log-spaced levels from 1e-5 to 1); the scores are read
from the same prepared metric re-run on a denser grid (the default levels, 1,001 linear
ones and 50 log-spaced ones down to 1e-12), which can only refine the tool's ROC. Writes
``.work/<task>/results/privacy_meter.{npz,json}``.

    python benchmarks/peers/run_privacy_meter.py TASK
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REFERENCE_BUDGET,
    Meter,
    build_mlp,
    load_mlp_states,
    load_task,
    task_dir,
    write_result,
)

with Meter() as IMPORT:
    from privacy_meter.audit import Audit
    from privacy_meter.constants import InferenceGame
    from privacy_meter.dataset import Dataset
    from privacy_meter.hypothesis_test import (
        linear_itp_threshold_func,
        logit_rescale_threshold_func,
    )
    from privacy_meter.information_source import InformationSource
    from privacy_meter.information_source_signal import ModelLoss
    from privacy_meter.metric import PopulationMetric, ReferenceMetric
    from privacy_meter.model import Model, PytorchModel
    from privacy_meter.utils import default_quantile

import contextlib
import io

import numpy as np

NOTES: list[str] = []

#: The scoring grid: the tool's default levels, a linear grid (0 and 1 included) and levels
#: down to 1e-12 (below the default's 1e-5), so the grid never limits the tool's ROC.
DENSE_GRID = np.unique(np.r_[default_quantile(), np.linspace(0.0, 1.0, 1001),
                             np.logspace(-12, -5, 50)])


class SklearnProbaModel(Model):
    """Workaround: privacy_meter 1.0.1 has no scikit-learn wrapper (only PyTorch and
    TensorFlow models). This thin ``Model`` subclass queries ``predict_proba`` and returns the
    per-point cross-entropy ``-log p_y``, with ``p_y`` clipped to ``[eps, 1 - eps]`` (float64
    eps, as scikit-learn's ``log_loss``) so a tree ensemble's zero probabilities give a finite
    loss. Labels are mapped to columns through ``classes_``; a class the forest never saw gets
    ``p_y = 0``."""

    def get_logits(self, batch_samples):
        return self.model_obj.predict_proba(batch_samples)

    def get_loss(self, batch_samples, batch_labels, per_point=True):
        p = self.model_obj.predict_proba(batch_samples)
        classes = np.asarray(self.model_obj.classes_)
        y = np.asarray(batch_labels)
        col = np.searchsorted(classes, y).clip(0, classes.size - 1)
        seen = classes[col] == y
        py = np.where(seen, p[np.arange(y.size), col], 0.0)
        eps = np.finfo(np.float64).eps
        loss = -np.log(np.clip(py, eps, 1.0 - eps))
        return loss if per_point else float(loss.mean())

    def get_grad(self, batch_samples, batch_labels):
        raise NotImplementedError("black-box scikit-learn model")

    def get_intermediate_outputs(self, layers, batch_samples, forward_pass=True):
        raise NotImplementedError("black-box scikit-learn model")


def wrap_models(task: str, meta: dict) -> dict[str, Model]:
    if meta["model"] == "mlp":
        import torch

        out: dict[str, Model] = {}
        for name, state in load_mlp_states(task).items():
            net = build_mlp(meta["in_features"], meta["n_classes"], meta["hidden"], state)
            out[name] = PytorchModel(model_obj=net, loss_fn=torch.nn.CrossEntropyLoss())
        return out
    import joblib

    NOTES.append(
        "ML Privacy Meter, random forest: version 1.0.1 has no scikit-learn model class (only "
        "PyTorch and TensorFlow); a 20-line `Model` subclass queries `predict_proba` and returns "
        "the loss -log p_y with p_y clipped to [eps, 1 - eps] (float64 eps, as scikit-learn's "
        "`log_loss`), so a forest's zero probabilities give a finite loss."
    )
    # Our own pickles, written by prepare.py in this run.
    return {name: SklearnProbaModel(model_obj=est, loss_fn=None)
            for name, est in joblib.load(task_dir(task) / "models.joblib").items()}


def scores_from(result) -> np.ndarray:
    """Number of grid levels at which each point is called a member (members first)."""
    return np.asarray(result.predicted_labels, dtype=bool).sum(axis=0).astype(np.float64)


def main(task: str) -> None:
    bundle = load_task(task)
    meta = bundle["meta"]
    models = wrap_models(task, meta)
    x, y = bundle["x"], bundle["y"]
    mem, non, pop = bundle["members"], bundle["non_members"], bundle["population"]
    target_ds = Dataset(
        data_dict={"train": {"x": x[mem], "y": y[mem]}, "test": {"x": x[non], "y": y[non]}},
        default_input="x", default_output="y",
    )
    population_ds = Dataset(data_dict={"train": {"x": x[pop], "y": y[pop]}},
                            default_input="x", default_output="y")
    refs = [models[f"offline{i}"] for i in range(REFERENCE_BUDGET)]

    attacks: dict[str, dict] = {}
    for metric_name in ("population", "reference"):
        for fn_name, fn in (("default", linear_itp_threshold_func),
                            ("logit rescale", logit_rescale_threshold_func)):
            target_info = InformationSource(models=[models["target"]], datasets=[target_ds])
            if metric_name == "population":
                ref_info = InformationSource(models=[models["target"]], datasets=[population_ds])
                metric = PopulationMetric(target_info_source=target_info,
                                          reference_info_source=ref_info,
                                          signals=[ModelLoss()], hypothesis_test_func=fn)
            else:
                ref_info = InformationSource(models=refs, datasets=[target_ds])
                metric = ReferenceMetric(target_info_source=target_info,
                                         reference_info_source=ref_info,
                                         signals=[ModelLoss()], hypothesis_test_func=fn)
            # save_logs=False: its signal cache is keyed on the metric's class name only, so a
            # cached run would silently reuse another model's signals.
            with Meter() as m, contextlib.redirect_stdout(io.StringIO()):
                audit = Audit(metrics=metric, inference_game_type=InferenceGame.PRIVACY_LOSS_MODEL,
                              target_info_sources=target_info, reference_info_sources=ref_info,
                              save_logs=False)
                audit.prepare()
                default_result = audit.run()[0][0]
            with contextlib.redirect_stdout(io.StringIO()):
                dense = metric.run_metric(list(DENSE_GRID))[0]
            attacks[f"{metric_name} ({fn_name})"] = {
                "scores": scores_from(dense),
                "meter": m,
                "tool_auc_default_grid": float(default_result.roc_auc),
                "grid_levels_scored": int(DENSE_GRID.size),
            }
    from importlib.metadata import version

    import privacy_meter  # noqa: F401  (already imported; only for the version below)

    versions = {p: version(p) for p in ("privacy-meter", "tensorflow-cpu", "torch", "opacus",
                                        "numpy", "scikit-learn")}
    write_result(task_dir(task) / "results" / "privacy_meter", tool="privacy_meter",
                 attacks=attacks, import_meter=IMPORT, notes=NOTES, versions=versions)
    print(f"[privacy_meter] {task}: " + ", ".join(
        f"{k} {a['meter'].seconds:.2f} s" for k, a in attacks.items()))


if __name__ == "__main__":
    main(sys.argv[1])
