"""Membership signals: named functions of a model's answers on ``(x, y)``, with an orientation.

A :class:`Signal` maps ``(model_access, x, y)`` to one float64 value per point. It declares
whether a higher value is more member-like, which :data:`~privmeter.table.SIGNAL_KINDS` its
values are (so attacks can convert between margin, probability and loss), the access level it
needs (``"label"`` < ``"proba"`` < ``"logits"`` < ``"grad"``) and the task it applies to.
Signals are registered by name (:func:`register_signal`, :func:`get_signal`,
:func:`list_signals`) and evaluated with :func:`compute_signal`, which also handles several
queries per point (augmentations).

All softmax-based signals are computed in float64 from logits (or from log-probabilities when
only probabilities are available) with log-sum-exp arithmetic: confident predictions keep
distinct, finite values where ``1 - p_y`` would round to zero.

The package follows the flow of a query:

- :mod:`~privmeter.signals.numerics`: the float64 maths (log-softmax, logit margins, kind
  conversions, the class-label check), also used by :mod:`privmeter.table`;
- :mod:`~privmeter.signals.augment`: query augmentations (:class:`FlipShift`,
  :class:`GaussianNoise`);
- :mod:`~privmeter.signals.registry`: the :class:`Signal` type and the registry by name;
- :mod:`~privmeter.signals.builtin`: the built-in signals and their factories, registered on
  import;
- :mod:`~privmeter.signals.lm`: the sequence signals of causal language models (``lm_loss``,
  ``zlib``, ``lowercase``, ``min_k``, ``min_k_plus_plus``), registered on import;
- :mod:`~privmeter.signals.compute`: :func:`compute_signal`, the batched query loop.
"""

from __future__ import annotations

from privmeter.signals.augment import Augmentation, FlipShift, GaussianNoise
from privmeter.signals.builtin import CORRECTNESS as CORRECTNESS
from privmeter.signals.builtin import ENTROPY as ENTROPY
from privmeter.signals.builtin import GRAD_NORM as GRAD_NORM
from privmeter.signals.builtin import LOGIT_MARGIN as LOGIT_MARGIN
from privmeter.signals.builtin import LOSS as LOSS
from privmeter.signals.builtin import MODIFIED_ENTROPY as MODIFIED_ENTROPY
from privmeter.signals.builtin import SQUARED_ERROR as SQUARED_ERROR
from privmeter.signals.builtin import (  # importing builtin registers the built-in signals
    probability_signal,
    robustness_signal,
    taylor_softmax_signal,
)
from privmeter.signals.compute import compute_signal
from privmeter.signals.lm import (  # importing lm registers the language-model signals
    LM_LOSS,
    LOWERCASE,
    MIN_K,
    MIN_K_PLUS_PLUS,
    ZLIB,
    min_k_plus_plus_signal,
    min_k_signal,
    pretrained_reference_signal,
    sequence_nll,
)
from privmeter.signals.numerics import SIGNAL_KINDS as SIGNAL_KINDS
from privmeter.signals.numerics import SignalKind as SignalKind
from privmeter.signals.numerics import (
    cross_entropy_from_logits,
    entropy_from_logits,
    modified_entropy_from_logits,
    probability_from_logits,
    taylor_softmax_from_logits,
)
from privmeter.signals.numerics import logit_margin_from_logits as logit_margin_from_logits
from privmeter.signals.numerics import logit_margin_from_proba as logit_margin_from_proba
from privmeter.signals.registry import (
    Signal,
    SignalTask,
    get_signal,
    list_signals,
    register_signal,
)
from privmeter.signals.registry import SignalFn as SignalFn

__all__ = [
    "LM_LOSS",
    "LOWERCASE",
    "MIN_K",
    "MIN_K_PLUS_PLUS",
    "ZLIB",
    "Augmentation",
    "FlipShift",
    "GaussianNoise",
    "Signal",
    "SignalTask",
    "compute_signal",
    "cross_entropy_from_logits",
    "entropy_from_logits",
    "get_signal",
    "list_signals",
    "min_k_plus_plus_signal",
    "min_k_signal",
    "modified_entropy_from_logits",
    "pretrained_reference_signal",
    "probability_from_logits",
    "probability_signal",
    "register_signal",
    "robustness_signal",
    "sequence_nll",
    "taylor_softmax_from_logits",
    "taylor_softmax_signal",
]
