"""YAML audit configuration: validated with pydantic, errors that name the key and the value.

Example (every key optional except ``data.source``)::

    game: model                 # model | algorithm | record
    seed: 0
    data:
      source: digits            # a built-in dataset, or npz | csv | cifar10 | cifar100 |
                                # purchase | texas (with path)
      path: null
      label_column: label       # csv
      population_fraction: 0.3
    model:
      architecture: mlp         # logistic | mlp | cnn | wide_resnet | sklearn | factory
      options: {hidden: [128, 128]}
      sklearn: null             # e.g. RandomForestClassifier (with architecture: sklearn)
      factory: null             # "package.module:function" returning an nn.Module
    training: {optimizer: adam, lr: 0.001, epochs: 50, batch_size: 32, weight_decay: 0.0}
    target:                     # optional: audit your own trained model (model game)
      weights: null             # a state_dict file (torch.save) for the architecture above
      train_indices: null       # .npy file or list of the target's training rows
    references: {count: 8, online: true, vectorized: true}
    signal: {name: logit_margin, augmentations: none, n_queries: 2}
    attacks: [loss, population, reference, lira, {name: rmia, params: {online: false}}]
    report: {title: null, formats: [html, json, csv, png, pdf]}
    cache: null                 # a folder for the content-addressed cache
    executor: inprocess         # inprocess | process | ray
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["AuditConfig", "ConfigError", "apply_overrides", "build_audit", "load_config"]


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key and the bad value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    source: str = "digits"
    path: str | None = None
    label_column: str = "label"
    labels_path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    population_fraction: float = Field(0.3, gt=0.0, lt=1.0)


class ModelConfig(_Strict):
    architecture: str = "mlp"
    options: dict[str, Any] = Field(default_factory=dict)
    sklearn: str | None = None
    factory: str | None = None


class TrainingConfig(_Strict):
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.0, ge=0.0)
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["none", "cosine", "step"] = "none"


class TargetConfig(_Strict):
    weights: str | None = None
    train_indices: str | list[int] | None = None


class ReferencesConfig(_Strict):
    count: int = Field(8, ge=0)
    online: bool = True
    vectorized: bool = True


class SignalConfig(_Strict):
    name: str = "logit_margin"
    augmentations: Literal["none", "flip_shift", "noise"] = "none"
    n_queries: int = Field(2, ge=1)
    noise_sigma: float = Field(0.05, gt=0.0)


class AttackEntry(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class ReportConfig(_Strict):
    title: str | None = None
    formats: list[Literal["html", "json", "csv", "png", "pdf"]] = Field(
        default_factory=lambda: ["html", "json", "csv", "png", "pdf"]  # type: ignore[arg-type]
    )


class AuditConfig(_Strict):
    """The whole audit configuration (see the module docstring for the YAML layout)."""

    game: Literal["model", "algorithm", "record"] = "model"
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    references: ReferencesConfig = Field(default_factory=ReferencesConfig)
    signal: SignalConfig = Field(default_factory=SignalConfig)
    attacks: list[str | AttackEntry] = Field(
        default_factory=lambda: ["loss", "population", "reference", "lira", "rmia"]  # type: ignore[arg-type]
    )
    records: int | list[int] = 20
    leave_one_out: bool = False
    report: ReportConfig = Field(default_factory=ReportConfig)
    cache: str | None = None
    executor: Literal["inprocess", "process", "ray"] = "inprocess"
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    delta: float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, v: list[str | AttackEntry]) -> list[str | AttackEntry]:
        from privmeter.attacks import attack_info

        for a in v:
            attack_info(a if isinstance(a, str) else a.name)
        return v


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_fields)


def _sub_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    f = model.model_fields.get(key)
    if f is None:
        return None
    ann = f.annotation
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


def _format_errors(err: ValidationError, raw: dict[str, Any]) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc)
        if e["type"] == "extra_forbidden":
            model: type[BaseModel] | None = AuditConfig
            for p in loc[:-1]:
                model = _sub_model(model, p) if model is not None else None
            known = list(_model_fields(model)) if model is not None else []
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f"; did you mean {'.'.join([*loc[:-1], close[0]])!r}?" if close else ""
            lines.append(f"unknown config key {key!r}{hint} (known here: {', '.join(known)})")
        else:
            value = e.get("input")
            lines.append(f"{key}: {e['msg']} (got {value!r})")
    return "invalid config: " + "; ".join(lines)


def _parse_scalar(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML scalars) to a raw config."""
    out = dict(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
            node[p] = dict(child)
            node = node[p]
        node[parts[-1]] = _parse_scalar(value)
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> AuditConfig:
    """Read and validate a YAML config (``path=None``: the defaults, i.e. the demo).

    Raises
    ------
    ConfigError
        For a missing file, invalid YAML, an unknown key (with the closest known key) or a
        bad value (with the key and the value).
    """
    import yaml

    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p} must hold a mapping of keys, got {type(loaded).__name__}")
        raw = loaded
    raw = apply_overrides(raw, overrides or [])
    try:
        return AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, raw)) from None
    except ValueError as exc:  # from validators (unknown attack names)
        raise ConfigError(f"invalid config: {exc}") from None


def _load_dataset(cfg: DataConfig) -> Any:
    from privmeter import datasets

    src = cfg.source
    files = {"npz", "csv", "cifar10", "cifar100", "purchase", "texas"}
    if src in files:
        if cfg.path is None:
            raise ConfigError(f"data.source {src!r} needs data.path")
        if src == "npz":
            return datasets.load_npz(cfg.path, **cfg.options)
        if src == "csv":
            return datasets.load_csv(cfg.path, label_column=cfg.label_column, **cfg.options)
        if src in ("cifar10", "cifar100"):
            variant: Literal["cifar10", "cifar100"] = (
                "cifar10" if src == "cifar10" else "cifar100"
            )
            return datasets.load_cifar(cfg.path, variant=variant, **cfg.options)
        if src == "purchase":
            return datasets.load_purchase(cfg.path, **cfg.options)
        if cfg.labels_path is None:
            raise ConfigError("data.source 'texas' needs data.labels_path")
        return datasets.load_texas(cfg.path, cfg.labels_path, **cfg.options)
    try:
        return datasets.load_dataset(src, **cfg.options)
    except ValueError as exc:
        raise ConfigError(f"data.source: {exc}") from None


def _import_factory(spec: str) -> Any:
    if ":" not in spec:
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    mod_name, attr = spec.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"model.factory: cannot import {mod_name!r}: {exc}") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ConfigError(f"model.factory: {mod_name!r} has no callable {attr!r}")
    return fn


def _sklearn_estimator(name: str, options: dict[str, Any]) -> Any:
    from sklearn.utils import all_estimators

    known = dict(all_estimators())
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"model.sklearn: unknown scikit-learn estimator {name!r}{hint}")
    try:
        return known[name](**options)
    except TypeError as exc:
        raise ConfigError(f"model.options for {name}: {exc}") from None


def build_audit(cfg: AuditConfig, *, progress: bool = True, base_dir: Path | None = None) -> Any:
    """The :class:`~privmeter.Audit` a config describes (data loaded, trainer built)."""
    from privmeter.architectures import make_factory
    from privmeter.audit import Audit

    base = base_dir or Path.cwd()
    ds = _load_dataset(cfg.data)
    m = cfg.model
    trainer: Any
    target_model = None
    target_indices = None
    if m.architecture == "sklearn":
        from privmeter.training import SklearnTrainer

        if not m.sklearn:
            raise ConfigError("model.architecture 'sklearn' needs model.sklearn (a class name)")
        trainer = SklearnTrainer(_sklearn_estimator(m.sklearn, m.options))
    else:
        from privmeter.training import TorchTrainer

        if m.architecture == "factory":
            if not m.factory:
                raise ConfigError("model.architecture 'factory' needs model.factory")
            fn = _import_factory(m.factory)
            import functools

            factory = functools.partial(fn, **m.options) if m.options else fn
        else:
            if ds.task != "classification" or ds.n_classes is None:
                raise ConfigError(
                    f"built-in architectures are classifiers; dataset {ds.name!r} is a "
                    f"{ds.task} task: use model.architecture 'sklearn' or 'factory'"
                )
            shape = ds.image_shape or tuple(np.shape(ds.x)[1:])
            try:
                factory = make_factory(m.architecture, input_shape=shape,
                                       n_classes=int(ds.n_classes), **m.options)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"model: {exc}") from None
        t = cfg.training
        trainer = TorchTrainer(
            factory, optimizer=t.optimizer, lr=t.lr, momentum=t.momentum, epochs=t.epochs,
            batch_size=t.batch_size, weight_decay=t.weight_decay, schedule=t.schedule,
            loss="cross_entropy" if ds.task == "classification" else "mse",
        )
        if cfg.target.weights is not None:
            import torch

            wpath = (base / cfg.target.weights)
            if not wpath.is_file():
                raise ConfigError(f"target.weights: file not found: {wpath}")
            state = torch.load(wpath, map_location="cpu", weights_only=True)
            target_model = trainer.build(state)
    if cfg.target.train_indices is not None:
        ti = cfg.target.train_indices
        if isinstance(ti, str):
            ipath = base / ti
            if not ipath.is_file():
                raise ConfigError(f"target.train_indices: file not found: {ipath}")
            target_indices = np.load(ipath, allow_pickle=False)
        else:
            target_indices = np.asarray(ti, dtype=np.int64)
    if (target_model is None) != (target_indices is None):
        raise ConfigError(
            "target.weights and target.train_indices go together (your model and its training "
            "rows)"
        )
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
    attacks = [a if isinstance(a, str) else (a.name, a.params) for a in cfg.attacks]
    try:
        return Audit(
            ds, trainer, game=cfg.game, attacks=attacks, n_references=cfg.references.count,
            online=cfg.references.online, signal=s.name, augmentations=augment,
            population_fraction=cfg.data.population_fraction, target_model=target_model,
            target_indices=target_indices, records=cfg.records,
            leave_one_out=cfg.leave_one_out, seed=cfg.seed,
            vectorized=cfg.references.vectorized, store=cfg.cache, executor=executor,
            progress=progress, confidence=cfg.confidence, delta=cfg.delta,
            title=cfg.report.title,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None
