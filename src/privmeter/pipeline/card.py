"""The threat-model card of an audit: what the attacker knows and what was measured.

A typed, frozen record; :meth:`ThreatModelCard.to_dict` gives the card as it appears in a
report and in ``results.json`` (keys such as ``"members / non-members (first target)"``).
It is also a read-only mapping over that dict, so ``card["utility"]`` works.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from privmeter._version import __version__

__all__ = [
    "ThreatModelCard",
    "access_level",
    "attacker_knowledge",
    "describe",
    "model_description",
    "versions",
]

_ACCESS = {"label": "labels only", "proba": "probabilities", "logits": "logits",
           "grad": "white-box (gradients)"}


def access_level(requires: str) -> str:
    """The card's wording of a signal's required access (``"logits"``, ``"labels only"``...).

    Examples
    --------
    >>> access_level("label")
    'labels only'
    """
    return _ACCESS.get(requires, requires)


def attacker_knowledge(
    game: str, *, online: bool, leave_one_out: bool, user_target: bool
) -> str:
    """What the attacker knows in ``game`` (one sentence of the card)."""
    if game == "model":
        knowledge = (
            "knows the training algorithm; reference models trained on random halves of "
            "the audited records (online)" if online else
            "knows the training algorithm; reference models trained on population data "
            "only (offline)"
        )
        if user_target:
            knowledge += "; the target is the user's trained model"
        return knowledge
    if game == "algorithm":
        return ("every model is trained on a random half of the audited records; each "
                "is the target in turn, the others are its references")
    return (
        "models trained with and without each audited record; the rest of the training "
        "set is " + ("fixed (leave-one-out)" if leave_one_out else "random (uniform)")
    )


def describe(obj: Any) -> str:
    """A readable name for a model factory or estimator (``MLP(64, 10, hidden=(32,))``).

    Examples
    --------
    >>> describe(functools.partial(dict, 3, a=1))
    'dict(3, a=1)'
    """
    if isinstance(obj, functools.partial):
        args = [repr(a) for a in obj.args] + [f"{k}={v!r}" for k, v in obj.keywords.items()]
        return f"{getattr(obj.func, '__name__', repr(obj.func))}({', '.join(args)})"
    return repr(obj)


def model_description(trainer: Any, *, user_target: bool) -> str:
    """The card's ``"model"`` entry: the user's target and/or how references are trained."""
    model_desc = "user-supplied target" if user_target else ""
    if trainer is not None and callable(getattr(trainer, "describe", None)):
        desc = str(trainer.describe())
        return (model_desc + "; references: " if model_desc else "") + desc
    if trainer is not None:
        inner = getattr(trainer, "model_factory", None) or getattr(trainer, "estimator", None)
        desc = describe(inner) if inner is not None else type(trainer).__name__
        if hasattr(trainer, "epochs"):
            parts = [str(trainer.optimizer)] if hasattr(trainer, "optimizer") else []
            lr = getattr(trainer, "lr", getattr(trainer, "learning_rate", None))
            parts += [f"lr={lr}"] if lr is not None else []
            parts.append(f"epochs={trainer.epochs}")
            for attr, words in (("batch_size", "batch size"), ("weight_decay", "weight decay")):
                if hasattr(trainer, attr):
                    parts.append(f"{words} {getattr(trainer, attr)}")
            lora = getattr(trainer, "lora", None)
            if lora is not None:
                parts.append(f"LoRA r={lora.r}, alpha={lora.alpha}")
            desc += "; " + ", ".join(parts)
        model_desc = (model_desc + "; references: " if model_desc else "") + desc
    return model_desc


def versions() -> dict[str, str]:
    """Versions of privmeter, numpy, Python, (where installed) torch, sklearn, scipy, and the
    other frameworks this process has imported (transformers, peft, keras, onnxruntime,
    openvino, opacus)."""
    import sys

    out = {"privmeter": __version__, "numpy": np.__version__,
           "python": platform.python_version()}
    for mod in ("torch", "sklearn", "scipy"):
        with contextlib.suppress(ImportError):
            out[mod] = __import__(mod).__version__
    for mod in ("transformers", "peft", "keras", "tensorflow", "onnxruntime", "openvino",
                "opacus"):
        loaded = sys.modules.get(mod)
        version = getattr(loaded, "__version__", None) if loaded is not None else None
        if isinstance(version, str):
            out[mod] = version
    return out


@dataclass(frozen=True)
class ThreatModelCard(Mapping[str, Any]):
    """The threat model and setting of one audit.

    Attributes
    ----------
    game : str
        The inference game (Ye et al. 2022).
    access_level : str
        The model access the signal needs (:func:`access_level`).
    signal : str
        The signal's name, with its augmentations.
    attacker_knowledge : str
        :func:`attacker_knowledge`.
    reference_models_per_target, targets, population_size, audited_records : int
        Sizes of the game.
    members, non_members : int
        Audited members and non-members of the first target.
    dataset, model : str
        Descriptions of the data and of the models.
    seed : int
        The audit's seed.
    versions : mapping of str to str
        Library versions (:func:`versions`).
    utility : mapping, optional
        The models' train/test utility (added once the models are queried).
    """

    game: str
    access_level: str
    signal: str
    attacker_knowledge: str
    reference_models_per_target: int
    targets: int
    population_size: int
    audited_records: int
    members: int
    non_members: int
    dataset: str
    model: str
    seed: int
    versions: Mapping[str, str]
    utility: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card as reports and ``results.json`` show it (keys in this order)."""
        out: dict[str, Any] = {
            "game": self.game,
            "access level": self.access_level,
            "signal": self.signal,
            "attacker knowledge": self.attacker_knowledge,
            "reference models per target": self.reference_models_per_target,
            "targets": self.targets,
            "population size": self.population_size,
            "audited records": self.audited_records,
            "members / non-members (first target)": f"{self.members} / {self.non_members}",
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "versions": dict(self.versions),
        }
        if self.utility is not None:
            out["utility"] = dict(self.utility)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())
