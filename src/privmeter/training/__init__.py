"""Training reference models: keep matrices, trainers, executors and a content-addressed cache.

Membership inference attacks such as LiRA (Carlini et al., S&P 2022) and RMIA (Zarifzadeh et
al., ICML 2024) compare a target model with reference models trained on random halves of the
data; training those is nearly the whole cost of an audit. This package:

- designs who trains on what (:func:`keep_matrix`, :func:`target_membership`);
- trains PyTorch models one at a time (:class:`TorchTrainer`) or K at once with
  ``torch.func`` (:class:`EnsembleTrainer`), and scikit-learn models (:class:`SklearnTrainer`);
- runs jobs in-process, in local processes or on Ray (:class:`InProcessExecutor`,
  :class:`ProcessExecutor`, :class:`RayExecutor`) with identical results;
- caches results on disk by content (:class:`Store`), so interrupted runs resume with
  bit-identical results (the ensemble engine trains fixed groups, :func:`ensemble_groups`);
- ties it together in :func:`train_models`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from privmeter.training._hashing import data_fingerprint, indices_fingerprint
from privmeter.training.executors import (
    Executor,
    InProcessExecutor,
    JobFailedError,
    ProcessExecutor,
    RayExecutor,
)
from privmeter.training.keep import keep_matrix, target_membership
from privmeter.training.sklearn_trainer import SklearnTrainer
from privmeter.training.store import CacheCorruptionWarning, Store, make_key
from privmeter.training.train import Trainer, ensemble_groups, model_keys, train_models

if TYPE_CHECKING:
    from privmeter.training.architectures import MLP
    from privmeter.training.dp import DPConfig
    from privmeter.training.ensemble import EnsembleTrainer
    from privmeter.training.keras_trainer import KerasTrainer
    from privmeter.training.lm_trainer import LMTrainer, LoraSettings
    from privmeter.training.torch_trainer import TorchTrainer

# the PyTorch parts import torch (an optional extra) on first access, so that a
# scikit-learn-only install can import this package and run an audit
_LAZY = {
    "MLP": "privmeter.training.architectures",
    "DPConfig": "privmeter.training.dp",
    "EnsembleTrainer": "privmeter.training.ensemble",
    "KerasTrainer": "privmeter.training.keras_trainer",
    "LMTrainer": "privmeter.training.lm_trainer",
    "LoraSettings": "privmeter.training.lm_trainer",
    "TorchTrainer": "privmeter.training.torch_trainer",
}

__all__ = [
    "MLP",
    "CacheCorruptionWarning",
    "DPConfig",
    "EnsembleTrainer",
    "Executor",
    "InProcessExecutor",
    "JobFailedError",
    "KerasTrainer",
    "LMTrainer",
    "LoraSettings",
    "ProcessExecutor",
    "RayExecutor",
    "SklearnTrainer",
    "Store",
    "TorchTrainer",
    "Trainer",
    "data_fingerprint",
    "ensemble_groups",
    "indices_fingerprint",
    "keep_matrix",
    "make_key",
    "model_keys",
    "target_membership",
    "train_models",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'privmeter.training' has no attribute {name!r}")
