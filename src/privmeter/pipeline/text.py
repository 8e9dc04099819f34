"""What a text audit adds to the game: canaries in the target's training texts, their
exposure, the per-token view of the most exposed texts, and the model-free blind baseline.

- :class:`CanarySpec` and :class:`CanaryTrainer`: secret-sharer canaries (Carlini et al.,
  USENIX Security 2019) inserted, each its number of times, into the target's fine-tuning
  texts only (the reference models never see them);
- :func:`canary_exposures`: each canary's exposure under the target, from the summed NLL of
  the canary and of candidates sampled from the same format (the expensive half: it queries
  the target);
- :func:`token_details`: the token pieces of each text with the target's log-probability of
  each, for the report's coloured texts;
- :func:`blind_baseline_extras`: the blind baseline (Das et al. 2024; Duan et al. 2024) and
  whether the member and non-member texts are comparable (the cheap half: texts and
  membership only, no model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int

__all__ = [
    "CanarySpec",
    "CanaryTrainer",
    "blind_baseline_extras",
    "canary_exposures",
    "token_details",
]


@dataclass(frozen=True)
class CanarySpec:
    """Canaries to insert into the target's training texts (Carlini et al. 2019).

    Parameters
    ----------
    template : str
        The canary format (``{d}`` a digit, ``{a}`` a lower-case letter; see
        :class:`privmeter.canaries.CanaryFormat`).
    repetitions : tuple of int
        How many times each canary is inserted; ``per_repetition`` canaries per count. A count
        of 0 makes control canaries that are never inserted.
    per_repetition : int
        Canaries per repetition count.
    n_candidates : int
        Candidates sampled from the format to rank each canary against (the exposure is
        exact when they are the whole randomness space, extrapolated otherwise).
    seed : int or None
        Seed of the secrets and of the candidates (None: the audit's seed).

    Examples
    --------
    >>> spec = CanarySpec("my pin is {d}{d}{d}{d}", repetitions=(1, 8), per_repetition=2)
    >>> [c.repetitions for c in spec.canaries(seed=0)]
    [1, 1, 8, 8]
    """

    template: str = "my account number is {d}{d}{d}{d}{d}{d}"
    repetitions: tuple[int, ...] = (1, 2, 4, 8)
    per_repetition: int = 2
    n_candidates: int = 2000
    seed: int | None = None

    def __post_init__(self) -> None:
        from privmeter.canaries import CanaryFormat

        fmt = CanaryFormat(self.template)  # checks the template
        object.__setattr__(self, "repetitions", tuple(
            check_int("canaries.repetitions", r, minimum=0) for r in self.repetitions))
        if not self.repetitions:
            raise ValueError("canaries.repetitions is empty: give at least one count, e.g. [1, 8]")
        check_int("canaries.per_repetition", self.per_repetition, minimum=1)
        check_int("canaries.n_candidates", self.n_candidates, minimum=10)
        n_canaries = len(self.repetitions) * self.per_repetition
        if n_canaries + 10 > fmt.space_size:
            raise ValueError(
                f"canary template {self.template!r} has only {fmt.space_size} possible secrets: "
                f"too few for {n_canaries} canaries and their candidates; add slots"
            )

    def canaries(self, *, seed: int) -> tuple[Any, ...]:
        """The canaries (:class:`privmeter.canaries.Canary`), drawn from ``seed``."""
        from privmeter.canaries import make_canaries

        return make_canaries(self.template, repetitions=self.repetitions,
                             per_repetition=self.per_repetition,
                             seed=seed if self.seed is None else self.seed)


@dataclass(frozen=True, eq=False)
class CanaryTrainer:
    """A trainer that also trains on canaries: ``fit`` appends each canary's text its number of
    times to the training texts, then calls the wrapped trainer.

    Used for the target only, so the reference models of an audit never see a canary. The
    fingerprint covers the canaries, so a cached target with other canaries is not reused.
    """

    trainer: Any
    texts: tuple[str, ...]
    repetitions: tuple[int, ...]
    _extra: NDArray[Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.repetitions):
            raise ValueError("one repetition count per canary text is needed")
        extra = np.array(list(self.texts), dtype=object)
        extra.setflags(write=False)
        object.__setattr__(self, "_extra", extra)

    @property
    def result_kind(self) -> str:
        return str(self.trainer.result_kind)

    def fingerprint(self) -> str:
        import json

        return json.dumps({"trainer": self.trainer.fingerprint(), "canaries": list(self.texts),
                           "repetitions": list(self.repetitions)}, sort_keys=True)

    def _with_canaries(self, x: Any, y: Any, indices: ArrayLike) -> tuple[Any, Any, Any]:
        n = len(x)
        xs = np.concatenate([np.asarray(x, dtype=object), self._extra])
        ys = np.concatenate([np.asarray(y), np.zeros(len(self.texts), dtype=np.asarray(y).dtype)])
        rows = [n + j for j, r in enumerate(self.repetitions) for _ in range(r)]
        idx = np.concatenate([np.asarray(indices, dtype=np.int64),
                              np.asarray(rows, dtype=np.int64)])
        return xs, ys, idx

    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> Any:
        xs, ys, idx = self._with_canaries(x, y, indices)
        return self.trainer.fit(xs, ys, idx, seed=seed)

    def build(self, state: Any) -> Any:
        return self.trainer.build(state)

    def steps(self, n_points: int) -> int:
        return int(self.trainer.steps(n_points + sum(self.repetitions)))

    def describe(self) -> str:
        inner = getattr(self.trainer, "describe", None)
        return str(inner()) if callable(inner) else type(self.trainer).__name__


def canary_exposures(
    model: Any, canaries: Sequence[Any], spec: CanarySpec, *, seed: int
) -> dict[str, Any]:
    """The exposure of each canary under ``model`` (Carlini et al. 2019), for the report.

    Each canary is ranked by its summed NLL among ``spec.n_candidates`` other secrets of the
    same format (all of them when the format has that few: the exact exposure; otherwise the
    skew-normal extrapolation of :func:`privmeter.canaries.exposure`).
    """
    from privmeter.canaries import CanaryFormat, exposure
    from privmeter.signals.lm import sequence_nll

    fmt = CanaryFormat(spec.template)
    secrets = [c.secret for c in canaries]
    n_cand = min(spec.n_candidates, fmt.space_size - len(secrets))
    rng = np.random.default_rng([seed, 2019])
    candidates = [fmt.fill(s) for s in fmt.sample(n_cand, rng, exclude=secrets)]
    nll = sequence_nll(model, [c.text for c in canaries] + candidates)
    canary_nll, cand_nll = nll[: len(canaries)], nll[len(canaries):]
    rows = []
    method: Literal["rank", "extrapolate"] = (
        "rank" if n_cand + len(secrets) >= fmt.space_size else "extrapolate")
    for c, v in zip(canaries, canary_nll, strict=True):
        # the other canaries are candidates too when the whole space is scored
        others = [o for o, s in zip(canary_nll, secrets, strict=True) if s != c.secret]
        pool = np.r_[cand_nll, others] if method == "rank" else cand_nll
        res = exposure(float(v), pool, space_size=fmt.space_size, method=method)
        rows.append({
            "text": c.text, "repetitions": int(c.repetitions), "exposure": res.exposure,
            "exposure_rank": res.sampled_exposure, "max_exposure": res.log2_space,
            "canary_nll": res.canary_nll, "method": res.method,
        })
    return {
        "template": spec.template, "space_size": int(fmt.space_size),
        "n_candidates": int(n_cand), "method": method, "canaries": rows,
        "cites": ["carlini2019"],
    }


def token_details(model: Any, texts: Sequence[str]) -> list[tuple[list[str], NDArray[Any]]] | None:
    """The token pieces of each text and the model's log-probability of each piece.

    The first token (without a BOS token) has no prefix to be scored from: its log-probability
    is NaN. Returns None for a model without a tokenizer (an API that returns log-probs only).
    """
    tokenizer = getattr(model, "tokenizer", None)
    tokenize = getattr(model, "tokenize", None)
    if tokenizer is None or not callable(tokenize):
        return None
    stats = model.token_stats(list(texts))
    ids = tokenize(list(texts))
    bos = getattr(model, "bos_token_id", None)
    out = []
    for seq, lp in zip(ids, stats.logprobs, strict=True):
        scored = seq[1 : 1 + len(lp)]
        # the first id is a BOS token (not shown) or the text's first token (not scored)
        first = [] if bos is not None and seq[0] == bos else [seq[0]]
        pieces = [tokenizer.decode([t]) for t in first + scored]
        values = np.r_[np.full(len(first), np.nan), np.asarray(lp, dtype=np.float64)]
        out.append((pieces, values))
    return out


def blind_baseline_extras(
    texts: Sequence[str], membership: NDArray[np.bool_], *, best_auc: float | None,
    best_auc_lo: float | None, seed: int, confidence: float,
) -> dict[str, Any] | str:
    """The blind baseline's figures and the comparability verdict, as the report stores them.

    Returns the reason as a string when the baseline cannot run (too few texts per side).
    """
    from privmeter.blind import blind_baseline, blind_comparison

    try:
        res = blind_baseline(list(texts), membership, seed=seed, confidence=confidence)
    except ValueError as exc:
        return str(exc)
    # cross-fitting compares each pair of folds twice: the interval that accounts for it
    ci = res.extras.get("auc_ci_cross_fit", res.auc_ci)
    out: dict[str, Any] = {
        "auc": res.auc, "auc_ci": [float(ci[0]), float(ci[1])],
        "tpr_at_1pct": res.tpr_at(0.01).tpr if res.tpr_at(0.01).resolvable else None,
        "n_members": res.n_members, "n_non_members": res.n_non_members,
        "method": str(res.extras.get("method", "cross-fitted text-only classifier")),
        "cites": ["das2024", "duan2024"],
    }
    if best_auc is None:
        out["comparable"] = bool(ci[0] <= 0.5)
        out["reason"] = (f"the blind baseline reaches AUC {res.auc:.3f} "
                         f"[{ci[0]:.3f}, {ci[1]:.3f}]")
    else:
        v = blind_comparison(res, best_auc, best_auc_lo)
        out["comparable"] = bool(v.comparable)
        out["reason"] = v.reason
    return out
