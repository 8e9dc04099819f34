"""Secret-sharer canaries and their exposure (Carlini et al., USENIX Security 2019).

A *canary* is a random secret put into a format, e.g. ``"my account number is 281265"`` from
``"my account number is {d}{d}{d}{d}{d}{d}"``, inserted a chosen number of times into the
fine-tuning data. After training, its *exposure* measures how much more likely the model
finds it than the other candidates of the randomness space ``R`` (every way to fill the
format)::

    exposure = log2 |R| - log2 rank(canary)

where the rank is by log-perplexity (the sequence's summed negative log-likelihood) among
all of ``R``, rank 1 being the most likely. A canary the model has not memorised sits in the
middle of ``R`` (exposure about 1 bit); a fully memorised one is ranked first (exposure
``log2 |R|``). When ``R`` is too large to score, the paper samples candidates, fits a
skew-normal distribution to their log-perplexities and estimates the exposure as
``-log2 F(canary)`` with ``F`` the fitted CDF (Carlini et al. 2019, section 4.3).

Units: pass every log-perplexity as the summed NLL of the whole sequence, in nats (what
``privmeter.signals.lm.sequence_nll`` returns) or in bits, the same unit for the canary and
the candidates. Ranks do not depend on the unit, nor does the extrapolated exposure: the
skew-normal is a location-scale family, so a fit to the values in bits is the fit in nats,
rescaled, and gives the same CDF at the canary.

Reference key: ``carlini2019`` (:mod:`privmeter.references`).

Examples
--------
>>> import numpy as np
>>> from privmeter.canaries import CanaryFormat, exposure
>>> fmt = CanaryFormat("pin {d}{d}{d}")
>>> fmt.space_size
1000
>>> nll = np.random.default_rng(0).normal(30.0, 2.0, size=999)  # every other candidate
>>> exposure(20.0, nll, space_size=fmt.space_size).exposure  # ranked first: log2 1000
9.965784284662087
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from privmeter._validation import check_int, check_seed, is_int, is_real

__all__ = [
    "Canary",
    "CanaryFormat",
    "ExposureResult",
    "exposure",
    "exposures",
    "insert_canaries",
    "make_canaries",
]

#: The slots of a canary template and the characters each can take.
SLOT_ALPHABETS: dict[str, str] = {
    "d": "0123456789",
    "a": "abcdefghijklmnopqrstuvwxyz",
}

#: The fewest sampled candidates the skew-normal extrapolation accepts.
MIN_EXTRAPOLATION_CANDIDATES = 100

#: Largest randomness space :meth:`CanaryFormat.enumerate` lists by default.
MAX_ENUMERATE = 1_000_000

_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]|[^{}]+")


# --------------------------------------------------------------------------------------------
# Formats and canaries
# --------------------------------------------------------------------------------------------


class CanaryFormat:
    """A canary template: literal text with random slots ``{d}`` (a digit) and ``{a}`` (a
    lowercase letter); write a literal brace as ``{{`` or ``}}``.

    Parameters
    ----------
    template : str
        E.g. ``"my account number is {d}{d}{d}{d}{d}{d}"``. At least one slot.

    Attributes
    ----------
    template : str
    slots : tuple of str
        The slot kinds in order (``("d", "d", ...)``).
    space_size : int
        ``|R|``, the number of distinct canaries (the product of the slot alphabet sizes;
        an exact Python int, however large).

    Raises
    ------
    ValueError
        For an unknown slot (naming it and its position), an unmatched brace, or a template
        without slots.

    Examples
    --------
    >>> from privmeter.canaries import CanaryFormat
    >>> fmt = CanaryFormat("code {a}{d} {{ok}}")
    >>> fmt.space_size, fmt.fill("x7")
    (260, 'code x7 {ok}')
    >>> fmt.secret_at(0), fmt.secret_at(259), fmt.index_of("b3")
    ('a0', 'z9', 13)
    """

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise ValueError(f"template must be a string, got {template!r}")
        parts: list[str | None] = []  # literal text, or None for a slot
        slots: list[str] = []
        literal: list[str] = []
        pos = 0
        for m in _TOKEN.finditer(template):
            tok = m.group()
            if tok == "{{":
                literal.append("{")
            elif tok == "}}":
                literal.append("}")
            elif tok in ("{", "}"):
                raise ValueError(
                    f"unmatched {tok!r} at position {m.start()} of the template {template!r}; "
                    "write a literal brace as '{{' or '}}'"
                )
            elif tok.startswith("{"):
                kind = tok[1:-1]
                if kind not in SLOT_ALPHABETS:
                    raise ValueError(
                        f"unknown slot {tok!r} at position {m.start()} of the template "
                        f"{template!r}; slots are {{d}} (a digit) and {{a}} (a lowercase "
                        "letter), and literal braces are written '{{' and '}}'"
                    )
                parts.append("".join(literal))
                literal = []
                parts.append(None)
                slots.append(kind)
            else:
                literal.append(tok)
            pos = m.end()
        assert pos == len(template)
        parts.append("".join(literal))
        if not slots:
            raise ValueError(
                f"the template {template!r} has no random slot; put {{d}} (a digit) or {{a}} "
                "(a lowercase letter) where the secret goes"
            )
        self._template = template
        self._parts = tuple(parts)
        self._slots = tuple(slots)
        self._sizes = tuple(len(SLOT_ALPHABETS[k]) for k in slots)

    @property
    def template(self) -> str:
        """The template as given."""
        return self._template

    @property
    def slots(self) -> tuple[str, ...]:
        """The slot kinds, in order."""
        return self._slots

    @property
    def space_size(self) -> int:
        """``|R|``: the number of distinct secrets."""
        return math.prod(self._sizes)

    def __repr__(self) -> str:
        return f"CanaryFormat({self._template!r}, space_size={self.space_size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CanaryFormat) and other._template == self._template

    def __hash__(self) -> int:
        return hash(("CanaryFormat", self._template))

    def _check_secret(self, secret: str) -> None:
        if not isinstance(secret, str) or len(secret) != len(self._slots):
            raise ValueError(
                f"a secret of {self._template!r} is a string of {len(self._slots)} characters, "
                f"got {secret!r}"
            )
        for j, (ch, kind) in enumerate(zip(secret, self._slots, strict=True)):
            if ch not in SLOT_ALPHABETS[kind]:
                what = "a digit" if kind == "d" else "a lowercase letter"
                raise ValueError(f"character {j} of the secret {secret!r} must be {what}")

    def fill(self, secret: str) -> str:
        """The canary text for ``secret`` (one character per slot, in order)."""
        self._check_secret(secret)
        out: list[str] = []
        k = 0
        for part in self._parts:
            if part is None:
                out.append(secret[k])
                k += 1
            else:
                out.append(part)
        return "".join(out)

    def secret_at(self, index: int) -> str:
        """The secret at ``index`` of ``R`` in mixed-radix order (the first slot varies slowest)."""
        if not is_int(index) or not 0 <= int(index) < self.space_size:
            raise ValueError(f"index must be an integer in [0, {self.space_size}), got {index!r}")
        rest = int(index)
        chars: list[str] = []
        for kind, size in zip(reversed(self._slots), reversed(self._sizes), strict=True):
            rest, r = divmod(rest, size)
            chars.append(SLOT_ALPHABETS[kind][r])
        return "".join(reversed(chars))

    def index_of(self, secret: str) -> int:
        """The index of ``secret`` in ``R`` (the inverse of :meth:`secret_at`)."""
        self._check_secret(secret)
        index = 0
        for ch, kind, size in zip(secret, self._slots, self._sizes, strict=True):
            index = index * size + SLOT_ALPHABETS[kind].index(ch)
        return index

    def random_secret(self, rng: np.random.Generator) -> str:
        """One secret drawn uniformly from ``R``."""
        return "".join(
            SLOT_ALPHABETS[k][int(rng.integers(s))]
            for k, s in zip(self._slots, self._sizes, strict=True)
        )

    def sample(
        self,
        n: int,
        rng: np.random.Generator | int | None = None,
        *,
        exclude: Sequence[str] = (),
    ) -> tuple[str, ...]:
        """``n`` distinct secrets drawn uniformly from ``R`` without replacement.

        Parameters
        ----------
        n : int
            Number of secrets; at most ``space_size - len(exclude)``.
        rng : numpy Generator or int seed
            Randomness (``np.random.default_rng(rng)``).
        exclude : sequence of str
            Secrets never returned (e.g. the canaries themselves).

        Returns
        -------
        tuple of str
            Secrets, not texts: :meth:`fill` makes the texts.

        Examples
        --------
        >>> from privmeter.canaries import CanaryFormat
        >>> fmt = CanaryFormat("{d}{d}")
        >>> s = fmt.sample(99, 0, exclude=["42"])
        >>> len(set(s)), "42" in s
        (99, False)
        """
        n = check_int("n", n, minimum=0)
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        excluded = set(exclude)
        for s in excluded:
            self._check_secret(s)
        available = self.space_size - len(excluded)
        if n > available:
            raise ValueError(
                f"cannot draw {n} distinct secrets: {self._template!r} has {self.space_size} "
                f"({available} after excluding {len(excluded)})"
            )
        if 2 * n > available and self.space_size <= MAX_ENUMERATE:
            # dense: a permutation of the whole space
            order = gen.permutation(self.space_size)
            out: list[str] = []
            for i in order.tolist():
                s = self.secret_at(i)
                if s not in excluded:
                    out.append(s)
                    if len(out) == n:
                        break
            return tuple(out)
        seen: set[str] = set(excluded)
        result: list[str] = []
        while len(result) < n:
            s = self.random_secret(gen)
            if s not in seen:
                seen.add(s)
                result.append(s)
        return tuple(result)

    def enumerate(self, *, limit: int = MAX_ENUMERATE) -> Iterator[str]:
        """Every secret of ``R`` in index order (only when ``space_size <= limit``).

        Examples
        --------
        >>> from privmeter.canaries import CanaryFormat
        >>> len(list(CanaryFormat("{d}"))), list(CanaryFormat("x{a}").enumerate())[:3]
        (10, ['a', 'b', 'c'])
        """
        limit = check_int("limit", limit, minimum=1)
        if self.space_size > limit:
            raise ValueError(
                f"{self._template!r} has {self.space_size} secrets, more than limit={limit}; "
                "score a sample (sample) and use the extrapolated exposure instead"
            )
        return (self.secret_at(i) for i in range(self.space_size))

    def __iter__(self) -> Iterator[str]:
        return self.enumerate()


@dataclass(frozen=True)
class Canary:
    """One canary: its text, its secret, and how many copies go into the training data.

    A canary with ``repetitions=0`` is never inserted: a control whose exposure should be
    that of a random candidate (about 1 bit).
    """

    text: str
    secret: str
    repetitions: int
    template: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"text": self.text, "secret": self.secret, "repetitions": self.repetitions,
                "template": self.template}


def make_canaries(
    template: str | CanaryFormat,
    *,
    repetitions: Sequence[int] = (1, 2, 4, 8),
    per_repetition: int = 2,
    seed: int = 0,
) -> tuple[Canary, ...]:
    """``per_repetition`` distinct random canaries for each repetition count.

    Parameters
    ----------
    template : str or CanaryFormat
        The format of the canaries.
    repetitions : sequence of int
        Repetition counts (``>= 0``; 0 gives never-inserted control canaries).
    per_repetition : int
        Canaries per count.
    seed : int
        Seed of the secrets.

    Returns
    -------
    tuple of Canary
        Ordered by repetition count as given, ``per_repetition`` each; all secrets distinct.

    Examples
    --------
    >>> from privmeter.canaries import make_canaries
    >>> cs = make_canaries("my pin is {d}{d}{d}{d}", repetitions=(1, 4), per_repetition=2)
    >>> [c.repetitions for c in cs], len({c.secret for c in cs})
    ([1, 1, 4, 4], 4)
    >>> cs[0].text.startswith("my pin is ")
    True
    """
    fmt = template if isinstance(template, CanaryFormat) else CanaryFormat(template)
    if isinstance(repetitions, (str, bytes)) or not isinstance(repetitions, Sequence):
        raise ValueError(f"repetitions must be a sequence of counts, got {repetitions!r}")
    reps = [check_int("repetitions", r, minimum=0) for r in repetitions]
    if not reps:
        raise ValueError("repetitions must not be empty")
    per = check_int("per_repetition", per_repetition, minimum=1)
    seed = check_seed(seed)
    secrets = fmt.sample(len(reps) * per, np.random.default_rng(seed))
    return tuple(
        Canary(fmt.fill(secrets[i * per + j]), secrets[i * per + j], r, fmt.template)
        for i, r in enumerate(reps)
        for j in range(per)
    )


@overload
def insert_canaries(
    texts: Sequence[str], canaries: Sequence[Canary], *, seed: int = 0
) -> tuple[list[str], NDArray[np.int64]]: ...


@overload
def insert_canaries(
    texts: Any, canaries: Sequence[Canary], *, seed: int = 0
) -> tuple[Any, NDArray[np.int64]]: ...


def insert_canaries(
    texts: Any, canaries: Sequence[Canary], *, seed: int = 0
) -> tuple[Any, NDArray[np.int64]]:
    """The texts with every canary inserted ``repetitions`` times at random positions.

    Parameters
    ----------
    texts : sequence of str or TextDataset
        The training records. A :class:`~privmeter.datasets.TextDataset` (language model)
        gives back a TextDataset, the copies' ids being ``"canary-<k>-<copy>"``.
    canaries : sequence of Canary
        From :func:`make_canaries`.
    seed : int
        Seed of the positions.

    Returns
    -------
    texts : list of str or TextDataset
        ``len(texts) + sum(repetitions)`` records; the original records keep their order.
    rows : ndarray of int64, shape (sum of repetitions,)
        Row indices of the inserted copies, grouped by canary in the order of ``canaries``
        (canary ``k`` owns ``rows[offset_k : offset_k + canaries[k].repetitions]``, sorted).

    Raises
    ------
    ValueError
        If a canary text is already one of the texts (its count would be wrong), two
        canaries have the same text, or a canary is not a :class:`Canary`.

    Examples
    --------
    >>> from privmeter.canaries import insert_canaries, make_canaries
    >>> cs = make_canaries("id {d}{d}{d}", repetitions=(0, 2), per_repetition=1)
    >>> out, rows = insert_canaries(["a", "b", "c"], cs, seed=0)
    >>> len(out), rows.size, all(out[r] == cs[1].text for r in rows)
    (5, 2, True)
    """
    from privmeter.datasets.text import TextDataset

    dataset = texts if isinstance(texts, TextDataset) else None
    if dataset is not None:
        if dataset.task != "language_model":
            raise ValueError("canaries go into a language-model dataset (one without labels)")
        base = dataset.texts
    else:
        if isinstance(texts, (str, bytes)):
            raise ValueError("texts must be a sequence of strings, not one string")
        base = list(texts)
        for i, t in enumerate(base):
            if not isinstance(t, str):
                raise ValueError(f"texts must be str; row {i} is a {type(t).__name__}")
    seed = check_seed(seed)
    present = set(base)
    canary_texts: set[str] = set()
    for k, c in enumerate(canaries):
        if not isinstance(c, Canary):
            raise ValueError(f"canary {k} must be a Canary (make_canaries), got {c!r}")
        if c.text in present:
            raise ValueError(
                f"canary {k} ({c.text!r}) is already among the texts; its repetition count "
                "would be wrong"
            )
        if c.text in canary_texts:
            raise ValueError(f"canary {k} ({c.text!r}) repeats an earlier canary")
        canary_texts.add(c.text)
    owner = np.repeat(np.arange(len(canaries), dtype=np.int64),
                      [c.repetitions for c in canaries]).astype(np.int64)
    n_total = len(base) + owner.size
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA4A]))
    slots = np.sort(rng.choice(n_total, size=owner.size, replace=False)).astype(np.int64)
    rng.shuffle(owner)  # which canary copy lands in which chosen slot
    is_canary = np.zeros(n_total, dtype=bool)
    is_canary[slots] = True
    out: list[str] = []
    ids: list[str] = []
    copy_no = [0] * len(canaries)
    it = iter(range(len(base)))
    slot_owner = dict(zip(slots.tolist(), owner.tolist(), strict=True))
    for row in range(n_total):
        if is_canary[row]:
            k = slot_owner[row]
            out.append(canaries[k].text)
            copy_no[k] += 1
            ids.append(f"canary-{k}-{copy_no[k]}")
        else:
            i = next(it)
            out.append(base[i])
            if dataset is not None:
                ids.append(dataset.ids[i])
    order = np.lexsort((slots, owner))
    rows = slots[order]
    if dataset is None:
        return out, rows
    if len(set(ids)) != len(ids):
        raise ValueError("the dataset already has ids of the form 'canary-<k>-<copy>'")
    return TextDataset(out, ids=ids, name=dataset.name), rows


# --------------------------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureResult:
    """The exposure of one canary (Carlini et al. 2019).

    Attributes
    ----------
    exposure : float
        The estimate of ``method``, in bits, in ``[0, log2_space]``.
    method : {"rank", "extrapolate"}
        ``"rank"``: the exact rank among every candidate of ``R`` (all scored).
        ``"extrapolate"``: ``-log2 F(canary)`` with ``F`` a skew-normal CDF fitted to the
        sampled candidates' log-perplexities.
    canary_nll : float
        The canary's log-perplexity (summed NLL).
    space_size : int
        ``|R|``.
    log2_space : float
        ``log2 |R|``, the largest possible exposure.
    n_candidates : int
        Candidates used (after excluding any equal to the canary).
    n_excluded : int
        Candidates dropped because their text was the canary's.
    rank : float
        For ``"rank"``: the canary's rank in ``R`` (1 = most likely; ties count half). For
        ``"extrapolate"``: the implied rank ``max(1, |R| F(canary))``.
    sampled_exposure : float
        The rank-based estimate among the scored candidates alone:
        ``-log2((k + 1) / (n_candidates + 1))`` with ``k`` the number of candidates more
        likely than the canary (ties count half). It cannot exceed
        ``sampled_exposure_limit``.
    sampled_exposure_limit : float
        ``log2(n_candidates + 1)``, the resolution of ``sampled_exposure``.
    skewnorm : tuple of float or None
        ``(a, loc, scale)`` of the fitted skew-normal (``"extrapolate"`` only), in the
        units of the inputs.
    fit_ks : float or None
        Kolmogorov–Smirnov distance between the candidates and the fit (small is good).
    clipped : bool
        Whether the extrapolated value was clipped to ``[0, log2_space]``.
    """

    exposure: float
    method: Literal["rank", "extrapolate"]
    canary_nll: float
    space_size: int
    log2_space: float
    n_candidates: int
    n_excluded: int
    rank: float
    sampled_exposure: float
    sampled_exposure_limit: float
    skewnorm: tuple[float, float, float] | None = None
    fit_ks: float | None = None
    clipped: bool = False

    @property
    def at_sampling_limit(self) -> bool:
        """Whether the canary beat every sampled candidate (the sampled estimate is capped)."""
        return self.sampled_exposure >= self.sampled_exposure_limit - 1e-12

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``space_size`` as an int, possibly large)."""
        return {
            "exposure": self.exposure,
            "method": self.method,
            "canary_nll": self.canary_nll,
            "space_size": self.space_size,
            "log2_space": self.log2_space,
            "n_candidates": self.n_candidates,
            "n_excluded": self.n_excluded,
            "rank": self.rank,
            "sampled_exposure": self.sampled_exposure,
            "sampled_exposure_limit": self.sampled_exposure_limit,
            "at_sampling_limit": self.at_sampling_limit,
            "skewnorm": None if self.skewnorm is None else list(self.skewnorm),
            "fit_ks": self.fit_ks,
            "clipped": self.clipped,
        }


def _as_nll(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers (summed NLLs), got dtype {arr.dtype}")
    arr = arr.astype(np.float64).reshape(-1) if arr.ndim else arr.astype(np.float64).reshape(1)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name} must be finite; {bad.size} values are not, the first at index {int(bad[0])} "
            f"({arr[bad[0]]})"
        )
    return arr


def _check_space(space_size: Any) -> int:
    if not is_int(space_size) or int(space_size) < 2:
        raise ValueError(f"space_size must be an integer >= 2 (|R|), got {space_size!r}")
    return int(space_size)


def _log2(n: int) -> float:
    return math.log2(n)


def _fit_skewnorm(x: NDArray[np.float64]) -> tuple[float, float, float]:
    """Maximum-likelihood skew-normal fit, started from the method of moments."""
    mean, sd = float(x.mean()), float(x.std())
    if sd == 0.0:
        raise ValueError(
            "every candidate has the same log-perplexity; the skew-normal cannot be fitted "
            "(is the model scoring the candidates at all?)"
        )
    g = float(stats.skew(x))
    g = float(np.clip(g, -0.99, 0.99))
    # moment inversion for the shape (Azzalini): |g|^(2/3) relation to delta
    t = abs(g) ** (2.0 / 3.0)
    c = ((4.0 - math.pi) / 2.0) ** (2.0 / 3.0)
    delta = math.copysign(math.sqrt(math.pi / 2.0 * t / (t + c)), g)
    delta = float(np.clip(delta, -0.995, 0.995))
    a0 = delta / math.sqrt(1.0 - delta**2)
    scale0 = sd / math.sqrt(1.0 - 2.0 * delta**2 / math.pi)
    loc0 = mean - scale0 * delta * math.sqrt(2.0 / math.pi)
    # fit on standardised values (well conditioned), then map back
    z = (x - mean) / sd
    a, loc, scale = stats.skewnorm.fit(z, a0, loc=(loc0 - mean) / sd, scale=scale0 / sd)
    return float(a), float(loc * sd + mean), float(scale * sd)


def _rank_counts(canary: float, cands: NDArray[np.float64]) -> float:
    """Candidates more likely than the canary (lower NLL), ties counted half."""
    return float(np.count_nonzero(cands < canary)) + 0.5 * float(np.count_nonzero(cands == canary))


def exposures(
    canary_nll: ArrayLike,
    candidate_nll: ArrayLike,
    *,
    space_size: int,
    method: Literal["auto", "rank", "extrapolate"] = "auto",
    canary_texts: Sequence[str] | None = None,
    candidate_texts: Sequence[str] | None = None,
    min_candidates: int = MIN_EXTRAPOLATION_CANDIDATES,
) -> tuple[ExposureResult, ...]:
    """:func:`exposure` of several canaries against one set of candidates (one fit).

    Parameters are those of :func:`exposure`, with ``canary_nll`` (and ``canary_texts``)
    one per canary.

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.canaries import exposures
    >>> cands = np.random.default_rng(1).normal(50.0, 3.0, size=5000)
    >>> res = exposures([40.0, 50.0, 60.0], cands, space_size=10**8)
    >>> [r.method for r in res], [round(r.exposure) for r in res]
    (['extrapolate', 'extrapolate', 'extrapolate'], [12, 1, 0])
    """
    canary = _as_nll("canary_nll", canary_nll)
    cands_all = _as_nll("candidate_nll", candidate_nll)
    size = _check_space(space_size)
    if method not in ("auto", "rank", "extrapolate"):
        raise ValueError(f"method must be 'auto', 'rank' or 'extrapolate', got {method!r}")
    min_candidates = check_int("min_candidates", min_candidates, minimum=2)
    if (canary_texts is None) != (candidate_texts is None):
        raise ValueError("give canary_texts and candidate_texts together (or neither)")
    masks: list[NDArray[np.bool_]] = []
    if canary_texts is not None and candidate_texts is not None:
        c_texts = list(canary_texts)
        k_texts = list(candidate_texts)
        if len(c_texts) != canary.size:
            raise ValueError(f"got {len(c_texts)} canary_texts for {canary.size} canary NLLs")
        if len(k_texts) != cands_all.size:
            raise ValueError(
                f"got {len(k_texts)} candidate_texts for {cands_all.size} candidate NLLs"
            )
        arr = np.array(k_texts, dtype=object)
        for t in c_texts:
            masks.append(arr != t)
    else:
        masks = [np.ones(cands_all.size, dtype=bool)] * canary.size
    log2_space = _log2(size)

    fits: dict[bytes, tuple[tuple[float, float, float], float]] = {}
    results: list[ExposureResult] = []
    for i, c in enumerate(canary.tolist()):
        keep = masks[i]
        cands = cands_all[keep]
        n_excluded = int(cands_all.size - cands.size)
        n = int(cands.size)
        chosen = method
        if chosen == "auto":
            chosen = "rank" if n == size - 1 else "extrapolate"
        k = _rank_counts(c, cands)
        sampled = -math.log2((k + 1.0) / (n + 1.0))
        limit = math.log2(n + 1.0)
        if chosen == "rank":
            if n != size - 1:
                hint = (
                    " (the canary itself seems to be among them: pass canary_texts and "
                    "candidate_texts so that it is excluded)"
                    if n == size else ""
                )
                raise ValueError(
                    f"method='rank' needs the NLL of every other candidate of R: "
                    f"{size - 1} of them, got {n}{hint}; use method='extrapolate' for a sample"
                )
            rank = k + 1.0
            results.append(ExposureResult(
                exposure=max(0.0, log2_space - math.log2(rank)), method="rank",
                canary_nll=float(c), space_size=size, log2_space=log2_space,
                n_candidates=n, n_excluded=n_excluded, rank=rank,
                sampled_exposure=sampled, sampled_exposure_limit=limit,
            ))
            continue
        if n < min_candidates:
            raise ValueError(
                f"the skew-normal extrapolation needs at least {min_candidates} sampled "
                f"candidates, got {n}; score more candidates (CanaryFormat.sample), thousands "
                "for exposures beyond ~10 bits"
            )
        key = keep.tobytes()
        if key not in fits:
            params = _fit_skewnorm(cands)
            ks = float(stats.kstest(cands, stats.skewnorm(*params).cdf).statistic)
            fits[key] = (params, ks)
        params, ks = fits[key]
        log_f = float(stats.skewnorm.logcdf(c, *params))
        raw = -log_f / math.log(2.0) if log_f > -math.inf else math.inf
        value = float(min(max(raw, 0.0), log2_space))
        results.append(ExposureResult(
            exposure=value, method="extrapolate", canary_nll=float(c), space_size=size,
            log2_space=log2_space, n_candidates=n, n_excluded=n_excluded,
            rank=max(1.0, 2.0 ** (log2_space - value)),
            sampled_exposure=sampled, sampled_exposure_limit=limit,
            skewnorm=params, fit_ks=ks, clipped=value != raw,
        ))
    return tuple(results)


def exposure(
    canary_nll: float,
    candidate_nll: ArrayLike,
    *,
    space_size: int,
    method: Literal["auto", "rank", "extrapolate"] = "auto",
    canary_text: str | None = None,
    candidate_texts: Sequence[str] | None = None,
    min_candidates: int = MIN_EXTRAPOLATION_CANDIDATES,
) -> ExposureResult:
    """The exposure of one canary: ``log2 |R| - log2 rank`` (Carlini et al. 2019).

    Parameters
    ----------
    canary_nll : float
        The canary's log-perplexity: its summed NLL under the model (nats or bits; the same
        unit as the candidates).
    candidate_nll : array_like of float
        Log-perplexities of other candidates from ``R``: all of them but the canary
        (``space_size - 1`` values) for the exact rank, or a uniform random sample for
        the extrapolation.
    space_size : int
        ``|R|`` (:attr:`CanaryFormat.space_size`).
    method : {"auto", "rank", "extrapolate"}
        ``"rank"``: exact, when every other candidate was scored. ``"extrapolate"``: fit a
        skew-normal to the candidates' log-perplexities and take ``-log2 F(canary)``
        (Carlini et al. 2019, section 4.3), clipped to ``[0, log2 |R|]``. ``"auto"``
        (default): ``"rank"`` when there are exactly ``space_size - 1`` candidates.
    canary_text, candidate_texts : str and sequence of str, optional
        When given, candidates whose text is the canary's are dropped (a sample may draw
        the canary itself; so may a full enumeration of ``R``), and counted in
        ``n_excluded``.
    min_candidates : int
        Fewest candidates the extrapolation accepts (default 100; use thousands in
        practice: the fit's tail decides large exposures).

    Returns
    -------
    ExposureResult
        With the estimate of ``method`` and, always, the rank-based estimate among the
        scored candidates and its resolution limit ``log2(n_candidates + 1)``.

    Raises
    ------
    ValueError
        Non-finite NLLs, ``space_size < 2``, ``method="rank"`` without every other
        candidate, fewer candidates than ``min_candidates`` (saying how many are needed),
        texts that do not match the NLLs, candidates that are all equal.

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.canaries import exposure
    >>> others = np.arange(1.0, 16.0)  # |R| = 16, every other candidate scored
    >>> exposure(0.5, others, space_size=16).exposure  # the most likely: log2 16
    4.0
    >>> exposure(7.5, others, space_size=16).exposure  # rank 8 of 16: 1 bit
    1.0
    """
    if not is_real(canary_nll) and not (
        isinstance(canary_nll, np.ndarray) and canary_nll.ndim == 0
    ):
        raise ValueError(f"canary_nll must be one number, got {canary_nll!r}")
    return exposures(
        [float(canary_nll)], candidate_nll, space_size=space_size, method=method,
        canary_texts=None if canary_text is None else [canary_text],
        candidate_texts=candidate_texts, min_candidates=min_candidates,
    )[0]
