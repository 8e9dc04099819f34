"""Frozen results of one attack on one target: scores, ROC, AUC, TPR at FPR, CIs, epsilon."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter import metrics
from privmeter._validation import as_membership, is_int, is_real
from privmeter.metrics import DEFAULT_FPR_LEVELS, EpsilonBound, RocCurve, TprAtFpr

__all__ = ["RESULT_SCHEMA_VERSION", "AttackResult", "jsonable"]

#: Version of the dict layout written by :meth:`AttackResult.to_dict`.
RESULT_SCHEMA_VERSION = 1


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy to Python, tuples to lists, non-finite floats to strings.

    Anything else that JSON cannot hold (paths, dates, objects) becomes its ``str``.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


@dataclass(frozen=True, eq=False)
class AttackResult:
    """The outcome of one membership inference attack on one target model.

    Build it with :meth:`from_scores`; every figure is computed once from the exact ROC.

    Attributes
    ----------
    attack : str
        Registered attack name.
    params : dict
        The attack's parameters as used (JSON-serialisable).
    target : int
        Index of the target model in the signal table.
    scores : ndarray of float, shape (n_audit,)
        Membership scores of the audit points (higher = more likely member).
    membership : ndarray of bool, shape (n_audit,)
        True membership of the audit points in the target.
    point_ids : ndarray of int, shape (n_audit,)
        Dataset indices of the audit points.
    labels : ndarray of int or None
        Class labels of the audit points, when known.
    seed : int or None
        Seed of any randomness the attack used.
    confidence : float
        Confidence level of every interval (default 0.95).
    delta : float
        The delta of the epsilon lower bound.
    auc, auc_ci : float, (float, float)
        AUC of the exact ROC and its DeLong interval; when a point id repeats (results
        pooled over targets) the interval is Obuchowski's (1997) clustered one, with each
        record's scores as one cluster (see :func:`privmeter.metrics.auc_delong_ci`).
    advantage : float
        ``max TPR - FPR`` (Yeom et al. 2018).
    epsilon_lb : float
        Empirical epsilon lower bound at ``delta`` (see
        :func:`privmeter.metrics.epsilon_lower_bound`).
    tpr_at_fpr : tuple of TprAtFpr
        TPR at the FPR levels of :data:`privmeter.metrics.DEFAULT_FPR_LEVELS`.
    extras : dict
        Attack-specific diagnostics (e.g. a tuned RMIA ``a``, population-calibrated thresholds).
    epsilon : EpsilonBound
        The epsilon lower bound with the side of the test that produced it (members or
        non-members identified) and its threshold, TPR and FPR.

    Examples
    --------
    >>> import numpy as np
    >>> res = AttackResult.from_scores("demo", [0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    >>> res.auc
    0.75
    >>> res.tpr_at(0.0).tpr, res.tpr_at(0.0).resolvable
    (0.5, False)
    >>> AttackResult.from_dict(res.to_dict()).auc
    0.75
    """

    attack: str
    params: dict[str, Any]
    target: int
    scores: NDArray[np.float64]
    membership: NDArray[np.bool_]
    point_ids: NDArray[np.int64]
    labels: NDArray[np.int64] | None
    seed: int | None
    confidence: float
    delta: float
    auc: float
    auc_ci: tuple[float, float]
    advantage: float
    epsilon_lb: float
    tpr_at_fpr: tuple[TprAtFpr, ...]
    extras: dict[str, Any] = field(default_factory=dict)
    epsilon: EpsilonBound | None = None

    # ------------------------------------------------------------ construction
    @classmethod
    def from_scores(
        cls,
        attack: str,
        scores: ArrayLike,
        membership: ArrayLike,
        *,
        params: dict[str, Any] | None = None,
        target: int = 0,
        point_ids: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        seed: int | None = None,
        confidence: float = 0.95,
        delta: float = 0.0,
        fpr_levels: tuple[float, ...] = DEFAULT_FPR_LEVELS,
        extras: dict[str, Any] | None = None,
    ) -> AttackResult:
        """Compute every figure from per-point scores and the true membership."""
        s, y = metrics._check_scores_labels(scores, membership)
        roc = metrics.roc_curve(s, y)
        ids = (
            np.arange(s.size, dtype=np.int64)
            if point_ids is None
            else _as_int64(point_ids, "point_ids")
        )
        if ids.shape != s.shape:
            raise ValueError(f"point_ids have shape {ids.shape}, expected {s.shape}")
        # the trapezoid of the exact ROC below equals DeLong's Mann-Whitney AUC; a point id
        # that repeats (results pooled over targets) is one cluster of dependent scores
        repeated = point_ids is not None and np.unique(ids).size < ids.size
        _, auc_ci = metrics.auc_delong_ci(
            s, y, confidence=confidence, clusters=ids if repeated else None
        )
        lab = None if labels is None else _as_int64(labels, "labels")
        if lab is not None and lab.shape != s.shape:
            raise ValueError(f"labels have shape {lab.shape}, expected {s.shape}")
        eps = metrics.epsilon_lower_bound_detail(roc, delta=delta, confidence=confidence)
        res = cls(
            attack=attack,
            params=jsonable(dict(params or {})),
            target=int(target),
            scores=s.copy(),
            membership=y.copy(),
            point_ids=ids.copy(),
            labels=None if lab is None else lab.copy(),
            seed=seed,
            confidence=confidence,
            delta=delta,
            auc=float(np.trapezoid(roc.tpr, roc.fpr)),
            auc_ci=auc_ci,
            advantage=float(np.max(roc.tpr - roc.fpr)),
            epsilon_lb=eps.value,
            tpr_at_fpr=tuple(
                metrics.tpr_at_fpr_from_roc(roc, lv, confidence=confidence) for lv in fpr_levels
            ),
            extras=jsonable(dict(extras or {})),
            epsilon=eps,
        )
        for arr in (res.scores, res.membership, res.point_ids, res.labels):
            if arr is not None:
                arr.setflags(write=False)
        res.__dict__["roc"] = roc  # the cached_property below: computed once
        return res

    # ---------------------------------------------------------------- queries
    @cached_property
    def roc(self) -> RocCurve:
        """The exact ROC curve of the scores."""
        return metrics.roc_curve(self.scores, self.membership)

    @property
    def n_members(self) -> int:
        """Number of audit points that are members of the target."""
        return int(self.membership.sum())

    @property
    def n_non_members(self) -> int:
        """Number of audit points that are not members of the target."""
        return int(self.membership.size - self.membership.sum())

    def tpr_at(self, level: float) -> TprAtFpr:
        """TPR at FPR ``<= level`` with Clopper–Pearson intervals and a resolvable flag."""
        for t in self.tpr_at_fpr:
            if t.level == level:
                return t
        return metrics.tpr_at_fpr_from_roc(self.roc, level, confidence=self.confidence)

    def ppv_at(self, level: float, prior: float | None = None) -> float:
        """Precision of "member" calls at FPR ``level`` under membership prior ``prior``.

        The default prior is the audit set's own member fraction. Always a number in
        ``[0, 1]``: when the operating point makes no member call (the top score is tied
        between members and non-members), it is the PPV of a randomised threshold on the top
        tie group (see :func:`privmeter.metrics.ppv_at_fpr_from_roc`).
        """
        p = self.n_members / self.membership.size if prior is None else prior
        return metrics.ppv_at_fpr_from_roc(self.roc, level, p)

    @property
    def epsilon_detail(self) -> EpsilonBound:
        """:attr:`epsilon` (computed when the result was built without it)."""
        if self.epsilon is not None:
            return self.epsilon
        return metrics.epsilon_lower_bound_detail(
            self.roc, delta=self.delta, confidence=self.confidence
        )

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The per-point arrays (``scores``, ``membership``, ``point_ids`` and ``labels``)."""
        out: dict[str, NDArray[Any]] = {
            "scores": self.scores,
            "membership": self.membership,
            "point_ids": self.point_ids,
        }
        if self.labels is not None:
            out["labels"] = self.labels
        return out

    def __repr__(self) -> str:
        t1 = self.tpr_at(0.01)
        return (
            f"AttackResult(attack={self.attack!r}, target={self.target}, "
            f"auc={self.auc:.4f} [{self.auc_ci[0]:.4f}, {self.auc_ci[1]:.4f}], "
            f"tpr@1%fpr={t1.tpr:.4f}, n_members={self.n_members}, "
            f"n_non_members={self.n_non_members})"
        )

    # ----------------------------------------------------------- (de)serialise
    def to_dict(self, *, include_scores: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` restores an equal result."""
        d: dict[str, Any] = {
            "schema_version": RESULT_SCHEMA_VERSION,
            "attack": self.attack,
            "params": self.params,
            "target": self.target,
            "seed": self.seed,
            "confidence": self.confidence,
            "delta": self.delta,
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
            "auc": self.auc,
            "auc_ci": list(self.auc_ci),
            "advantage": self.advantage,
            "epsilon_lb": self.epsilon_lb,
            "epsilon_lb_detail": self.epsilon_detail.to_dict(),
            "tpr_at_fpr": [t.to_dict() for t in self.tpr_at_fpr],
            "extras": self.extras,
        }
        if include_scores:
            d["scores"] = [float(x) for x in self.scores]
            d["membership"] = [bool(x) for x in self.membership]
            d["point_ids"] = [int(x) for x in self.point_ids]
            d["labels"] = None if self.labels is None else [int(x) for x in self.labels]
        return d

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (strict JSON: no NaN or Infinity literals)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], *, arrays: dict[str, NDArray[Any]] | None = None
    ) -> AttackResult:
        """Rebuild a result from :meth:`to_dict` output.

        The per-point arrays come from the dict (``include_scores=True``) or from
        ``arrays`` (as returned by :meth:`arrays`, e.g. read from a ``scores.npz`` sidecar).
        """
        if not isinstance(d, dict):
            raise ValueError(f"a result must be a JSON object, got a {type(d).__name__}")
        version = d.get("schema_version")
        if version != RESULT_SCHEMA_VERSION:
            raise ValueError(
                f"unsupported result schema_version {version!r}; this privmeter reads "
                f"version {RESULT_SCHEMA_VERSION}"
            )
        _check_result_fields(d)
        src: dict[str, Any]
        if arrays is not None:
            missing = [k for k in ("scores", "membership", "point_ids") if k not in arrays]
            if missing:
                raise ValueError(f"the per-point arrays of {d.get('attack')!r} lack {missing}")
            src = dict(arrays)
            src.setdefault("labels", None)
        elif "scores" not in d:
            raise ValueError("the dict has no 'scores': save it with include_scores=True")
        else:
            src = d
        levels = tuple(float(t["level"]) for t in d["tpr_at_fpr"])
        scores = np.asarray(src["scores"])
        if scores.size and scores.dtype.kind not in "biuf":
            raise ValueError(
                f"result {d['attack']!r}: scores must be numbers, got dtype {scores.dtype}"
            )
        membership = as_membership(f"result {d['attack']!r}: membership", src["membership"])
        return cls.from_scores(
            d["attack"],
            scores.astype(np.float64),
            membership,
            params=d["params"],
            target=d["target"],
            point_ids=src["point_ids"],
            labels=src.get("labels"),
            seed=d["seed"],
            confidence=d["confidence"],
            delta=d["delta"],
            fpr_levels=levels,
            extras=d.get("extras"),
        )


def _first_bad(a: NDArray[Any], bad: Any) -> Any:
    """The first element of ``a`` where ``bad(a)`` is true (for error messages)."""
    flat = np.asarray(a).ravel()
    try:
        mask = np.asarray(bad(flat), dtype=bool)
    except (TypeError, ValueError):
        return flat[0].item() if flat.size else None
    return flat[int(np.argmax(mask))].item() if mask.any() else None


def _as_int64(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """``values`` as int64, refusing non-integer values instead of truncating them."""
    a = np.asarray(values)
    if (
        a.size
        and a.dtype.kind not in "iu"
        and (a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)))
    ):
        raise ValueError(
            f"{name} must be integers, got "
            f"{_first_bad(a, lambda x: ~np.isfinite(x) | (x != np.round(x)))!r}"
        )
    return a.astype(np.int64)


def _is_number(x: object) -> bool:
    return is_real(x)


def _check_result_fields(d: dict[str, Any]) -> None:
    """Clear errors for a result dict with missing or mistyped fields (a damaged file)."""
    required = ("attack", "params", "target", "seed", "confidence", "delta", "tpr_at_fpr")
    missing = [k for k in required if k not in d]
    name = d.get("attack")
    where = f"result {name!r}"
    if missing:
        raise ValueError(f"{where} lacks {', '.join(repr(k) for k in missing)}")
    if not isinstance(name, str):
        raise ValueError(f"{where}: 'attack' must be a string, got {name!r}")
    if not isinstance(d["params"], dict):
        raise ValueError(f"{where}: 'params' must be a JSON object, got {d['params']!r}")
    if not is_int(d["target"]):
        raise ValueError(f"{where}: 'target' must be an integer, got {d['target']!r}")
    seed = d["seed"]
    if seed is not None and not is_int(seed):
        raise ValueError(f"{where}: 'seed' must be an integer or null, got {seed!r}")
    for key in ("confidence", "delta"):
        if not _is_number(d[key]):
            raise ValueError(f"{where}: {key!r} must be a number, got {d[key]!r}")
    extras = d.get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise ValueError(f"{where}: 'extras' must be a JSON object, got {extras!r}")
    levels = d["tpr_at_fpr"]
    if not isinstance(levels, list) or not all(
        isinstance(t, dict) and _is_number(t.get("level")) for t in levels
    ):
        raise ValueError(
            f"{where}: 'tpr_at_fpr' must be a list of objects with a numeric 'level', "
            f"got {str(levels)[:80]}"
        )
