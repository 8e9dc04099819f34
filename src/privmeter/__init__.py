"""privmeter: audit the privacy of machine-learning models.

Membership inference attacks and differential-privacy audits on a :class:`SignalTable`
(every model's signal on every point, with who trained on what). The core (tables, attacks,
metrics, results) needs only numpy and scipy; the audit pipeline (:class:`Audit`, model
adapters, trainers, reports) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from privmeter import dp_audit, metrics
from privmeter._version import __version__
from privmeter.attacks import (
    AttackSpec,
    attack_info,
    get_attack,
    list_attacks,
    register_attack,
    run_attack,
)
from privmeter.metrics import TprAtFpr
from privmeter.result import AttackResult
from privmeter.table import SignalTable, logit_margin_from_logits, logit_margin_from_proba

if TYPE_CHECKING:
    from privmeter import architectures, datasets, models, signals, training
    from privmeter.audit import Audit
    from privmeter.datasets.text import TextDataset
    from privmeter.pipeline.text import CanarySpec
    from privmeter.report import AuditReport, RecordData


_LAZY = {
    "Audit": ("privmeter.audit", "Audit"),
    "CanarySpec": ("privmeter.pipeline.text", "CanarySpec"),
    "TextDataset": ("privmeter.datasets.text", "TextDataset"),
    "AuditReport": ("privmeter.report", "AuditReport"),
    "RecordData": ("privmeter.report", "RecordData"),
    "architectures": ("privmeter.architectures", None),
    "datasets": ("privmeter.datasets", None),
    "models": ("privmeter.models", None),
    "signals": ("privmeter.signals", None),
    "training": ("privmeter.training", None),
}

__all__ = [
    "AttackResult",
    "AttackSpec",
    "Audit",
    "AuditReport",
    "CanarySpec",
    "RecordData",
    "SignalTable",
    "TextDataset",
    "TprAtFpr",
    "__version__",
    "architectures",
    "attack_info",
    "datasets",
    "dp_audit",
    "get_attack",
    "list_attacks",
    "logit_margin_from_logits",
    "logit_margin_from_proba",
    "metrics",
    "models",
    "register_attack",
    "run_attack",
    "signals",
    "training",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'privmeter' has no attribute {name!r}")
