"""Model-access adapters: what an auditor can ask of a model.

:class:`ModelAccess` is the Protocol every adapter follows; the adapters are
:class:`TorchModel` (PyTorch, white-box), :class:`SklearnModel` (scikit-learn),
:class:`BlackBoxModel` (a callable returning probabilities) and :class:`LabelOnlyModel`
(a callable returning hard labels); for other frameworks :class:`KerasModel`,
:class:`OnnxModel`, :class:`OpenVINOModel` and :class:`HFClassifier`; for causal language
models :class:`HFCausalLM` (HuggingFace ``transformers``) and :class:`BlackBoxLM` (an API
returning per-token log-probabilities). Every framework adapter imports its framework only
when first used, so ``import privmeter`` imports none.
"""

from __future__ import annotations

import importlib
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
    from privmeter.models.hf_classifier import HFClassifier
    from privmeter.models.hf_lm import HFCausalLM
    from privmeter.models.keras import KerasModel
    from privmeter.models.lm import BlackBoxLM, TokenStats
    from privmeter.models.onnx import OnnxModel
    from privmeter.models.openvino import OpenVINOModel
    from privmeter.models.sklearn import SklearnModel
    from privmeter.models.torch import TorchModel

# each adapter's module (and so its framework) is imported on first access
_LAZY = {
    "TorchModel": "privmeter.models.torch",
    "SklearnModel": "privmeter.models.sklearn",
    "HFCausalLM": "privmeter.models.hf_lm",
    "BlackBoxLM": "privmeter.models.lm",
    "TokenStats": "privmeter.models.lm",
    "KerasModel": "privmeter.models.keras",
    "OnnxModel": "privmeter.models.onnx",
    "OpenVINOModel": "privmeter.models.openvino",
    "HFClassifier": "privmeter.models.hf_classifier",
}

__all__ = [
    "ACCESS_LEVELS",
    "AccessLevel",
    "BlackBoxLM",
    "BlackBoxModel",
    "HFCausalLM",
    "HFClassifier",
    "KerasModel",
    "LabelOnlyModel",
    "ModelAccess",
    "OnnxModel",
    "OpenVINOModel",
    "SklearnModel",
    "Task",
    "TokenStats",
    "TorchModel",
    "WhiteBoxModelAccess",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
