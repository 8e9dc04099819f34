"""From a validated config to an :class:`~privmeter.Audit`: data and target files loaded,
trainer, signal, executor and cache built; Audit's messages reworded with config keys."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from privmeter.config.factories import _import_factory, _sklearn_estimator
from privmeter.config.schema import TEXT_SOURCES, AuditConfig, ConfigError, DataConfig

__all__ = ["build_audit"]


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _load_texts(cfg: DataConfig, base: Path) -> tuple[Any, Any]:
    """A text dataset from ``data.path``, or from ``data.members`` + ``data.non_members``
    (then also the member rows: your own target's training texts)."""
    from privmeter import datasets

    kw: dict[str, Any] = {"field": cfg.field, "id_field": cfg.id_field,
                          "label_field": cfg.label_field, "mode": cfg.mode}
    kw = {k: v for k, v in kw.items() if v is not None}
    if cfg.members is not None or cfg.non_members is not None:
        if cfg.members is None or cfg.non_members is None:
            raise ConfigError(
                "data.members and data.non_members go together: your target's training texts "
                "and texts it never saw"
            )
        if cfg.path is not None:
            raise ConfigError(
                "give either data.path (privmeter splits and trains the target) or "
                "data.members + data.non_members (your own target), not both"
            )
        try:
            return datasets.load_member_split(
                _resolve(base, cfg.members), _resolve(base, cfg.non_members),
                source=cfg.source, **kw,
            )
        except (ValueError, OSError, TypeError) as exc:
            raise ConfigError(f"data.members / data.non_members: {exc}") from None
    if cfg.path is None:
        raise ConfigError(
            f"data.source {cfg.source!r} needs data.path (or data.members and "
            "data.non_members)"
        )
    try:
        return datasets.load_text(cfg.source, _resolve(base, cfg.path), **kw), None
    except (ValueError, OSError, TypeError) as exc:
        raise ConfigError(f"data.path: {exc}") from None


def _load_dataset(cfg: DataConfig, base: Path) -> Any:
    import pickle

    from privmeter import datasets

    src = cfg.source
    if src in TEXT_SOURCES:
        return _load_texts(cfg, base)[0]
    if cfg.members is not None or cfg.non_members is not None:
        raise ConfigError(
            f"data.members / data.non_members are for texts (data.source one of "
            f"{', '.join(TEXT_SOURCES)}), got data.source {src!r}: for other data give "
            "target.train_indices"
        )
    files = {"npz", "csv", "cifar10", "cifar100", "purchase", "texas"}
    if src not in files:
        known = [*datasets.list_datasets(), *sorted(files), *TEXT_SOURCES]
        if src not in known:
            from privmeter._names import _closest_names

            close = _closest_names(src, known)
            hint = f" (did you mean {close}?)" if close else ""
            raise ConfigError(
                f"data.source: unknown source {src!r}{hint}; built-in datasets: "
                f"{', '.join(datasets.list_datasets())}; files: {', '.join(sorted(files))} "
                f"(with data.path); texts: {', '.join(TEXT_SOURCES)}"
            )
        try:
            return datasets.load_dataset(src, **cfg.options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"data.source: {exc}") from None
    if cfg.path is None:
        raise ConfigError(f"data.source {src!r} needs data.path")
    path = _resolve(base, cfg.path)
    try:
        if src == "npz":
            return datasets.load_npz(path, **cfg.options)
        if src == "csv":
            return datasets.load_csv(path, label_column=cfg.label_column, **cfg.options)
        if src in ("cifar10", "cifar100"):
            variant: Literal["cifar10", "cifar100"] = (
                "cifar10" if src == "cifar10" else "cifar100"
            )
            return datasets.load_cifar(path, variant=variant, **cfg.options)
        if src == "purchase":
            return datasets.load_purchase(path, **cfg.options)
        if cfg.labels_path is None:
            raise ConfigError("data.source 'texas' needs data.labels_path")
        return datasets.load_texas(path, _resolve(base, cfg.labels_path), **cfg.options)
    except ConfigError:
        raise
    except TypeError as exc:  # an unknown data.options key
        raise ConfigError(f"data.options for {src!r}: {exc}") from None
    except (ValueError, OSError, pickle.UnpicklingError, RecursionError,
            MemoryError) as exc:
        raise ConfigError(f"data.path: {exc}") from None


def build_audit(
    cfg: AuditConfig,
    *,
    progress: bool = True,
    base_dir: Path | None = None,
    allow_modules: Sequence[str] = (),
    trust_pickles: bool = False,
) -> Any:
    """The :class:`~privmeter.Audit` a config describes (data loaded, trainer built).

    Parameters
    ----------
    cfg : AuditConfig
    progress : bool
        Progress bars.
    base_dir : path, optional
        The config file's folder: relative paths in the config are relative to it, and
        ``model.factory`` may name a Python file in it. Default: the working directory.
    allow_modules : sequence of str
        Packages or modules from which ``model.factory`` may import (``--allow-module``).
    trust_pickles : bool
        Let the cache store and load pickles (``--trust-pickles``): only for a cache folder
        nobody else can write to.
    """
    from privmeter.audit import Audit

    if isinstance(allow_modules, str):
        allow_modules = [allow_modules]
    for name in allow_modules:
        if not all(part.isidentifier() for part in str(name).split(".")):
            raise ConfigError(f"--allow-module expects a module name such as 'mypkg', got {name!r}")
    base = base_dir or Path.cwd()
    m = cfg.model
    factory_fn: Any = None
    if m.architecture == "factory":  # checked before the data loads: nothing imported yet
        if not m.factory:
            raise ConfigError("model.architecture 'factory' needs model.factory")
        factory_fn = _import_factory(m.factory, base=base, allow_modules=allow_modules)
    store: Any = None
    if cfg.cache is not None:
        from privmeter.training import Store

        try:
            store = Store(_resolve(base, cfg.cache), trust_pickle=trust_pickles)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"cache: {exc}") from None
    member_rows = None
    if cfg.data.source in TEXT_SOURCES:
        ds, member_rows = _load_texts(cfg.data, base)
    else:
        ds = _load_dataset(cfg.data, base)
    trainer: Any = None
    target_model = None
    target_indices = None
    reference_lm = None
    t = cfg.training
    if m.architecture == "hf_causal_lm":
        trainer, target_model, reference_lm = _language_model(cfg, ds, base)
    elif m.architecture in _FILE_ARCHITECTURES:
        if m.path is None:
            raise ConfigError(f"model.architecture {m.architecture!r} needs model.path")
        target_model = _load_model_file(_resolve(base, m.path), m.architecture, "model.path",
                                        m.batch_size)
        if m.architecture == "keras":
            from privmeter.training import KerasTrainer

            keras_kw: dict[str, Any] = {"epochs": t.epochs, "batch_size": t.batch_size,
                                        "learning_rate": t.lr}
            trainer = KerasTrainer(
                target_model.model, **{k: v for k, v in keras_kw.items() if v is not None},
            )
    elif m.architecture == "sklearn":
        from privmeter.training import SklearnTrainer

        if not m.sklearn:
            raise ConfigError("model.architecture 'sklearn' needs model.sklearn (a class name)")
        trainer = SklearnTrainer(_sklearn_estimator(m.sklearn, m.options))
        if cfg.target.weights is not None:
            raise ConfigError(
                "target.weights is a PyTorch state_dict, but model.architecture is 'sklearn'; "
                "audit a fitted scikit-learn model from Python (Audit(target_model=...))"
            )
    else:
        from privmeter.architectures import make_factory  # imports torch
        from privmeter.training import TorchTrainer

        if m.architecture == "factory":
            import functools

            factory = functools.partial(factory_fn, **m.options) if m.options else factory_fn
        else:
            if ds.task != "classification" or ds.n_classes is None:
                raise ConfigError(
                    f"built-in architectures are classifiers; dataset {ds.name!r} is a "
                    f"{ds.task} task: use model.architecture 'sklearn' or 'factory'"
                    + (" (or hf_causal_lm for texts)" if ds.task == "language_model" else "")
                )
            shape = ds.image_shape or tuple(np.shape(ds.x)[1:])
            try:
                factory = make_factory(m.architecture, input_shape=shape,
                                       n_classes=int(ds.n_classes), **m.options)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"model ({m.architecture}, options {m.options}): {exc}"
                ) from None
        dp = None
        if t.dp is not None:
            from privmeter.training import DPConfig

            try:
                dp = DPConfig(**t.dp.model_dump())
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"training.dp: {exc}") from None
        trainer = TorchTrainer(
            factory, optimizer=t.optimizer, lr=t.lr if t.lr is not None else 1e-3,
            momentum=t.momentum, epochs=t.epochs if t.epochs is not None else 50,
            batch_size=t.batch_size if t.batch_size is not None else 32,
            weight_decay=t.weight_decay, schedule=t.schedule,
            loss="cross_entropy" if ds.task == "classification" else "mse", dp=dp,
        )
        if cfg.target.weights is not None:
            target_model = _load_target(trainer, _resolve(base, cfg.target.weights))
    if t.dp is not None and m.architecture in (*_FILE_ARCHITECTURES, "sklearn",
                                               "hf_causal_lm"):
        raise ConfigError(
            f"training.dp trains PyTorch models with DP-SGD (Opacus); model.architecture "
            f"{m.architecture!r} is not trained that way: use a built-in architecture or "
            "model.factory"
        )
    if member_rows is not None:
        if cfg.target.train_indices is not None:
            raise ConfigError(
                "data.members already says which texts the target trained on: drop "
                "target.train_indices"
            )
        target_indices = member_rows
        if target_model is None:
            raise ConfigError(
                "data.members / data.non_members describe your own target: give it with "
                "model.path (a model folder)"
            )
    elif cfg.target.train_indices is not None:
        target_indices = _load_indices(cfg.target.train_indices, base)
    if target_model is not None and target_indices is None:
        raise ConfigError(
            "model.path (your target) needs the rows it trained on: target.train_indices, or "
            "data.members and data.non_members for texts"
        )
    if (target_model is None) != (target_indices is None):
        raise ConfigError(
            "target.weights and target.train_indices go together (your model and its training "
            "rows)"
        )
    reference_models = None
    if cfg.references.models is not None:
        reference_models = [
            (_load_model_file(_resolve(base, e.path),
                              m.architecture if m.architecture in _FILE_ARCHITECTURES else None,
                              f"references.models[{i}].path", m.batch_size),
             _load_indices(e.train_indices, base, key=f"references.models[{i}].train_indices"))
            for i, e in enumerate(cfg.references.models)
        ]
    augment: Any = None
    s = cfg.signal
    if s.augmentations != "none":
        from privmeter.signals import FlipShift, GaussianNoise

        if s.augmentations == "flip_shift":
            augment = FlipShift(n_queries=s.n_queries)
        else:
            augment = GaussianNoise(n_queries=s.n_queries, sigma=s.noise_sigma, seed=cfg.seed)
    executor: Any = None
    if cfg.executor == "process":
        from privmeter.training import ProcessExecutor

        executor = ProcessExecutor()
    elif cfg.executor == "ray":
        from privmeter.training import RayExecutor

        executor = RayExecutor()
    attacks = (
        None if cfg.attacks is None
        else [a if isinstance(a, str) else (a.name, a.params) for a in cfg.attacks]
    )
    try:
        return Audit(
            ds, trainer, game=cfg.game, attacks=attacks, n_references=cfg.references.count,
            online=cfg.references.online, signal=s.name, augmentations=augment,
            population_fraction=cfg.data.population_fraction, target_model=target_model,
            target_indices=target_indices, records=cfg.records,
            leave_one_out=cfg.leave_one_out, seed=cfg.seed,
            vectorized=cfg.references.vectorized, store=store, executor=executor,
            progress=progress, confidence=cfg.confidence, delta=cfg.delta,
            title=cfg.report.title, reference_lm=reference_lm,
            reference_models=reference_models, dp_canaries=cfg.dp_audit.canaries,
            dp_canary=cfg.dp_audit.canary, dp_runs=cfg.dp_audit.runs, **_text_options(cfg),
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(_config_words(str(exc))) from None


# Audit parameters whose config key has another name; the other Audit parameters that a
# config sets (records, leave_one_out, seed, game, confidence, delta) share the key's name.
_AUDIT_KEYS = {
    "n_references": "references.count",
    "population_fraction": "data.population_fraction",
    "target_indices": "target.train_indices",
    "target_model": "target.weights",
}
_AUDIT_NAME = re.compile(r"(?<![\w.])(" + "|".join(_AUDIT_KEYS) + r")\b")


def _config_words(message: str) -> str:
    """``message`` (from :class:`~privmeter.Audit`) with its parameter names as config keys.

    Examples
    --------
    >>> _config_words("n_references=0: use n_references >= 1")
    'references.count=0: use references.count >= 1'
    >>> _config_words("lower data.population_fraction")
    'lower data.population_fraction'
    """
    return _AUDIT_NAME.sub(lambda m: _AUDIT_KEYS[m.group(1)], message)


def _load_target(trainer: Any, wpath: Path) -> Any:
    """The target model from a ``torch.save``'d state_dict (loaded with ``weights_only``)."""
    import pickle

    import torch

    if not wpath.is_file():
        raise ConfigError(f"target.weights: file not found (or not a regular file): {wpath}")
    try:
        with warnings.catch_warnings():
            # a file pickled by hand (not torch.save) draws a warning about its protocol;
            # the refusal below already names the problem
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol")
            state = torch.load(wpath, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"target.weights: {wpath} is not a PyTorch state_dict saved with torch.save "
            f"({first})"
        ) from None
    if not isinstance(state, dict):
        raise ConfigError(
            f"target.weights: {wpath} holds a {type(state).__name__}, expected a state_dict "
            "(torch.save(model.state_dict(), path))"
        )
    try:
        return trainer.build(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ConfigError(
            f"target.weights: {wpath} does not fit the configured model: {' '.join(lines[:3])}"
        ) from None


#: model.architecture values whose target is a model file or folder (model.path)
_FILE_ARCHITECTURES = ("keras", "onnx", "openvino", "hf")


def _load_model_file(path: Path, architecture: str | None, key: str,
                     batch_size: int | None) -> Any:
    """A model adapter from a file or folder (:func:`privmeter.models.loading.load_model`)."""
    from privmeter.models.loading import load_model

    options = {"batch_size": batch_size} if batch_size is not None else {}
    try:
        return load_model(path, architecture=architecture, **options)
    except (ValueError, OSError, TypeError, ImportError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _language_model(cfg: AuditConfig, ds: Any, base: Path) -> tuple[Any, Any, Any]:
    """``(trainer, target, reference_lm)`` of a causal-LM config (``model.architecture:
    hf_causal_lm``): the target from ``model.path``, reference models fine-tuned from
    ``model.base_path`` (fully or with LoRA), the pretrained reference from
    ``model.reference_path``."""
    m, t = cfg.model, cfg.training
    if ds.task != "language_model":
        raise ConfigError(
            f"model.architecture 'hf_causal_lm' audits a causal language model on texts; the "
            f"data is a {ds.task} task (data.source {cfg.data.source!r}): use data.source text, "
            "jsonl or csv_text without data.label_field"
        )
    if m.path is None and m.base_path is None:
        raise ConfigError(
            "model.architecture 'hf_causal_lm' needs model.path (the fine-tuned model to audit) "
            "and/or model.base_path (the base model that privmeter fine-tunes the target and "
            "the reference models from)"
        )
    from privmeter.models import HFCausalLM

    options: dict[str, Any] = {"max_length": m.max_length, "stride": m.stride,
                               "batch_size": m.batch_size}
    options = {k: v for k, v in options.items() if v is not None}
    tokenizer = str(_resolve(base, m.tokenizer)) if m.tokenizer is not None else None

    def load(key: str, value: str) -> Any:
        try:
            return HFCausalLM.from_pretrained(_resolve(base, value), tokenizer=tokenizer,
                                              **options)
        except (ValueError, OSError, TypeError) as exc:
            raise ConfigError(f"{key}: {exc}") from None

    target = load("model.path", m.path) if m.path is not None else None
    reference_lm = (load("model.reference_path", m.reference_path)
                    if m.reference_path is not None else None)
    trainer = None
    if m.base_path is not None:
        from privmeter.training import LMTrainer, LoraSettings

        base_folder = _resolve(base, m.base_path)
        lora = None
        if m.lora is not None:
            lora = LoraSettings(r=m.lora.r, alpha=m.lora.alpha, dropout=m.lora.dropout,
                                target_modules=(None if m.lora.target_modules is None
                                                else tuple(m.lora.target_modules)))
        kw: dict[str, Any] = {"epochs": t.epochs, "learning_rate": t.lr,
                              "batch_size": t.batch_size, "weight_decay": t.weight_decay}
        if m.max_length is not None:
            kw["max_length"] = m.max_length
        kw = {k: v for k, v in kw.items() if v is not None}
        try:
            trainer = LMTrainer(base_folder, lora=lora, **kw)
        except (ValueError, OSError, TypeError) as exc:
            raise ConfigError(f"model.base_path: {exc}") from None
    return trainer, target, reference_lm


def _text_options(cfg: AuditConfig) -> dict[str, Any]:
    """The Audit options of text audits (canaries, the blind baseline) a config sets."""
    out: dict[str, Any] = {}
    if cfg.canaries is not None:
        from privmeter.pipeline.text import CanarySpec

        c = cfg.canaries
        try:
            out["canaries"] = CanarySpec(template=c.template, repetitions=tuple(c.repetitions),
                                         per_repetition=c.per_repetition,
                                         n_candidates=c.candidates)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"canaries: {exc}") from None
    if cfg.blind_baseline is not None:
        out["blind_baseline"] = cfg.blind_baseline
    return out


def _load_indices(ti: str | list[int], base: Path, key: str = "target.train_indices") -> Any:
    if isinstance(ti, list):
        return np.asarray(ti, dtype=np.int64)
    ipath = _resolve(base, ti)
    if not ipath.is_file():
        raise ConfigError(f"{key}: file not found (or not a regular file): {ipath}")
    try:
        arr = np.load(ipath, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ConfigError(
                f"{key}: {ipath} holds Python objects (dtype=object); refusing "
                "to unpickle it: save an integer array (np.save(path, rows.astype(int)))"
            ) from None
        raise ConfigError(f"{key}: {ipath} is not a .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{key}: cannot read {ipath} ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind not in "iu":
        shape = getattr(arr, "shape", None)
        dtype = getattr(arr, "dtype", type(arr).__name__)
        raise ConfigError(
            f"{key}: {ipath} must hold a 1-D integer array of row indices, got "
            f"dtype {dtype} and shape {shape}"
        )
    return arr
