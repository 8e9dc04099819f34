"""The expensive half of an audit: train the models, query them, measure their utility.

Models are streamed: each trained model is built (for PyTorch: moved to its device) only when
it is queried, queried and measured, then dropped, so at most one model of the M an audit
trains is on the device at a time (the trained weights stay in host memory).
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter.pipeline.data import AuditData

__all__ = [
    "as_model_access",
    "check_feature_range",
    "check_outputs",
    "model_dtype",
    "model_utility",
    "query_models",
    "summarise_utility",
    "train_models_lazily",
]

#: Builds one model access on demand.
ModelFactory = Callable[[], Any]


def as_model_access(model: Any, *, n_classes: int | None, task: str = "classification") -> Any:
    """Wrap a trained model in a model-access adapter (or return an adapter unchanged).

    Accepts a :class:`~privmeter.models.ModelAccess`, a ``torch.nn.Module``, a fitted
    scikit-learn estimator, a Keras model or an ``onnxruntime.InferenceSession``. A
    HuggingFace ``transformers`` model needs its tokenizer, so it must come wrapped
    (:class:`~privmeter.models.HFCausalLM` or :class:`~privmeter.models.HFClassifier`).
    """
    from privmeter.models import ModelAccess

    if isinstance(model, ModelAccess):
        return model
    if type(model).__module__.split(".")[0] == "transformers":
        wrapper = "HFCausalLM" if task == "language_model" else "HFClassifier"
        raise TypeError(
            f"a transformers {type(model).__name__} needs its tokenizer: wrap it as "
            f"privmeter.models.{wrapper}(model, tokenizer) (or {wrapper}.from_pretrained(folder))"
        )
    if task == "language_model":
        raise TypeError(
            f"cannot audit a {type(model).__name__} as a language model: pass "
            "privmeter.models.HFCausalLM(model, tokenizer) for a transformers causal LM, or "
            "BlackBoxLM(fn) for an API returning per-token log-probabilities"
        )
    torch = sys.modules.get("torch")  # a torch module can only exist once torch is imported
    if torch is not None and isinstance(model, torch.nn.Module):
        from privmeter.models import TorchModel

        return TorchModel(model, n_classes=n_classes, task=task)  # type: ignore[arg-type]
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        from privmeter.models import KerasModel

        return KerasModel(model, n_classes=n_classes)
    ort = sys.modules.get("onnxruntime")
    if ort is not None and isinstance(model, ort.InferenceSession):
        from privmeter.models import OnnxModel

        return OnnxModel(model, n_classes=n_classes)
    ov = sys.modules.get("openvino")
    if ov is not None and isinstance(model, (ov.Model, ov.CompiledModel)):
        from privmeter.models import OpenVINOModel

        return OpenVINOModel(model, n_classes=n_classes)
    if hasattr(model, "predict") and hasattr(model, "get_params"):
        from privmeter.models import SklearnModel

        return SklearnModel(model)
    raise TypeError(
        f"cannot audit a {type(model).__name__}: pass a torch.nn.Module, a fitted scikit-learn "
        "estimator, a Keras model, an onnxruntime.InferenceSession, or a privmeter.models "
        "adapter (OnnxModel, OpenVINOModel, HFClassifier, HFCausalLM; BlackBoxModel for an "
        "API, LabelOnlyModel for a label-only API)"
    )


def check_feature_range(data: AuditData, dtype: Any, what: str) -> None:
    """Features must stay far enough below the model's float range that training and querying
    cannot overflow: |x| < sqrt(max) of the dtype (1.8e19 for float32), so that squares, sums
    and products with weights stay finite. Names the first offending row and column."""
    x = np.asarray(data.x)
    if x.size == 0 or x.dtype.kind not in "iuf":
        return
    limit = math.sqrt(float(np.finfo(dtype).max))
    if max(abs(float(x.max())), abs(float(x.min()))) < limit:
        return
    flat = x.reshape(x.shape[0], -1)
    row, col = (int(v) for v in np.argwhere(np.abs(flat.astype(np.float64)) >= limit)[0])
    names = data.feature_names
    column = f"column {col}" + (f" ({names[col]!r})" if names and col < len(names) else "")
    raise ValueError(
        f"feature value {float(flat[row, col]):g} at row {row}, {column} is too large for "
        f"{what} ({np.dtype(dtype).name}): values must stay below {limit:.3g} in magnitude "
        "(the square root of the largest float), or training overflows to inf/NaN; rescale "
        "the features"
    )


def model_dtype(model: Any) -> Any:
    """The floating dtype of a torch module's parameters (float64 for anything else)."""
    params = getattr(model, "parameters", None)
    if callable(params):
        for prm in params():
            if prm.is_floating_point():
                return np.dtype(str(prm.dtype).removeprefix("torch."))
    return np.float64


def check_outputs(access: Any, data: AuditData, what: str) -> None:
    """Query ``access`` on two rows: the input width must fit, and a classifier needs one
    output per class present in the labels."""
    if data.task not in ("classification", "regression"):
        return
    outputs = getattr(access, "outputs", None)
    if not callable(outputs):  # TorchModel.outputs; other adapters: the logits
        if data.task != "classification":
            return
        try:
            out = np.asarray(access.logits(data.x[:2]))
        except NotImplementedError:  # label-only access: nothing to check the width of
            return
    else:
        out = np.asarray(outputs(data.x[:2]))
    if data.task != "classification" or data.y.size == 0 or data.y.dtype.kind not in "iub":
        return
    top = int(data.y.max())
    if out.ndim != 2:
        raise ValueError(
            f"{what} outputs shape {tuple(out.shape[1:])} per row; a classifier must return "
            f"one logit per class, shape (n, n_classes) with n_classes > {top}"
        )
    width = int(out.shape[1])
    if width <= top:
        row = int(np.argmax(data.y))
        raise ValueError(
            f"{what} outputs {width} value(s) per row, but the labels go up to {top} (row "
            f"{row}): a classifier needs one logit per class, so labels must lie in "
            f"0..{width - 1}; fix the labels or the model's output size"
        )


def _build_model(trainer: Any, state: Any, n_classes: int | None, task: str) -> Any:
    return as_model_access(trainer.build(state), n_classes=n_classes, task=task)


def _ready(access: Any) -> Any:
    return access


def train_models_lazily(
    trainer: Any, data: AuditData, keep: NDArray[np.bool_], seed: int | Sequence[int], *,
    store: Any,
    executor: Any, progress: bool, vectorized: bool,
) -> tuple[list[ModelFactory], list[str | None]]:
    """Train one model per row of ``keep``; return a factory per model (building the model
    access on demand, for PyTorch on its device) and each model's cache key.

    A trainer with a ``build(state)`` method (PyTorch, language models, Keras) returns states
    that are built into models only when queried; any other trainer returns fitted models.
    """
    from privmeter.training import model_keys, train_models
    from privmeter.training.train import is_torch_trainer

    is_torch = is_torch_trainer(trainer)
    # DP-SGD trains one model at a time (per-sample clipping and noise through Opacus)
    vectorized = bool(vectorized and is_torch and getattr(trainer, "dp", None) is None)
    states = train_models(
        trainer, data.x, data.y, keep, seeds=seed, store=store, executor=executor,
        progress=progress, vectorized=vectorized,
    )
    keys: list[str | None] = list(
        model_keys(trainer, data.x, data.y, keep, seeds=seed, vectorized=vectorized)
    )
    if is_torch or callable(getattr(trainer, "build", None)):
        factories: list[ModelFactory] = [
            functools.partial(_build_model, trainer, s, data.n_classes, data.task)
            for s in states
        ]
    else:
        factories = [
            functools.partial(_ready, as_model_access(s, n_classes=data.n_classes, task=data.task))
            for s in states
        ]
    return factories, keys


def query_models(
    models: Sequence[ModelFactory], keys: Sequence[str | None], rows: NDArray[np.int64],
    data: AuditData, signals: Any, *, augmentations: Any, store: Any, progress: bool,
    member: NDArray[np.bool_], on_model: Callable[[int, Any], None] | None = None,
) -> tuple[Any, list[dict[str, float | None]] | str, dict[str, float]]:
    """Query every model on ``rows``, one model at a time, and measure its utility.

    ``signals`` is one :class:`~privmeter.signals.Signal` or a sequence of them: every signal
    is computed on a model while it is built (for a language model all of them come from one
    forward pass over the texts, which the adapter caches). ``on_model(m, model)``, when
    given, is called with each built model after its signals (the audit uses it to ask the
    target for what the report shows, e.g. canary exposures).

    Returns ``(values, utility, timings)``: the signal values ``(n_models, n_rows,
    n_queries)`` (for a sequence of signals, a dict of them by signal name), each model's
    :func:`model_utility` on ``rows`` split by ``member`` (one row per model), or the first
    error that made utility unmeasurable, and the seconds spent on ``"querying"`` and
    ``"utility"``.
    """
    from privmeter._progress import ProgressBar
    from privmeter.signals import compute_signal
    from privmeter.training import indices_fingerprint, make_key

    single = not isinstance(signals, (list, tuple))
    sig_list = [signals] if single else list(signals)
    x = data.x[rows]
    y = data.y[rows]
    out: dict[str, list[NDArray[np.float64]]] = {s.name: [] for s in sig_list}
    utility: list[dict[str, float | None]] | str = []
    timings = {"querying": 0.0, "utility": 0.0}
    bar = ProgressBar(len(models), initial=0, enabled=progress,
                      desc=f"querying {rows.size} points", unit="model")
    for m, (factory, key, mem) in enumerate(zip(models, keys, member, strict=True)):
        t0 = time.perf_counter()
        model = factory()
        for signal in sig_list:
            cache_key = None
            v: NDArray[np.float64] | None = None
            if store is not None and key is not None:
                # the model key already covers the data (its fingerprint), trainer and seed
                cache_key = make_key(
                    "signal", model=key, signal=signal.name,
                    signal_params={str(k): repr(p) for k, p in signal.params.items()},
                    augmentations=repr(augmentations), rows=indices_fingerprint(rows),
                )
                hit = store.get_arrays(cache_key)
                if hit is not None:
                    v = hit["values"]
            if v is None:
                v = compute_signal(signal, model, x, y, augmentations=augmentations)
                v = v if v.ndim == 2 else v[:, None]
                if cache_key is not None:
                    store.put_arrays(cache_key, {"values": v})
            out[signal.name].append(v)
        if on_model is not None:
            on_model(m, model)
        bar.update(1)
        t1 = time.perf_counter()
        timings["querying"] += t1 - t0
        if not isinstance(utility, str):
            try:
                utility.append(model_utility(model, x, y, mem, task=data.task))
            except (NotImplementedError, ValueError, TypeError) as exc:
                utility = f"could not measure the models' utility: {exc}"
        timings["utility"] += time.perf_counter() - t1
        del model
    bar.close()
    values = {name: np.stack(v) for name, v in out.items()}
    return (values[sig_list[0].name] if single else values), utility, timings


def summarise_utility(
    per_model: list[dict[str, float | None]] | str, *, game: str, targets: Sequence[int],
    regression: bool,
) -> dict[str, Any]:
    """Train and test accuracy (classification) or R^2 and MSE (regression) of the models:
    the target's and the references' mean (``"model"`` game) or all models' mean.

    Each model's train set is the table points it trained on, its test set the others
    (audit non-members and population points).
    """
    if isinstance(per_model, str):
        return {"error": per_model}
    if per_model and "train perplexity" in per_model[0]:
        return _summarise_lm_utility(per_model, game=game, targets=targets)
    metric = "R^2" if regression else "accuracy"
    out: dict[str, Any] = {"metric": metric}

    def mean(key: str, idx: Sequence[int]) -> float | None:
        vals = [v for i in idx if (v := per_model[i][key]) is not None]
        return float(np.mean(vals)) if vals else None

    keys = ["train", "test"] + (["train MSE", "test MSE"] if regression else [])
    n_models = len(per_model)
    if game == "model":
        tgt, refs = [targets[0]], [i for i in range(n_models) if i != targets[0]]
        who = "target"
    else:
        tgt, refs, who = list(range(n_models)), [], "models (mean)"
    for k in keys:
        out[f"{who} {k}"] = mean(k, tgt)
    tr, te = out[f"{who} train"], out[f"{who} test"]
    out["generalisation gap"] = None if tr is None or te is None else tr - te
    if refs:
        for k in keys:
            out[f"references (mean) {k}"] = mean(k, refs)
    out["measured on"] = ("each model's training points (train) and the other audit and "
                          "population points (test)")
    return out


def _summarise_lm_utility(
    per_model: list[dict[str, float | None]], *, game: str, targets: Sequence[int]
) -> dict[str, Any]:
    """Perplexity of a language model on its training texts and on the other texts."""
    out: dict[str, Any] = {"metric": "perplexity (lower is better)"}
    n_models = len(per_model)
    if game == "model":
        groups = [("target", [targets[0]]),
                  ("references (mean)", [i for i in range(n_models) if i != targets[0]])]
    else:
        groups = [("models (mean)", list(range(n_models)))]
    for who, idx in groups:
        if not idx:
            continue
        for k in ("train", "test"):
            vals = [v for i in idx if (v := per_model[i][f"{k} perplexity"]) is not None]
            out[f"{who} {k}"] = float(np.mean(vals)) if vals else None
    tr, te = out.get(f"{groups[0][0]} train"), out.get(f"{groups[0][0]} test")
    out["generalisation gap"] = None if tr is None or te is None else te / tr
    out["gap"] = "test perplexity / train perplexity (1 = no gap)"
    out["measured on"] = ("each model's training texts (train) and the other audit and "
                          "population texts (test)")
    return out


def model_utility(
    model: Any, x: Any, y: NDArray[Any], member: NDArray[np.bool_], *,
    regression: bool | None = None, task: str | None = None,
) -> dict[str, float | None]:
    """Train/test accuracy (or R^2 and MSE; or a language model's perplexity) of one model on
    the rows split by ``member``."""
    if task is None:
        task = "regression" if regression else "classification"
    if task == "language_model":
        from privmeter.signals import compute_signal, get_signal

        nll = compute_signal(get_signal("lm_loss"), model, x, y)
        nll = nll if nll.ndim == 1 else nll.mean(axis=-1)
        return {
            f"{name} perplexity": (float(np.exp(nll[mask].mean())) if mask.any() else None)
            for name, mask in (("train", member), ("test", ~member))
        }
    if task == "regression":
        pred = np.asarray(model.predict(x), dtype=np.float64).reshape(y.shape[0], -1)
        truth = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        err = ((pred - truth) ** 2).sum(axis=1)
        out: dict[str, float | None] = {}
        for name, mask in (("train", member), ("test", ~member)):
            if mask.sum() < 2:
                out[name] = out[f"{name} MSE"] = None
                continue
            sse = float(err[mask].sum())
            sst = float(((truth[mask] - truth[mask].mean(axis=0)) ** 2).sum())
            out[f"{name} MSE"] = sse / int(mask.sum())
            out[name] = 1.0 - sse / sst if sst > 0 else None
        return out
    try:
        correct = np.argmax(model.logits(x), axis=1) == model.label_index(y)
    except NotImplementedError:  # label-only access
        correct = np.asarray(model.predict(x)) == np.asarray(y)
    return {
        name: (float(correct[mask].mean()) if mask.any() else None)
        for name, mask in (("train", member), ("test", ~member))
    }
