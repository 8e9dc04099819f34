"""privmeter: audit the privacy of machine-learning models.

Membership inference attacks and differential-privacy audits on a :class:`SignalTable`
(every model's signal on every point, with who trained on what).
"""

from __future__ import annotations

from privmeter import metrics
from privmeter.attacks import (
    AttackSpec,
    attack_info,
    list_attacks,
    register_attack,
    run_attack,
)
from privmeter.metrics import TprAtFpr
from privmeter.result import AttackResult
from privmeter.table import SignalTable, logit_margin_from_logits, logit_margin_from_proba

__version__ = "0.1.0"

__all__ = [
    "AttackResult",
    "AttackSpec",
    "SignalTable",
    "TprAtFpr",
    "__version__",
    "attack_info",
    "list_attacks",
    "logit_margin_from_logits",
    "logit_margin_from_proba",
    "metrics",
    "register_attack",
    "run_attack",
]
