"""The configuration's schema: pydantic models, YAML loading (duplicate keys refused) and ``--set``
overrides; errors name the key and the value (see :mod:`privmeter.config` for the YAML layout)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from privmeter._names import _closest_names

__all__ = [
    "PATH_KEYS",
    "TEXT_SOURCES",
    "AttackEntry",
    "AuditConfig",
    "CanaryConfig",
    "ConfigError",
    "DPAuditConfig",
    "DPSettings",
    "DataConfig",
    "LoraConfig",
    "ModelConfig",
    "ReferenceModelEntry",
    "ReferencesConfig",
    "ReportConfig",
    "SignalConfig",
    "TargetConfig",
    "TrainingConfig",
    "apply_overrides",
    "check_attack_params",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key and the bad value."""


class _Strict(BaseModel):
    # strict: no silent coercion (``gamma: true`` is not 1.0, ``epochs: 2.5`` is not 2)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


#: data.source values that read texts (privmeter.datasets.load_text)
TEXT_SOURCES = ("text", "jsonl", "csv_text")


class DataConfig(_Strict):
    source: str = "digits"
    path: str | None = None
    label_column: str = "label"
    labels_path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: None: 0.3, or 0.6 for the offline model game (see privmeter.Audit)
    population_fraction: float | None = Field(None, gt=0.0, lt=1.0)
    #: texts: the JSON field or CSV column holding the text (default "text")
    field: str | None = None
    #: texts: a JSON field / CSV column of record ids, and of class labels (text classifiers)
    id_field: str | None = None
    label_field: str | None = None
    #: .txt files: one record per line, or records separated by blank lines
    mode: Literal["line", "blank_line"] = "line"
    #: your own target's training texts and texts it never saw (instead of data.path)
    members: str | None = None
    non_members: str | None = None


class LoraConfig(_Strict):
    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None


class ModelConfig(_Strict):
    architecture: str = "mlp"
    options: dict[str, Any] = Field(default_factory=dict)
    sklearn: str | None = None
    factory: str | None = None
    #: the target model's file or folder (keras, onnx, openvino, hf, hf_causal_lm)
    path: str | None = None
    #: language models: the base model that reference models are fine-tuned from
    base_path: str | None = None
    #: language models: a different pretrained model for the pretrained_reference attack
    reference_path: str | None = None
    #: a tokenizer folder, when it is not saved beside the model
    tokenizer: str | None = None
    #: language models: context length (None: the model's) and sliding-window stride
    max_length: int | None = Field(None, ge=2)
    stride: int | None = Field(None, ge=1)
    #: batch size when querying the model
    batch_size: int | None = Field(None, ge=1)
    #: language models: fine-tune reference models with LoRA (Hu et al. 2022)
    lora: LoraConfig | None = None


class DPSettings(_Strict):
    noise_multiplier: float | None = Field(None, gt=0.0)
    target_epsilon: float | None = Field(None, gt=0.0)
    delta: float = Field(1e-5, gt=0.0, lt=1.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    poisson_sampling: bool = True
    accountant: Literal["rdp", "prv"] = "rdp"

    @model_validator(mode="after")
    def _one_of(self) -> DPSettings:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError(
                "training.dp: give exactly one of noise_multiplier and target_epsilon, got "
                f"noise_multiplier={self.noise_multiplier!r}, "
                f"target_epsilon={self.target_epsilon!r}"
            )
        return self


class TrainingConfig(_Strict):
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    #: None: 1e-3; language models: LMTrainer's 5e-5 (full fine-tuning) or 2e-4 (LoRA).
    #: Language models train with AdamW: optimizer, momentum and schedule apply to PyTorch
    #: classifiers only.
    lr: float | None = Field(None, gt=0.0)
    momentum: float = Field(0.0, ge=0.0)
    #: None: 50 (1 for language models)
    epochs: int | None = Field(None, ge=1)
    #: None: 32 (8 for language models)
    batch_size: int | None = Field(None, ge=1)
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["none", "cosine", "step"] = "none"
    #: train with DP-SGD (Opacus); the accountant's epsilon is recorded with each model
    dp: DPSettings | None = None


class TargetConfig(_Strict):
    weights: str | None = None
    train_indices: str | list[int] | None = None


class ReferenceModelEntry(_Strict):
    path: str
    train_indices: str | list[int]


class ReferencesConfig(_Strict):
    count: int = Field(8, ge=0)
    online: bool = True
    vectorized: bool = True
    #: reference models trained elsewhere, each with the rows it trained on
    models: list[ReferenceModelEntry] | None = None


class CanaryConfig(_Strict):
    template: str = "my account number is {d}{d}{d}{d}{d}{d}"
    repetitions: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    per_repetition: int = Field(2, ge=1)
    candidates: int = Field(2000, ge=10)


class DPAuditConfig(_Strict):
    canaries: int = Field(500, ge=1)
    canary: Literal["mislabel", "ood", "gradient"] = "mislabel"
    runs: int = Field(1, ge=1)


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

    game: Literal["model", "algorithm", "record", "dp"] = "model"
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
    #: language models: secret-sharer canaries inserted into the target's training texts
    canaries: CanaryConfig | None = None
    #: text data: the model-free baseline (None: on for text audits)
    blind_baseline: bool | None = None
    #: game dp: the canaries of the DP audit
    dp_audit: DPAuditConfig = Field(default_factory=DPAuditConfig)

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
    ("data", "path"), ("data", "labels_path"), ("data", "members"), ("data", "non_members"),
    ("model", "path"), ("model", "base_path"), ("model", "reference_path"),
    ("model", "tokenizer"), ("target", "weights"), ("target", "train_indices"), ("cache",),
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
