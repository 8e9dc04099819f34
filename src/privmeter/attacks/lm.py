"""Reference-free attacks on language models: thresholds on a sequence signal.

Each attack scores a text by the target model's own value of one signal of
:mod:`privmeter.signals.lm` (oriented so that higher = more member-like), like LOSS does with
the loss (Yeom et al. 2018): they differ only in the signal. ``privmeter.Audit`` computes every
signal an attack names from the same forward pass over the texts (``AttackSpec.signal``), so
an audit of a causal LM runs all of them on one table per signal.

- ``zlib``: mean token NLL over the zlib entropy of the text (Carlini et al., USENIX Security
  2021);
- ``lowercase``: NLL of the text over the NLL of its lower-cased copy (same paper);
- ``min_k``: mean of the k% lowest token log-probabilities (Shi et al., ICLR 2024);
- ``min_k_plus_plus``: the same on log-probabilities standardised by the model's own mean and
  spread at each position (Zhang et al., ICLR 2025);
- ``pretrained_reference``: the target's NLL minus a different base model's NLL (Carlini et
  al. 2021; Mireshghallah et al., EMNLP 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.attacks.loss import _target_scores
from privmeter.table import SignalTable

__all__ = ["LM_ATTACKS", "SignalThresholdParams", "signal_threshold_attack"]


@dataclass(frozen=True)
class SignalThresholdParams:
    """The signal-threshold attacks have no parameters (the signal carries its own, e.g. k)."""


def signal_threshold_attack(
    table: SignalTable, target: int, params: SignalThresholdParams
) -> AttackOutput:
    """Score = the target's own signal, oriented so that higher is more member-like.

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> t = pm.SignalTable(np.array([[0.5, 2.0, 0.7, 3.0]]), np.array([[1, 0, 1, 0]]),
    ...                    kind="custom", higher_is_member=False)
    >>> pm.run_attack("zlib", t).auc
    1.0
    """
    del params
    return AttackOutput(_target_scores(table, target)[table.audit_mask])


_SPECS = {
    "zlib": (
        ("carlini2021extraction",),
        "Carlini et al., USENIX Security 2021",
        "target NLL over the text's zlib entropy (lower = member)",
        "zlib ratio",
    ),
    "lowercase": (
        ("carlini2021extraction",),
        "Carlini et al., USENIX Security 2021",
        "target NLL over the NLL of the lower-cased text (lower = member)",
        "lower-case ratio",
    ),
    "min_k": (
        ("shi2024",),
        "Shi et al., ICLR 2024",
        "mean of the k% lowest token log-probabilities (higher = member)",
        "Min-K%",
    ),
    "min_k_plus_plus": (
        ("zhang2025",),
        "Zhang et al., ICLR 2025",
        "mean of the k% lowest standardised token log-probabilities (higher = member)",
        "Min-K%++",
    ),
    "pretrained_reference": (
        ("carlini2021extraction", "mireshghallah2022"),
        "Carlini et al., USENIX Security 2021; Mireshghallah et al., EMNLP 2022",
        "target NLL minus a different pretrained model's NLL (lower = member)",
        "pretrained reference model",
    ),
}

#: The language-model attacks, by name (each runs on the signal of the same name).
LM_ATTACKS: tuple[str, ...] = tuple(_SPECS)

for _name, (_cites, _paper, _summary, _title) in _SPECS.items():
    register_attack(
        AttackSpec(
            name=_name, fn=signal_threshold_attack, params_type=SignalThresholdParams,
            paper=_paper, summary=_summary, cites=_cites, title=_title,
            method=f"threshold on the target's {_name} signal: {_summary}",
            signal=_name, task="language_model",
        )
    )
