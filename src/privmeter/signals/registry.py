"""The :class:`Signal` type and the registry of signals by name.

A :class:`Signal` maps ``(model_access, x, y)`` to one float64 value per point. It declares
whether a higher value is more member-like, which :data:`~privmeter.table.SIGNAL_KINDS` its
values are (so attacks can convert between margin, probability and loss), the access level it
needs (``"label"`` < ``"proba"`` < ``"logits"`` < ``"grad"``) and the task it applies to. The
built-in signals (:mod:`privmeter.signals.builtin`) are registered when
:mod:`privmeter.signals` is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._registry import Registry
from privmeter.models.base import (
    ACCESS_LEVELS,
    AccessLevel,
    ModelAccess,
    access_rank,
    describe_rows,
)
from privmeter.references import check_keys, cite
from privmeter.signals.augment import Augmentation
from privmeter.signals.numerics import SIGNAL_KINDS, SignalKind

__all__ = ["Signal", "SignalFn", "SignalTask", "get_signal", "list_signals", "register_signal"]

SignalTask = Literal["classification", "regression", "language_model", "any"]
SignalFn = Callable[[ModelAccess, Any, Any], ArrayLike]


_KIND_ORIENTATION = {"logit_margin": True, "probability": True, "loss": False}


@dataclass(frozen=True)
class Signal:
    """A named membership signal.

    Parameters
    ----------
    name : str
        Registry name.
    fn : callable
        ``fn(model_access, x, y) -> array (n,)``: one value per point and query. It may assume
        the checks of :meth:`check_model` passed.
    higher_is_member : bool
        Orientation: True if a higher value is more member-like.
    kind : {"logit_margin", "probability", "loss", "custom"}
        What the values are (see :data:`privmeter.table.SIGNAL_KINDS`); fixes the orientation
        except for ``"custom"``.
    requires : {"label", "proba", "logits", "grad"}
        Weakest model access the signal works with.
    task : {"classification", "regression", "any"}
        Models it applies to.
    queries : Augmentation, optional
        Perturbed queries the signal makes for each point and averages (e.g. the label-only
        robustness signal).
    cites : tuple of str
        Keys of the signal's papers in :data:`privmeter.references.REFERENCES` (checked
        with :func:`privmeter.references.cite`).
    paper : str
        One-line citation; by default the entries of ``cites`` (see
        :meth:`privmeter.references.Reference.text`, final period dropped), joined by
        ``"; "``.
    params : mapping
        Parameters the signal was built with (temperature, ...), for reports and caching.

    Examples
    --------
    >>> sig = get_signal("loss")
    >>> sig.kind, sig.higher_is_member, sig.requires
    ('loss', False, 'proba')
    """

    name: str
    fn: SignalFn = field(repr=False)
    higher_is_member: bool
    kind: SignalKind
    requires: AccessLevel
    task: SignalTask = "classification"
    queries: Augmentation | None = None
    cites: tuple[str, ...] = ()
    paper: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a signal needs a non-empty name, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"signal {self.name!r}: fn must be callable")
        if self.kind not in SIGNAL_KINDS:
            raise ValueError(
                f"signal {self.name!r}: unknown kind {self.kind!r}; expected one of "
                f"{SIGNAL_KINDS}"
            )
        expected = _KIND_ORIENTATION.get(self.kind)
        if expected is not None and bool(self.higher_is_member) != expected:
            raise ValueError(
                f"signal {self.name!r}: kind={self.kind!r} has higher_is_member={expected}, got "
                f"{self.higher_is_member}"
            )
        if self.requires not in ACCESS_LEVELS:
            raise ValueError(
                f"signal {self.name!r}: unknown access level {self.requires!r}; expected one of "
                f"{ACCESS_LEVELS}"
            )
        if self.task not in ("classification", "regression", "language_model", "any"):
            raise ValueError(
                f"signal {self.name!r}: task must be 'classification', 'regression', "
                f"'language_model' or 'any', got {self.task!r}"
            )
        cites = check_keys(self.cites, owner=f"signal {self.name!r}")
        object.__setattr__(self, "cites", cites)
        if not self.paper and cites:
            paper = "; ".join(cite(k).text().rstrip(".") for k in cites)
            object.__setattr__(self, "paper", paper)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def doc(self) -> str:
        """The signal function's docstring (formula and paper)."""
        return self.fn.__doc__ or self.paper

    def check_model(self, model: Any) -> None:
        """Raise a clear error if this signal cannot be computed on ``model``.

        Raises
        ------
        TypeError
            If ``model`` does not implement :class:`~privmeter.models.ModelAccess`.
        ValueError
            If the model's task (classification/regression) or access level does not fit.
        """
        if not isinstance(model, ModelAccess):
            raise TypeError(
                f"signal {self.name!r} needs a model access object (TorchModel, SklearnModel, "
                f"BlackBoxModel, LabelOnlyModel or any ModelAccess), got "
                f"{type(model).__name__}; wrap the model first"
            )
        if self.task != "any" and model.task != self.task:
            alt = {"regression": "'squared_error'",
                   "language_model": "'lm_loss', 'zlib', 'min_k' or 'min_k_plus_plus'",
                   }.get(model.task, "'loss' or 'logit_margin'")
            what = {"regression": "regressor", "language_model": "causal language model",
                    }.get(model.task, "classifier")
            raise ValueError(
                f"signal {self.name!r} needs a {self.task} model, but {model!r} is a "
                f"{what} (task={model.task!r}); use a {model.task} signal such as {alt}"
            )
        if access_rank(model.access) < access_rank(self.requires):
            raise ValueError(
                f"signal {self.name!r} needs {self.requires!r} access, but {model!r} offers only "
                f"{model.access!r}; signals it supports: "
                f"{_signals_for(model.access, model.task)}"
            )

    def evaluate(self, model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """``fn(model, x, y)`` with the result checked: float64, shape ``(n,)``, finite."""
        n = _n_rows(x)
        values = np.asarray(self.fn(model, x, y), dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(
                f"signal {self.name!r} returned shape {values.shape} for {n} points; "
                f"expected ({n},)"
            )
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"signal {self.name!r} gave NaN or infinite values in {describe_rows(bad)}"
            )
        return values

    def __call__(
        self,
        model: ModelAccess,
        x: Any,
        y: Any,
        *,
        augmentations: Augmentation | None = None,
        batch_size: int | None = None,
    ) -> NDArray[np.float64]:
        """Shorthand for :func:`~privmeter.signals.compute_signal` ``(self, model, x, y, ...)``."""
        from privmeter.signals.compute import compute_signal  # compute imports this module

        return compute_signal(self, model, x, y, augmentations=augmentations,
                              batch_size=batch_size)


# ---------------------------------------------------------------------------- registry
_REGISTRY: Registry[Signal] = Registry("signal")


def register_signal(signal: Signal, *, overwrite: bool = False) -> Signal:
    """Add a signal to the registry under ``signal.name`` and return it.

    Raises
    ------
    ValueError
        If the name is taken and ``overwrite`` is False.

    Examples
    --------
    >>> from privmeter.signals import probability_signal
    >>> sig = probability_signal(temperature=4.0, name="probability_t4")
    >>> register_signal(sig) is sig
    True
    >>> get_signal("probability_t4").params
    {'temperature': 4.0}
    >>> _ = _REGISTRY.unregister("probability_t4")  # leave the registry as it was
    """
    if not isinstance(signal, Signal):
        raise TypeError(f"expected a Signal, got {type(signal).__name__}")
    return _REGISTRY.register(signal.name, signal, overwrite=overwrite)


def get_signal(name: str) -> Signal:
    """The registered signal called ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known names.
    """
    return _REGISTRY.get(name)


def list_signals() -> list[str]:
    """Names of the registered signals, sorted.

    Examples
    --------
    >>> "logit_margin" in list_signals()
    True
    """
    return _REGISTRY.names()


def _signals_for(access: str, task: str) -> str:
    rank = access_rank(access)
    names = [
        s.name for s in _REGISTRY.values()
        if access_rank(s.requires) <= rank and s.task in (task, "any")
    ]
    return ", ".join(sorted(names)) or "none"


def _n_rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(x)
