"""Membership inference attacks: pure functions of a :class:`~privmeter.SignalTable`."""

from __future__ import annotations

from privmeter.attacks import lira, lm, loss, reference, rmia, shadow
from privmeter.attacks._registry import (
    AttackOutput,
    AttackSpec,
    ScoredAttack,
    attack_info,
    list_attacks,
    register_attack,
    run_attack,
    score_attack,
)
from privmeter.attacks.auto import AutoParams
from privmeter.attacks.lira import LiraParams
from privmeter.attacks.loss import LossParams, PopulationParams
from privmeter.attacks.reference import ReferenceParams
from privmeter.attacks.rmia import RmiaParams
from privmeter.attacks.shadow import ShadowParams

#: The spec of a registered attack by name: the same function as :func:`attack_info`, under the
#: name that matches :func:`privmeter.get_signal` (``attack_info`` stays for compatibility).
get_attack = attack_info

__all__ = [
    "AttackOutput",
    "AttackSpec",
    "AutoParams",
    "LiraParams",
    "LossParams",
    "PopulationParams",
    "ReferenceParams",
    "RmiaParams",
    "ScoredAttack",
    "ShadowParams",
    "attack_info",
    "auto",
    "get_attack",
    "lira",
    "list_attacks",
    "lm",
    "loss",
    "reference",
    "register_attack",
    "rmia",
    "run_attack",
    "score_attack",
    "shadow",
]
