"""Model-access adapters: what an auditor can ask of a model.

:class:`ModelAccess` is the Protocol every adapter follows; the adapters are
:class:`TorchModel` (PyTorch, white-box), :class:`SklearnModel` (scikit-learn),
:class:`BlackBoxModel` (a callable returning probabilities) and :class:`LabelOnlyModel`
(a callable returning hard labels). ``TorchModel`` and ``SklearnModel`` import their
framework only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privmeter.models.base import (
    ACCESS_LEVELS,
    AccessLevel,
    ModelAccess,
    Task,
    WhiteBoxModelAccess,
)
from privmeter.models.blackbox import BlackBoxModel, LabelOnlyModel

if TYPE_CHECKING:
    from privmeter.models.sklearn import SklearnModel
    from privmeter.models.torch import TorchModel

__all__ = [
    "ACCESS_LEVELS",
    "AccessLevel",
    "BlackBoxModel",
    "LabelOnlyModel",
    "ModelAccess",
    "SklearnModel",
    "Task",
    "TorchModel",
    "WhiteBoxModelAccess",
]


def __getattr__(name: str) -> Any:
    if name == "TorchModel":
        from privmeter.models.torch import TorchModel

        return TorchModel
    if name == "SklearnModel":
        from privmeter.models.sklearn import SklearnModel

        return SklearnModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
