"""Causal language models: per-token statistics, the access Protocol, a black-box adapter.

A causal LM is audited through the log-probability it gives each token of a text given the
tokens before it, ``lp_i = log p(t_i | t_<i)``, and, where the full next-token distribution is
available, the mean ``mu_i = sum_v p(v | t_<i) log p(v | t_<i)`` and variance
``sigma_i^2 = sum_v p (log p)^2 - mu_i^2`` of ``log p`` under the model's own distribution at
each position (for Min-K%++; Zhang et al., ICLR 2025). :class:`TokenStats` holds them, one
array per text; :class:`LanguageModelAccess` is what the sequence signals of
:mod:`privmeter.signals.lm` ask of a model; :class:`BlackBoxLM` wraps an API returning
per-token log-probabilities. The HuggingFace adapter is
:class:`privmeter.models.hf_lm.HFCausalLM`.

This module imports no deep-learning framework.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int
from privmeter.models.base import AccessLevel, Task, describe_rows

__all__ = [
    "BlackBoxLM",
    "LanguageModelAccess",
    "TokenStats",
    "check_texts",
]

#: Per-token log-probabilities above zero by at most this much (rounding of an API or of a
#: float32 log-softmax) are read as zero; larger ones are refused.
LOGPROB_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TokenStats:
    """Per-token statistics of a causal LM on a list of texts (one entry per text).

    Attributes
    ----------
    logprobs : list of ndarray of float64
        ``log p(t_i | t_<i)`` of every scored token of each text, in text order (all ``<= 0``).
    mean_logp : list of ndarray of float64 or None
        ``mu_i = sum_v p(v | t_<i) log p(v | t_<i)`` at each scored position (same shapes as
        ``logprobs``); ``None`` when the model gives per-token log-probabilities only.
    var_logp : list of ndarray of float64 or None
        ``sigma_i^2 = sum_v p(v | t_<i) (log p(v | t_<i))^2 - mu_i^2`` (``>= 0``), or ``None``.
    n_truncated : int
        Number of texts cut at the model's context length (their later tokens are not scored).
    n_tokens : ndarray of int64, shape (n_texts,)
        Number of scored tokens of each text (the length of its ``logprobs`` entry; derived,
        not a constructor argument).

    Examples
    --------
    >>> stats = TokenStats(logprobs=[np.log([0.5, 0.25])], mean_logp=None, var_logp=None)
    >>> stats.n_tokens, len(stats), stats.has_distribution
    (array([2]), 1, False)
    >>> stats.mean_nll().round(4)  # (log 2 + log 4) / 2
    array([1.0397])
    """

    logprobs: list[NDArray[np.float64]]
    mean_logp: list[NDArray[np.float64]] | None = None
    var_logp: list[NDArray[np.float64]] | None = None
    n_truncated: int = 0
    n_tokens: NDArray[np.int64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lps = [_frozen(lp) for lp in self.logprobs]
        object.__setattr__(self, "logprobs", lps)
        counts = np.array([lp.shape[0] for lp in lps], dtype=np.int64)
        counts.flags.writeable = False
        object.__setattr__(self, "n_tokens", counts)
        if (self.mean_logp is None) != (self.var_logp is None):
            raise ValueError("TokenStats: give both mean_logp and var_logp, or neither")
        for field_name in ("mean_logp", "var_logp"):
            values = getattr(self, field_name)
            if values is None:
                continue
            arrays = [_frozen(v) for v in values]
            shapes = [a.shape[0] for a in arrays]
            if len(arrays) != len(lps) or shapes != counts.tolist():
                raise ValueError(
                    f"TokenStats: {field_name} must have one array per text with one value per "
                    f"scored token (lengths {counts.tolist()[:5]}), got lengths {shapes[:5]}"
                )
            object.__setattr__(self, field_name, arrays)
        object.__setattr__(self, "n_truncated", check_int("n_truncated", self.n_truncated,
                                                          minimum=0))

    def __len__(self) -> int:
        return len(self.logprobs)

    @property
    def has_distribution(self) -> bool:
        """Whether ``mean_logp`` and ``var_logp`` are available (full next-token access)."""
        return self.mean_logp is not None

    def mean_nll(self) -> NDArray[np.float64]:
        """Mean token negative log-likelihood of each text, ``-mean_i lp_i``, shape (n,)."""
        return np.array([-float(np.mean(lp)) for lp in self.logprobs], dtype=np.float64)

    def sum_nll(self) -> NDArray[np.float64]:
        """Summed token negative log-likelihood of each text, ``-sum_i lp_i``, shape (n,)."""
        return np.array([-float(np.sum(lp)) for lp in self.logprobs], dtype=np.float64)


def _frozen(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.array(values, dtype=np.float64)  # a copy: the caller's array stays writable
    if arr.ndim != 1:
        raise ValueError(f"TokenStats: per-token arrays must be 1-D, got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


@runtime_checkable
class LanguageModelAccess(Protocol):
    """What the sequence signals (:mod:`privmeter.signals.lm`) ask of a causal LM.

    Attributes
    ----------
    task : "language_model"
    n_classes : None
    access : {"proba", "logits"}
        ``"logits"`` when the full next-token distribution is available
        (:attr:`TokenStats.mean_logp` and ``var_logp`` are filled), ``"proba"`` when only the
        per-token log-probabilities of the actual tokens are.

    Notes
    -----
    ``token_stats(texts)`` returns one entry per text in the order given; it raises
    :class:`ValueError` naming the rows of empty or whitespace-only texts and of texts
    without any scored token.
    """

    @property
    def task(self) -> Task: ...

    @property
    def n_classes(self) -> int | None: ...

    @property
    def access(self) -> AccessLevel: ...

    def token_stats(self, texts: Sequence[str]) -> TokenStats:
        """Per-token statistics of every text (see :class:`TokenStats`)."""
        ...


# ----------------------------------------------------------------------------- helpers
def check_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """``texts`` as a list of non-empty, non-whitespace ``str``.

    Accepts a list, tuple or 1-D numpy array of strings (e.g. ``TextDataset.x``).

    Raises
    ------
    TypeError
        For a single string (a list of texts is expected) or non-string entries.
    ValueError
        For an empty list, or empty / whitespace-only texts (naming their rows).

    Examples
    --------
    >>> check_texts(np.array(["a b", "c"], dtype=object))
    ['a b', 'c']
    >>> check_texts(["fine", "  "])
    Traceback (most recent call last):
    ...
    ValueError: texts are empty or whitespace-only in rows [1]; every text needs at least one token
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"{what} must be a sequence of strings, got a single {type(texts).__name__}; "
            "wrap it in a list"
        )
    if isinstance(texts, np.ndarray):
        if texts.ndim != 1:
            raise ValueError(f"{what} must be 1-D, got an array of shape {texts.shape}")
        items = texts.tolist()
    else:
        try:
            items = list(texts)
        except TypeError:
            raise TypeError(
                f"{what} must be a sequence of strings, got {type(texts).__name__}"
            ) from None
    if not items:
        raise ValueError(f"{what} is empty; give at least one text")
    not_str = [not isinstance(t, str) for t in items]
    if any(not_str):
        first = int(np.argmax(not_str))
        raise TypeError(
            f"{what} must all be str; row {first} is {type(items[first]).__name__} "
            f"({describe_rows(not_str)} are not str)"
        )
    blank = [not t.strip() for t in items]
    if any(blank):
        raise ValueError(
            f"{what} are empty or whitespace-only in {describe_rows(blank)}; every text needs "
            "at least one token"
        )
    return [str(t) for t in items]


def texts_key(texts: Sequence[str], *options: object) -> str:
    """A sha256 of the texts (length-prefixed UTF-8) and of ``repr(options)``, for caching."""
    h = hashlib.sha256(repr(options).encode("utf-8"))
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class _StatsCache:
    """A small LRU of :class:`TokenStats` keyed by :func:`texts_key`."""

    def __init__(self, size: int) -> None:
        self.size = check_int("cache_size", size, minimum=0)
        self._items: OrderedDict[str, TokenStats] = OrderedDict()

    def get(self, key: str) -> TokenStats | None:
        stats = self._items.get(key)
        if stats is not None:
            self._items.move_to_end(key)
        return stats

    def put(self, key: str, stats: TokenStats) -> None:
        if self.size == 0:
            return
        self._items[key] = stats
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class _LanguageModelBase:
    """What every LM adapter shares: task, the classifier methods that do not apply, a cache."""

    def __init__(self, *, cache_size: int = 4) -> None:
        self._cache = _StatsCache(cache_size)

    @property
    def task(self) -> Task:
        """Always ``"language_model"``."""
        return "language_model"

    @property
    def n_classes(self) -> None:
        """Always ``None`` (a language model has no classes)."""
        return None

    def clear_cache(self) -> None:
        """Forget the cached :meth:`token_stats` results (call it after changing the model)."""
        self._cache.clear()

    def _no_classes(self, method: str) -> NotImplementedError:
        return NotImplementedError(
            f"{self!r} is a causal language model: it has no {method}() over classes. Use "
            "token_stats(texts) or a language-model signal ('lm_loss', 'zlib', 'lowercase', "
            "'min_k', 'min_k_plus_plus')"
        )

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Not available: raises :class:`NotImplementedError` (use :meth:`token_stats`)."""
        raise self._no_classes("logits")

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Not available: raises :class:`NotImplementedError` (use :meth:`token_stats`)."""
        raise self._no_classes("proba")

    def predict(self, x: Any) -> NDArray[Any]:
        """Not available: raises :class:`NotImplementedError` (use :meth:`token_stats`)."""
        raise self._no_classes("predict")

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Not available: raises :class:`NotImplementedError` (use :meth:`token_stats`)."""
        raise self._no_classes("label_index")


class BlackBoxLM(_LanguageModelBase):
    """A causal LM known only through the log-probabilities it gives the tokens of a text.

    Parameters
    ----------
    fn : callable
        ``fn(list_of_texts) -> list of 1-D arrays``: for each text, ``log p(t_i | t_<i)`` of
        each of its scored tokens (e.g. an API's ``logprobs`` of the prompt tokens, echoed).
    batch_size : int, optional
        Texts per call (default: all texts in one call).
    cache_size : int
        Number of recent :meth:`token_stats` results kept (0: no cache), so several signals
        on the same texts call ``fn`` once.

    Notes
    -----
    Every answer is validated: one array per text, 1-D, non-empty (rows without a scored
    token are named), finite and ``<= 0`` (values above zero by at most ``1e-6``, rounding,
    are read as zero). :attr:`access` is ``"proba"``: without the full next-token
    distribution Min-K%++ cannot be computed, and the signals that need it say so.

    Examples
    --------
    >>> api = lambda texts: [np.full(len(t.split()), np.log(0.5)) for t in texts]
    >>> model = BlackBoxLM(api)
    >>> stats = model.token_stats(["a b c", "d e"])
    >>> stats.n_tokens, stats.mean_nll().round(4)
    (array([3, 2]), array([0.6931, 0.6931]))
    >>> model.access, model.task
    ('proba', 'language_model')
    """

    def __init__(
        self,
        fn: Callable[[list[str]], Sequence[ArrayLike]],
        *,
        batch_size: int | None = None,
        cache_size: int = 4,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        super().__init__(cache_size=cache_size)
        self.fn = fn
        self.batch_size = None if batch_size is None else check_int(
            "batch_size", batch_size, minimum=1)

    @property
    def access(self) -> AccessLevel:
        """``"proba"``: per-token log-probabilities only, no next-token distribution."""
        return "proba"

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"BlackBoxLM({name}; per-token log-probabilities only, no next-token distribution)"

    def token_stats(self, texts: Sequence[str]) -> TokenStats:
        """Call ``fn`` (in batches), validate its answers and return them as :class:`TokenStats`.

        Raises
        ------
        ValueError
            Empty or whitespace-only texts, or an answer of the wrong length or shape, empty
            (no scored token), non-finite or positive (the message names the rows).
        """
        items = check_texts(texts)
        key = texts_key(items)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        step = self.batch_size or len(items)
        answers: list[Any] = []
        for start in range(0, len(items), step):
            batch = items[start : start + step]
            out = self.fn(list(batch))
            try:
                got = list(out)
            except TypeError:
                raise ValueError(
                    f"{self!r} returned {type(out).__name__}; expected a list of one per-token "
                    "log-probability array per text"
                ) from None
            if len(got) != len(batch):
                raise ValueError(
                    f"{self!r} returned {len(got)} log-probability arrays for {len(batch)} texts "
                    f"(rows {start}..{start + len(batch) - 1})"
                )
            answers.extend(got)
        logprobs = [self._check_answer(a, row) for row, a in enumerate(answers)]
        empty = [lp.size == 0 for lp in logprobs]
        if any(empty):
            raise ValueError(
                f"{self!r} returned no scored token for {describe_rows(empty)}; every text needs "
                "at least one scored token"
            )
        stats = TokenStats(logprobs=logprobs)
        self._cache.put(key, stats)
        return stats

    def _check_answer(self, answer: Any, row: int) -> NDArray[np.float64]:
        arr = np.asarray(answer)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == np.bool_):
            raise ValueError(
                f"{self!r} returned log-probabilities of non-numeric dtype {arr.dtype} for row "
                f"{row}"
            )
        if arr.ndim != 1:
            raise ValueError(
                f"{self!r} returned log-probabilities of shape {arr.shape} for row {row}; "
                "expected a 1-D array (one value per scored token)"
            )
        lp = arr.astype(np.float64)
        bad = ~np.isfinite(lp)
        if bad.any():
            raise ValueError(
                f"{self!r} returned NaN or infinite log-probabilities for row {row} (token "
                f"{int(np.argmax(bad))})"
            )
        pos = lp > LOGPROB_TOLERANCE
        if pos.any():
            i = int(np.argmax(pos))
            raise ValueError(
                f"{self!r} returned a positive log-probability {float(lp[i])!r} for row {row} "
                f"(token {i}); log-probabilities must be <= 0"
            )
        return np.minimum(lp, 0.0)
