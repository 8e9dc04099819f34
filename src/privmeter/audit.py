"""Inference games end to end: split the data, train models, query them, attack, report.

The implementation lives in :mod:`privmeter.pipeline` (planning, build, card, orchestrator);
this module keeps the public import path ``from privmeter.audit import Audit, ...``.
"""

from __future__ import annotations

from privmeter.pipeline.audit import (
    DEFAULT_ATTACKS,
    LM_DEFAULT_ATTACKS,
    REGRESSION_DEFAULT_ATTACKS,
    Audit,
    BuiltTable,
    as_model_access,
    default_attacks,
    default_signal,
)
from privmeter.pipeline.audit import _per_record as _per_record  # tests use it
from privmeter.pipeline.games import GAMES

__all__ = [
    "DEFAULT_ATTACKS",
    "GAMES",
    "LM_DEFAULT_ATTACKS",
    "REGRESSION_DEFAULT_ATTACKS",
    "Audit",
    "BuiltTable",
    "as_model_access",
    "default_attacks",
    "default_signal",
]
