"""YAML audit configuration: validated with pydantic, errors that name the key and the value.

Example (every key optional except ``data.source``)::

    game: model                 # model | algorithm | record
    seed: 0
    data:
      source: digits            # a built-in dataset, or npz | csv | cifar10 | cifar100 |
                                # purchase | texas (with path)
      path: null
      label_column: label       # csv
      population_fraction: null  # 0.3; 0.6 for the offline model game
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

Relative paths in a config file (``data.path``, ``data.labels_path``, ``target.weights``,
``target.train_indices``, ``cache``) are relative to the folder of the config file; paths given
with ``--set`` are relative to the working directory.

Running a config someone sent you is safe: loading it imports nothing. ``model.factory`` is
resolved only from a Python file beside the config (``mymod:make`` with ``mymod.py`` beside it)
or from a module the user allows explicitly (``--allow-module pkg``, ``allow_modules=``); any
other module is refused before it is imported. Nothing read from ``cache`` runs code unless
``--trust-pickles`` is given.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from privmeter._names import _closest_names

__all__ = ["AuditConfig", "ConfigError", "apply_overrides", "build_audit", "load_config"]


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key and the bad value."""


class _Strict(BaseModel):
    # strict: no silent coercion (``gamma: true`` is not 1.0, ``epochs: 2.5`` is not 2)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Strict):
    source: str = "digits"
    path: str | None = None
    label_column: str = "label"
    labels_path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: None: 0.3, or 0.6 for the offline model game (see privmeter.Audit)
    population_fraction: float | None = Field(None, gt=0.0, lt=1.0)


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
    #: None: logit_margin for classification, squared_error for regression
    name: str | None = None
    augmentations: Literal["none", "flip_shift", "noise"] = "none"
    n_queries: int = Field(2, ge=1)
    noise_sigma: float = Field(0.05, gt=0.0)

    @field_validator("name")
    @classmethod
    def _known_signal(cls, v: str | None) -> str | None:
        from privmeter.signals import get_signal

        if v is None:
            return v
        try:
            get_signal(v)
        except ValueError as exc:
            raise ValueError(f"signal.name: {exc}") from None
        return v


class AttackEntry(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        # ``{rmia: {gamma: 2}}`` is short for ``{name: rmia, params: {gamma: 2}}``
        if isinstance(data, dict) and len(data) == 1 and "name" not in data:
            (name, params), = data.items()
            if isinstance(name, str) and (params is None or isinstance(params, dict)):
                return {"name": name, "params": params or {}}
        return data


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
    #: None: the task's default attacks (privmeter.audit.default_attacks)
    attacks: list[str | AttackEntry] | None = None
    records: int | list[int] = 20
    leave_one_out: bool = False
    report: ReportConfig = Field(default_factory=ReportConfig)
    cache: str | None = None
    executor: Literal["inprocess", "process", "ray"] = "inprocess"
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    delta: float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("attacks", mode="before")
    @classmethod
    def _attack_mapping(cls, v: Any) -> Any:
        # ``attacks: {loss: null, rmia: {gamma: 2}}``: a mapping of name -> parameters
        if isinstance(v, dict):
            return [{"name": k, "params": p or {}} for k, p in v.items()]
        return v

    @field_validator("attacks")
    @classmethod
    def _known_attacks(
        cls, v: list[str | AttackEntry] | None
    ) -> list[str | AttackEntry] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("attacks: the list is empty; name at least one attack (e.g. loss)")
        for i, a in enumerate(v):
            if isinstance(a, str):
                check_attack_params(a, {}, where=f"attacks[{i}]")
            else:
                check_attack_params(a.name, a.params, where=f"attacks[{i}]")
        return v


def _field_accepts_bool(type_text: str) -> bool:
    return "bool" in type_text or "Any" in type_text


def check_attack_params(name: str, params: dict[str, Any], *, where: str = "attack") -> None:
    """Check an attack's name and parameters (names, types and values) without running it.

    The attack's typed parameter object is built once, so its own checks run when the config
    loads, before any model is trained. A boolean where the parameter takes a number
    (``gamma: true``) is refused rather than read as 1.

    Raises
    ------
    ValueError
        Naming ``where``, the attack, the parameter and the bad value.
    """
    from privmeter.attacks import attack_info
    from privmeter.attacks._registry import make_params

    try:
        spec = attack_info(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    fields = {f.name: f for f in dataclasses.fields(spec.params_type)}
    for key, value in params.items():
        f = fields.get(key)
        if f is None:
            continue  # make_params names it, with a suggestion
        type_text = str(f.type)
        if isinstance(value, bool) and not _field_accepts_bool(type_text):
            raise ValueError(
                f"{where} ({name}): parameter {key!r} takes {type_text}, got the boolean "
                f"{value!r}"
            )
        if type_text in ("bool", "bool | None") and not (
            isinstance(value, bool) or (value is None and "None" in type_text)
        ):
            raise ValueError(
                f"{where} ({name}): parameter {key!r} must be true or false, got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} ({name}): parameter {key!r} must be finite, got {value!r}")
    try:
        make_params(spec, dict(params))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where} ({name}): {exc}") from None


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
            close = _closest_names(loc[-1], known, prefix="".join(f"{p}." for p in loc[:-1]))
            hint = f"; did you mean {close}?" if close else ""
            lines.append(f"unknown config key {key!r}{hint} (known here: {', '.join(known)})")
        elif e["type"] == "value_error":  # our validators: the message names key and value
            lines.append(str(e["msg"]).removeprefix("Value error, "))
        else:
            value = e.get("input")
            lines.append(f"{key}: {e['msg']} (got {value!r})")
    return "invalid config: " + "; ".join(lines)


def _parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set value {text!r} is not valid YAML: {exc}") from None


#: Config keys that hold paths (relative ones are relative to the config file's folder).
PATH_KEYS = (
    ("data", "path"), ("data", "labels_path"), ("target", "weights"),
    ("target", "train_indices"), ("cache",),
)


def _unique_key_loader() -> Any:
    """A ``yaml.SafeLoader`` that refuses duplicate keys (YAML would keep the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports unhashable keys
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"duplicate key {key!r} (line {seen[key]} and line {line}); keep one",
                        key_node.start_mark,
                    )
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


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
        parsed = _parse_scalar(value)
        if tuple(parts) in PATH_KEYS and isinstance(parsed, str):
            # a path typed on the command line is relative to the working directory
            parsed = str(Path(parsed).expanduser().absolute())
        node[parts[-1]] = parsed
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
            raise ConfigError(f"config file not found (or not a regular file): {p}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from None
        try:
            loaded = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {' '.join(str(exc).split())}") from None
        except RecursionError:
            raise ConfigError(f"{p} is nested too deeply to be a config") from None
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


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _load_dataset(cfg: DataConfig, base: Path) -> Any:
    import pickle

    from privmeter import datasets

    src = cfg.source
    files = {"npz", "csv", "cifar10", "cifar100", "purchase", "texas"}
    if src not in files:
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


def _module_file(base: Path, mod_name: str) -> Path | None:
    """``base/pkg/mod.py`` (or ``base/pkg/mod/__init__.py``) for ``pkg.mod``, if it exists."""
    parts = mod_name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    stem = base.joinpath(*parts)
    for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_factory(spec: str, *, base: Path | None, allow_modules: Sequence[str]) -> Any:
    """The factory function ``module:function`` names, importing only what is allowed.

    Allowed: a module from a Python file beside the config (``base``), or a module inside one
    of ``allow_modules``. Anything else is refused before it is imported.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    mod_name, attr = spec.split(":", 1)
    if not mod_name or not all(p.isidentifier() for p in mod_name.split(".")) or (
        not attr.isidentifier()
    ):
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    allowed = any(mod_name == a or mod_name.startswith(a + ".") for a in allow_modules)
    local = _module_file(base, mod_name) if base is not None else None
    if not allowed and local is None:
        where = f" ({base / (mod_name.replace('.', '/') + '.py')})" if base is not None else ""
        raise ConfigError(
            f"model.factory {spec!r}: refusing to import {mod_name!r}, which is neither a Python "
            f"file beside the config{where} nor allowed on the command line; if you trust it, "
            f"run with --allow-module {mod_name.split('.')[0]} (allow_modules=[...] in Python)"
        )
    if local is not None:
        assert base is not None
        top = mod_name.split(".")[0]
        root = base.resolve()
        known = sys.modules.get(top)
        found = importlib.util.find_spec(top) if known is None else None
        # where Python would find `top` today: a module file, or a package's folders
        places: list[str] = []
        if known is not None:
            places = [getattr(known, "__file__", None) or "built in"]
        elif found is not None:
            if found.origin and found.origin != "namespace":
                places = [found.origin]
            else:
                places = list(found.submodule_search_locations or []) or ["built in"]
        outside = [
            x for x in places if x == "built in" or root not in Path(x).resolve().parents
        ]
        if outside:
            raise ConfigError(
                f"model.factory {spec!r}: {local} has the name of an installed module "
                f"({top!r}, {outside[0]}); rename the file"
            )
        if str(root) not in sys.path:
            # importable by name, also in worker processes; appended, never prepended, so
            # that other files beside the config (a json.py, say) cannot shadow the standard
            # library or installed packages for the rest of the run (they did: a process
            # pool's workers then failed to import torch)
            sys.path.append(str(root))
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"model.factory: cannot import {mod_name!r}: {exc}") from None
    except Exception as exc:
        raise ConfigError(
            f"model.factory: importing {mod_name!r} failed ({type(exc).__name__}: {exc})"
        ) from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ConfigError(f"model.factory: {mod_name!r} has no callable {attr!r}")
    return fn


def _sklearn_estimator(name: str, options: dict[str, Any]) -> Any:
    from sklearn.utils import all_estimators

    known = dict(all_estimators())
    if name not in known:
        close = _closest_names(name, list(known))
        hint = f"; did you mean {close}?" if close else ""
        raise ConfigError(f"model.sklearn: unknown scikit-learn estimator {name!r}{hint}")
    try:
        return known[name](**options)
    except TypeError as exc:
        raise ConfigError(f"model.options for {name}: {exc}") from None


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
    ds = _load_dataset(cfg.data, base)
    trainer: Any
    target_model = None
    target_indices = None
    if m.architecture == "sklearn":
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
                )
            shape = ds.image_shape or tuple(np.shape(ds.x)[1:])
            try:
                factory = make_factory(m.architecture, input_shape=shape,
                                       n_classes=int(ds.n_classes), **m.options)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"model ({m.architecture}, options {m.options}): {exc}"
                ) from None
        t = cfg.training
        trainer = TorchTrainer(
            factory, optimizer=t.optimizer, lr=t.lr, momentum=t.momentum, epochs=t.epochs,
            batch_size=t.batch_size, weight_decay=t.weight_decay, schedule=t.schedule,
            loss="cross_entropy" if ds.task == "classification" else "mse",
        )
        if cfg.target.weights is not None:
            target_model = _load_target(trainer, _resolve(base, cfg.target.weights))
    if cfg.target.train_indices is not None:
        target_indices = _load_indices(cfg.target.train_indices, base)
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
            title=cfg.report.title,
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


def _load_indices(ti: str | list[int], base: Path) -> Any:
    if isinstance(ti, list):
        return np.asarray(ti, dtype=np.int64)
    ipath = _resolve(base, ti)
    if not ipath.is_file():
        raise ConfigError(f"target.train_indices: file not found (or not a regular file): {ipath}")
    try:
        arr = np.load(ipath, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ConfigError(
                f"target.train_indices: {ipath} holds Python objects (dtype=object); refusing "
                "to unpickle it: save an integer array (np.save(path, rows.astype(int)))"
            ) from None
        raise ConfigError(f"target.train_indices: {ipath} is not a .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ConfigError(f"target.train_indices: cannot read {ipath} ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind not in "iu":
        shape = getattr(arr, "shape", None)
        dtype = getattr(arr, "dtype", type(arr).__name__)
        raise ConfigError(
            f"target.train_indices: {ipath} must hold a 1-D integer array of row indices, got "
            f"dtype {dtype} and shape {shape}"
        )
    return arr
