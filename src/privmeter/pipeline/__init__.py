"""An audit's flow, one module per step.

- :mod:`~privmeter.pipeline.games`: plan the inference game (pure: sizes and a seed -> audit
  rows, population rows, keep matrix, targets);
- :mod:`~privmeter.pipeline.data`: the data an audit plays on, checked;
- :mod:`~privmeter.pipeline.build`: train the models and query them, one at a time, into a
  :class:`~privmeter.SignalTable`;
- :mod:`~privmeter.pipeline.card`: the typed threat-model card;
- :mod:`~privmeter.pipeline.audit`: :class:`Audit`, which ties them together and attacks.

:mod:`privmeter.audit` re-exports the public names.
"""

from __future__ import annotations

from privmeter.pipeline.audit import (
    DEFAULT_ATTACKS,
    REGRESSION_DEFAULT_ATTACKS,
    Audit,
    BuiltTable,
    as_model_access,
    default_attacks,
)
from privmeter.pipeline.card import ThreatModelCard
from privmeter.pipeline.games import GAMES, GamePlan, plan_game

__all__ = [
    "DEFAULT_ATTACKS",
    "GAMES",
    "REGRESSION_DEFAULT_ATTACKS",
    "Audit",
    "BuiltTable",
    "GamePlan",
    "ThreatModelCard",
    "as_model_access",
    "default_attacks",
    "plan_game",
]
