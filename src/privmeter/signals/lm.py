"""Sequence signals of causal language models: loss, zlib, lowercase, Min-K%, Min-K%++.

Each signal reduces the per-token statistics of a text (:class:`~privmeter.models.lm.TokenStats`,
from :meth:`~privmeter.models.lm.LanguageModelAccess.token_stats`) to one number. With
``lp_i = log p(t_i | t_<i)`` over the scored tokens ``i = 1..n`` of a text ``x`` and
``L(x) = -(1/n) sum_i lp_i`` its mean token negative log-likelihood:

- ``lm_loss``: ``L(x)`` (kind ``"loss"``; lower = member);
- ``zlib``: ``L(x) / zlib(x)``, ``zlib(x) = len(zlib.compress(x.encode("utf-8")))``;
- ``lowercase``: ``L(x) / L(x.lower())`` (a second pass over the lower-cased texts);
- ``min_k``: mean of the ``max(1, int(n k))`` lowest ``lp_i`` (higher = member);
- ``min_k_plus_plus``: the same over ``z_i = (lp_i - mu_i) / sigma_i``, standardised by the
  mean and standard deviation of ``log p`` under the model's next-token distribution
  (needs ``"logits"`` access);
- :func:`pretrained_reference_signal`: ``L_target(x) - L_base(x)``;
- :func:`sequence_nll`: ``-sum_i lp_i`` (for canary exposure and likelihood-ratio attacks).

Every signal of one model on the same texts is computed from one forward pass: the adapters
cache :meth:`token_stats` by a hash of the texts. Importing this module registers the signals
(:mod:`privmeter.signals` does it).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter.models.base import ModelAccess
from privmeter.models.lm import LanguageModelAccess, TokenStats, check_texts
from privmeter.signals.registry import Signal, register_signal

__all__ = [
    "LM_LOSS",
    "LOWERCASE",
    "MIN_K",
    "MIN_K_PLUS_PLUS",
    "SIGMA_FLOOR",
    "ZLIB",
    "min_k_plus_plus_signal",
    "min_k_signal",
    "pretrained_reference_signal",
    "sequence_nll",
    "zlib_entropy",
]

#: Floor on ``sigma_i`` in Min-K%++: about the rounding level of float32 log-probabilities.
#: A position whose next-token distribution is (numerically) a point mass or uniform has
#: ``sigma_i = 0``; flooring keeps ``z_i`` finite with the right sign.
SIGMA_FLOOR = 1e-6

#: Floor (in nats) on the denominator of the lowercase ratio.
_LOSS_FLOOR = 1e-12

_CARLINI = ("carlini2021extraction",)


# ----------------------------------------------------------------------------- helpers
def _lm(model: Any, signal: str) -> LanguageModelAccess:
    if not isinstance(model, LanguageModelAccess) or model.task != "language_model":
        raise TypeError(
            f"signal {signal!r} needs a causal language model (HFCausalLM, BlackBoxLM or any "
            f"LanguageModelAccess with task 'language_model'), got {model!r}"
        )
    return model


def _stats(model: Any, x: Any, signal: str) -> TokenStats:
    lm = _lm(model, signal)
    texts = check_texts(x)
    stats = lm.token_stats(texts)
    if len(stats) != len(texts):
        raise ValueError(
            f"{lm!r}.token_stats returned {len(stats)} entries for {len(texts)} texts"
        )
    return stats


def _n_lowest(n: int, k: float) -> int:
    """How many tokens Min-K% averages: ``int(n * k)`` as the reference code, at least 1."""
    return max(1, int(n * k))


def _mean_lowest(values: NDArray[np.float64], k: float) -> float:
    return float(np.mean(np.sort(values)[: _n_lowest(values.shape[0], k)]))


def _check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
        raise TypeError(f"k must be a number in (0, 1], got {type(k).__name__}")
    value = float(k)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"k must be a fraction in (0, 1] (0.2 for 20%), got {k!r}")
    return value


def zlib_entropy(text: str) -> int:
    """``len(zlib.compress(text.encode("utf-8")))``, the zlib entropy of Carlini et al. (2021).

    Examples
    --------
    >>> zlib_entropy("aaaaaaaaaaaaaaaaaaaa") < zlib_entropy("a quick brown fox jumps")
    True
    """
    return len(zlib.compress(text.encode("utf-8")))


def sequence_nll(model: LanguageModelAccess, texts: Any) -> NDArray[np.float64]:
    """Summed token negative log-likelihood of each text, ``-sum_i log p(t_i | t_<i)``.

    The per-sequence log-likelihood (negated) of likelihood-ratio attacks and of the canary
    exposure of Carlini et al., "The Secret Sharer", USENIX Security 2019 (references key
    ``carlini2019``), whose perplexity is this sum over the canary's tokens.

    Parameters
    ----------
    model : LanguageModelAccess
        :class:`~privmeter.models.HFCausalLM`, :class:`~privmeter.models.BlackBoxLM`, ...
    texts : sequence of str

    Returns
    -------
    ndarray of float64, shape (n_texts,)

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> lm = BlackBoxLM(lambda texts: [np.log([0.5, 0.25]) for _ in texts])
    >>> sequence_nll(lm, ["one text"]).round(4)  # log 2 + log 4
    array([2.0794])
    """
    return _stats(model, texts, "sequence_nll").sum_nll()


# ----------------------------------------------------------------------------- signals
def _lm_loss(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Mean token negative log-likelihood ``L(x) = -(1/n) sum_i lp_i`` (signal ``"lm_loss"``).

    The LOSS attack (Yeom et al., IEEE CSF 2018) on a causal LM: ``log`` of the perplexity,
    as in Carlini et al., "Extracting Training Data from Large Language Models", USENIX
    Security 2021. Lower = member. Kind ``"loss"``: as a probability it is ``exp(-L)``, the
    geometric-mean token probability. ``y`` is ignored.

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> lm = BlackBoxLM(lambda texts: [np.log([0.5, 0.25]) for _ in texts])
    >>> from privmeter.signals import compute_signal
    >>> compute_signal("lm_loss", lm, np.array(["a text"], dtype=object), [0]).round(4)
    array([1.0397])
    """
    return _stats(model, x, "lm_loss").mean_nll()


def _zlib(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Mean token NLL over the zlib entropy, ``L(x) / len(zlib.compress(x))`` (``"zlib"``).

    Carlini et al., "Extracting Training Data from Large Language Models", USENIX Security
    2021: the model's surprise relative to a generic compressor's, which discounts texts that
    are merely repetitive. The numerator is the *mean* token NLL, as in the paper's code
    (``log(perplexity) / zlib_entropy``) and in MIMIR (Duan et al., COLM 2024); the
    denominator is the length in bytes of the zlib-compressed UTF-8 text. Lower = member.

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> lm = BlackBoxLM(lambda texts: [np.log([0.5, 0.25]) for _ in texts])
    >>> from privmeter.signals import compute_signal
    >>> value = compute_signal("zlib", lm, np.array(["a text"], dtype=object), [0])
    >>> bool(np.isclose(value[0], 1.0397 / zlib_entropy("a text"), atol=1e-4))
    True
    """
    texts = check_texts(x)
    loss = _stats(model, texts, "zlib").mean_nll()
    return loss / np.array([zlib_entropy(t) for t in texts], dtype=np.float64)


def _lowercase(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Ratio to the lower-cased text, ``L(x) / L(x.lower())`` (signal ``"lowercase"``).

    Carlini et al., "Extracting Training Data from Large Language Models", USENIX Security
    2021 (the paper's "Lowercase" metric, the ratio of the log-perplexities). Costs a second
    forward pass, over the texts that lower-casing changes (the others have ratio 1). The
    denominator is floored at ``1e-12`` nats. Lower = member.

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> def api(texts):  # upper-case letters are twice as surprising
    ...     return [np.array([-2.0 if c.isupper() else -1.0 for c in t]) for t in texts]
    >>> from privmeter.signals import compute_signal
    >>> compute_signal("lowercase", BlackBoxLM(api), np.array(["Ab"], dtype=object), [0])
    array([1.5])
    """
    texts = check_texts(x)
    loss = _stats(model, texts, "lowercase").mean_nll()
    loss_lower = loss.copy()  # texts already in lower case: ratio 1, no second pass
    changed = [i for i, t in enumerate(texts) if t.lower() != t]
    if changed:
        try:
            stats = _stats(model, [texts[i].lower() for i in changed], "lowercase")
        except ValueError as exc:
            raise ValueError(
                f"signal 'lowercase', on the lower-cased texts (rows {changed[:5]} of the input "
                f"are changed by lower-casing): {exc}"
            ) from None
        loss_lower[changed] = stats.mean_nll()
    ratio: NDArray[np.float64] = loss / np.maximum(loss_lower, _LOSS_FLOOR)
    return ratio


def min_k_signal(k: float = 0.2, *, name: str = "min_k") -> Signal:
    """Min-K% Prob: mean of the lowest ``k`` fraction of token log-probabilities.

    Shi et al., "Detecting Pretraining Data from Large Language Models", ICLR 2024: a text
    seen in training has few very unlikely tokens. Over the ``n`` scored tokens, the mean of
    the ``max(1, int(n * k))`` smallest ``lp_i`` (``int(n * k)`` as the authors' code; at
    least one token so that short texts get a value). Higher = member (the paper reports
    its negation).

    Parameters
    ----------
    k : float
        Fraction of tokens, in ``(0, 1]``; the paper's default is 20%.
    name : str
        Registry name.

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> lm = BlackBoxLM(lambda texts: [np.array([-1.0, -2.0, -3.0, -4.0, -9.0]) for _ in texts])
    >>> x = np.array(["some text"], dtype=object)
    >>> min_k_signal(0.2)(lm, x, [0])  # int(5 * 0.2) = 1 token: the lowest
    array([-9.])
    >>> min_k_signal(0.4)(lm, x, [0])  # 2 tokens
    array([-6.5])
    """
    kk = _check_k(k)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """Min-K% Prob: mean of the ``max(1, int(n k))`` lowest token log-probabilities.

        Shi et al., "Detecting Pretraining Data from Large Language Models", ICLR 2024.
        Higher = member.
        """
        stats = _stats(model, x, name)
        return np.array([_mean_lowest(lp, kk) for lp in stats.logprobs], dtype=np.float64)

    return Signal(name=name, fn=fn, higher_is_member=True, kind="custom", requires="proba",
                  task="language_model", cites=("shi2024",), params={"k": kk})


def min_k_plus_plus_signal(k: float = 0.2, *, name: str = "min_k_plus_plus") -> Signal:
    """Min-K%++: Min-K% over token log-probabilities standardised by the model's distribution.

    Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
    Language Models", ICLR 2025: ``z_i = (lp_i - mu_i) / sigma_i`` with
    ``mu_i = sum_v p(v | t_<i) log p(v | t_<i)`` and
    ``sigma_i^2 = sum_v p(v | t_<i) (log p(v | t_<i))^2 - mu_i^2``; the score is the mean of
    the ``max(1, int(n * k))`` lowest ``z_i``. ``sigma_i`` is floored at
    :data:`SIGMA_FLOOR` (a numerically deterministic position). Needs the full next-token
    distribution (``"logits"`` access, e.g. :class:`~privmeter.models.HFCausalLM`).
    Higher = member.

    Parameters
    ----------
    k : float
        Fraction of tokens, in ``(0, 1]``; the paper's default is 20%.
    name : str
        Registry name.

    Examples
    --------
    >>> sig = min_k_plus_plus_signal(0.1)
    >>> sig.requires, sig.params, sig.higher_is_member
    ('logits', {'k': 0.1}, True)
    """
    kk = _check_k(k)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """Min-K%++: mean of the ``max(1, int(n k))`` lowest ``(lp_i - mu_i) / sigma_i``.

        Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data from
        Large Language Models", ICLR 2025. Higher = member.
        """
        stats = _stats(model, x, name)
        if stats.mean_logp is None or stats.var_logp is None:
            raise ValueError(
                f"signal {name!r} needs the full next-token distribution at every position "
                f"(access 'logits', e.g. HFCausalLM); {model!r} gives per-token "
                "log-probabilities only. Use 'min_k', 'lm_loss' or 'zlib' instead"
            )
        out = np.empty(len(stats), dtype=np.float64)
        for j, (lp, mu, var) in enumerate(
            zip(stats.logprobs, stats.mean_logp, stats.var_logp, strict=True)
        ):
            sigma = np.maximum(np.sqrt(np.maximum(var, 0.0)), SIGMA_FLOOR)
            out[j] = _mean_lowest((lp - mu) / sigma, kk)
        return out

    return Signal(name=name, fn=fn, higher_is_member=True, kind="custom", requires="logits",
                  task="language_model", cites=("zhang2025",), params={"k": kk})


def pretrained_reference_signal(
    base_model: LanguageModelAccess, *, name: str = "pretrained_reference"
) -> Signal:
    """Loss relative to a pretrained reference model, ``L_target(x) - L_base(x)``.

    The reference-model attack of Carlini et al., "Extracting Training Data from Large
    Language Models", USENIX Security 2021 (their ratio to a smaller model) and the
    likelihood-ratio test of Mireshghallah et al., EMNLP 2022, for auditors who cannot
    fine-tune reference models: ``base_model`` is a model that never saw the audited data
    (e.g. the pretrained model the target was fine-tuned from), so the difference removes
    how easy a text is in general. Lower = member.

    Parameters
    ----------
    base_model : LanguageModelAccess
        The reference model (it must tokenise on its own: tokenizers may differ).
    name : str
        Registry name.

    Examples
    --------
    >>> from privmeter.models import BlackBoxLM
    >>> target = BlackBoxLM(lambda texts: [np.log([0.5, 0.5]) for _ in texts])
    >>> base = BlackBoxLM(lambda texts: [np.log([0.25, 0.25]) for _ in texts])
    >>> pretrained_reference_signal(base)(target, np.array(["t"], dtype=object), [0]).round(4)
    array([-0.6931])
    """
    base = _lm(base_model, name)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """``L_target(x) - L_base(x)``, the mean token NLL minus the base model's (lower = member).

        Carlini et al., USENIX Security 2021; Mireshghallah et al., EMNLP 2022.
        """
        texts = check_texts(x)
        return _stats(model, texts, name).mean_nll() - _stats(base, texts, name).mean_nll()

    return Signal(name=name, fn=fn, higher_is_member=False, kind="custom", requires="proba",
                  task="language_model", cites=(*_CARLINI, "mireshghallah2022"),
                  params={"base_model": repr(base)})


LM_LOSS = Signal(
    name="lm_loss", fn=_lm_loss, higher_is_member=False, kind="loss", requires="proba",
    task="language_model", cites=("yeom2018", *_CARLINI),
)
ZLIB = Signal(
    name="zlib", fn=_zlib, higher_is_member=False, kind="custom", requires="proba",
    task="language_model", cites=_CARLINI,
)
LOWERCASE = Signal(
    name="lowercase", fn=_lowercase, higher_is_member=False, kind="custom", requires="proba",
    task="language_model", cites=_CARLINI,
)
MIN_K = min_k_signal()
MIN_K_PLUS_PLUS = min_k_plus_plus_signal()

for _sig in (LM_LOSS, ZLIB, LOWERCASE, MIN_K, MIN_K_PLUS_PLUS):
    register_signal(_sig)
del _sig
