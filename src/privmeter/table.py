"""The signal table: every model's signal on every point, with the membership ground truth.

Everything expensive (training, querying models) happens before a :class:`SignalTable`
exists; everything after it (attacks, metrics, reports) is a cheap pure function of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from privmeter._validation import as_membership, is_int
from privmeter.signals.numerics import (
    SIGNAL_KINDS,
    SignalKind,
    _logit_margin_from_loss,
    _softplus,
    check_class_labels,
    logit_margin_from_logits,
    logit_margin_from_proba,
)

__all__ = [
    "ROLES",
    "SIGNAL_KINDS",
    "SignalTable",
    "logit_margin_from_logits",
    "logit_margin_from_proba",
]

_T = TypeVar("_T")

_ROLE_AUDIT = "audit"
_ROLE_POPULATION = "population"
_ROLE_REFERENCE = "reference"
#: The point roles a table accepts (see :class:`SignalTable`).
ROLES = (_ROLE_AUDIT, _ROLE_POPULATION, _ROLE_REFERENCE)


def _first_indices(mask: NDArray[np.bool_], limit: int = 5) -> str:
    idx = np.argwhere(mask)[:limit]
    parts = [str(tuple(int(v) for v in row)) if len(row) > 1 else str(int(row[0])) for row in idx]
    more = " ..." if int(mask.sum()) > limit else ""
    return ", ".join(parts) + more


@dataclass(frozen=True, eq=False)
class SignalTable:
    """Signals of several models on a common set of points, and who trained on what.

    Parameters
    ----------
    values : array_like of shape (n_models, n_points) or (n_models, n_points, n_queries)
        ``values[m, i, q]`` is model ``m``'s signal on point ``i`` under query ``q``: one query
        per augmentation of the point (``n_queries`` = the number of augmentations, 1 without;
        a repeated query of the same point counts as one). Stored as float64.
    membership : array_like of bool, shape (n_models, n_points)
        True where point ``i`` was in model ``m``'s training set.
    role : array_like of str, shape (n_points,), optional
        ``"audit"`` (the point whose membership is inferred), ``"population"`` (a point
        drawn from the same distribution, used by attacks for calibration; it must not be a
        member of the target; reference models may have trained on it) or ``"reference"`` (a
        point seen only through the reference models, typically their training data when they
        were trained outside the audited data: its reference-model membership tunes RMIA's
        offline ``a`` and trains shadow attack models; the target's value and membership on
        it are never used, so any finite value will do). Default: every point is an audit
        point.
    labels : array_like of int, shape (n_points,), optional
        Class label of each point (used for per-class figures).
    groups : array_like, shape (n_points,), optional
        Any per-point grouping (e.g. a sensitive attribute) for subgroup figures.
    kind : {"logit_margin", "probability", "loss", "custom"}
        What the values are (see :data:`SIGNAL_KINDS`). Default ``"logit_margin"``.
    higher_is_member : bool, optional
        Orientation of the signal. Fixed by ``kind`` except for ``"custom"``, where it must be
        given.
    point_ids : array_like of int, shape (n_points,), optional
        Identifiers of the points in the user's dataset (default ``0..n_points-1``).
    metadata : dict, optional
        Free-form JSON-serialisable description (signal name, temperature, models, ...).

    Raises
    ------
    ValueError
        On shape mismatches, NaN or infinite values (with their count and first index),
        probabilities outside ``[0, 1]``, negative losses, unknown roles or kinds, or a table
        with no audit point.

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> values = np.array([[2.0, -1.0, 0.5], [1.5, 0.3, -0.2]])
    >>> membership = np.array([[True, False, True], [False, True, True]])
    >>> table = pm.SignalTable(values, membership)
    >>> table.n_models, table.n_points, table.n_queries
    (2, 3, 1)
    >>> table.kind
    'logit_margin'
    """

    values: NDArray[np.float64]
    membership: NDArray[np.bool_]
    role: NDArray[np.str_] = field(default=None)  # type: ignore[arg-type]
    labels: NDArray[np.int64] | None = None
    groups: NDArray[Any] | None = None
    kind: SignalKind = "logit_margin"
    higher_is_member: bool | None = None
    point_ids: NDArray[np.int64] = field(default=None)  # type: ignore[arg-type]
    metadata: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.dtype == object or not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"values must be numeric, got dtype {values.dtype}")
        values = np.array(values, dtype=np.float64, copy=True)
        if values.ndim == 2:
            values = values[:, :, None]
        if values.ndim != 3:
            raise ValueError(
                "values must have shape (n_models, n_points) or (n_models, n_points, n_queries),"
                f" got shape {values.shape}"
            )
        n_models, n_points, n_queries = values.shape
        if n_models == 0 or n_points == 0 or n_queries == 0:
            raise ValueError(f"values must not be empty, got shape {values.shape}")
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"values contain {int(bad.sum())} NaN or infinite entries; first at "
                f"(model, point, query) = {_first_indices(bad, 1)}"
            )

        membership = as_membership("membership", self.membership)
        membership = np.array(membership, dtype=bool, copy=True)
        if membership.shape != (n_models, n_points):
            raise ValueError(
                f"membership has shape {membership.shape} but values imply "
                f"(n_models, n_points) = {(n_models, n_points)}"
            )

        if self.kind not in SIGNAL_KINDS:
            raise ValueError(f"unknown signal kind {self.kind!r}; expected one of {SIGNAL_KINDS}")
        orientation = {"logit_margin": True, "probability": True, "loss": False}
        if self.kind == "custom":
            if self.higher_is_member is None:
                raise ValueError(
                    "kind='custom' needs higher_is_member=True or False (the signal's "
                    "orientation)"
                )
            higher = bool(self.higher_is_member)
        else:
            higher = orientation[self.kind]
            if self.higher_is_member is not None and bool(self.higher_is_member) != higher:
                raise ValueError(
                    f"kind={self.kind!r} has higher_is_member={higher}; got "
                    f"higher_is_member={self.higher_is_member}"
                )
        if self.kind == "probability":
            out = (values < 0.0) | (values > 1.0)
            if out.any():
                raise ValueError(
                    f"probabilities must lie in [0, 1]; {int(out.sum())} values do not, first at "
                    f"(model, point, query) = {_first_indices(out, 1)} with value "
                    f"{float(values[out][0])!r}"
                )
        if self.kind == "loss":
            neg = values < 0.0
            if neg.any():
                raise ValueError(
                    f"losses must be non-negative; {int(neg.sum())} values are negative, first "
                    f"at (model, point, query) = {_first_indices(neg, 1)} with value "
                    f"{float(values[neg][0])!r}"
                )

        if self.role is None:
            role = np.full(n_points, _ROLE_AUDIT, dtype="<U10")
        else:
            role = np.asarray(self.role).astype(str)
            if role.shape != (n_points,):
                raise ValueError(f"role has shape {role.shape}, expected ({n_points},)")
            unknown = ~np.isin(role, ROLES)
            if unknown.any():
                raise ValueError(
                    "role must be 'audit', 'population' or 'reference'; got "
                    f"{str(role[unknown][0])!r} at point {int(np.argmax(unknown))}"
                )
            role = role.astype("<U10")
        if not (role == _ROLE_AUDIT).any():
            raise ValueError(
                "the table has no audit point (every role is 'population' or 'reference')"
            )

        labels = None
        if self.labels is not None:
            labels_arr = np.asarray(self.labels)
            if labels_arr.shape != (n_points,):
                raise ValueError(f"labels has shape {labels_arr.shape}, expected ({n_points},)")
            labels = np.array(check_class_labels(labels_arr), dtype=np.int64, copy=True)

        groups = None
        if self.groups is not None:
            groups = np.array(self.groups, copy=True)
            if groups.shape != (n_points,):
                raise ValueError(f"groups has shape {groups.shape}, expected ({n_points},)")

        if self.point_ids is None:
            point_ids = np.arange(n_points, dtype=np.int64)
        else:
            point_ids = np.array(self.point_ids, dtype=np.int64, copy=True)
            if point_ids.shape != (n_points,):
                raise ValueError(f"point_ids has shape {point_ids.shape}, expected ({n_points},)")

        for arr in (values, membership, role, point_ids, labels, groups):
            if arr is not None:
                arr.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "membership", membership)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "higher_is_member", higher)
        object.__setattr__(self, "point_ids", point_ids)
        object.__setattr__(self, "metadata", dict(self.metadata))

    def __getstate__(self) -> dict[str, Any]:
        # cached conversions are derived data: do not ship them with a pickled table
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def cached(self, key: str, compute: Callable[[], _T]) -> _T:
        """``compute()``, computed once per table and key (arrays are returned read-only).

        The table is immutable, so a conversion of its values (the logit margin, log
        probabilities, ...) never changes: attacks run once per target in the multi-target
        games would otherwise convert the whole table for every target (O(M^2 N) work for M
        models). Keys are private to privmeter (``"logit_margin"``, ``"log_proba:T"``, ...).
        """
        cache = self._cache
        if key in cache:
            return cast(_T, cache[key])
        value: Any = compute()
        if isinstance(value, np.ndarray) and value.flags.writeable:
            if not value.flags.owndata:
                value = value.copy()
            value.setflags(write=False)
        cache[key] = value
        return cast(_T, value)

    # ------------------------------------------------------------------ shape
    @property
    def n_models(self) -> int:
        """Number of models (target candidates and references)."""
        return int(self.values.shape[0])

    @property
    def n_points(self) -> int:
        """Number of points (audit and population)."""
        return int(self.values.shape[1])

    @property
    def n_queries(self) -> int:
        """Number of queries per point: one per augmentation (1 without augmentations)."""
        return int(self.values.shape[2])

    @property
    def audit_mask(self) -> NDArray[np.bool_]:
        """Boolean mask of the audit points (read-only)."""
        return self.cached("mask:audit", lambda: self.role == _ROLE_AUDIT)

    @property
    def population_mask(self) -> NDArray[np.bool_]:
        """Boolean mask of the population points (read-only)."""
        return self.cached("mask:population", lambda: self.role == _ROLE_POPULATION)

    @property
    def reference_mask(self) -> NDArray[np.bool_]:
        """Boolean mask of the reference-only points (read-only)."""
        return self.cached("mask:reference", lambda: self.role == _ROLE_REFERENCE)

    def __repr__(self) -> str:
        n_ref = int(self.reference_mask.sum())
        ref = f", reference={n_ref}" if n_ref else ""
        return (
            f"SignalTable(n_models={self.n_models}, n_points={self.n_points} "
            f"(audit={int(self.audit_mask.sum())}, population={int(self.population_mask.sum())}"
            f"{ref}), n_queries={self.n_queries}, kind={self.kind!r})"
        )

    # ------------------------------------------------------------ conversions
    def oriented(self) -> NDArray[np.float64]:
        """Values oriented so that higher means more member-like (read-only; cached)."""
        if self.higher_is_member:
            return self.values
        return self.cached("oriented", lambda: -self.values)

    def logit_margin(self) -> NDArray[np.float64]:
        """The signal on the logit scale ``phi = log p - log(1 - p)``.

        Exact for ``"logit_margin"``; derived from ``p`` for ``"probability"`` (a probability of
        exactly 0 or 1 maps to a large finite value, clipped at ``+-745``) and from the
        cross-entropy ``loss = softplus(-phi)`` for ``"loss"``. For ``"custom"`` the oriented
        values are returned unchanged (the attacks then treat them as already on a
        Gaussian-friendly scale). Computed once per table (read-only).
        """
        if self.kind == "logit_margin":
            return self.values
        return self.cached("logit_margin", self._logit_margin)

    def _logit_margin(self) -> NDArray[np.float64]:
        if self.kind == "probability":
            return logit_margin_from_proba(self.values)
        if self.kind == "loss":
            return _logit_margin_from_loss(self.values)
        return self.oriented()

    def log_proba(self, temperature: float = 1.0) -> NDArray[np.float64]:
        """Log true-class probability ``log sigmoid(phi / T)`` (``T`` a temperature).

        For ``"custom"`` signals, raises: a probability cannot be derived from them. Computed
        once per table and temperature (read-only).
        """
        if self.kind == "custom":
            raise ValueError(
                "this attack needs probabilities, but the table holds a 'custom' signal; "
                "build the table with kind='logit_margin', 'probability' or 'loss'"
            )
        if temperature <= 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
        t = float(temperature)

        def compute() -> NDArray[np.float64]:
            if self.kind == "probability" and t == 1.0:
                with np.errstate(divide="ignore"):
                    return np.asarray(np.log(self.values))
            return -_softplus(-self.logit_margin() / t)

        return self.cached(f"log_proba:{t!r}", compute)

    def subset_models(self, models: Sequence[int] | NDArray[np.int64]) -> SignalTable:
        """A new table with only the given models (in that order)."""
        idx = np.asarray(models, dtype=np.int64)
        return SignalTable(
            self.values[idx],
            self.membership[idx],
            role=self.role,
            labels=self.labels,
            groups=self.groups,
            kind=self.kind,
            higher_is_member=self.higher_is_member,
            point_ids=self.point_ids,
            metadata=self.metadata,
        )

    def check_target(self, target: int) -> int:
        """Validate a target model index for an attack and return it as an ``int``.

        Raises
        ------
        ValueError
            If the index is out of range, if the target has no member or no non-member among
            the audit points, or if a population point is a member of the target.
        """
        if not is_int(target):
            raise ValueError(f"target must be an integer model index, got {target!r}")
        t = int(target)
        if not 0 <= t < self.n_models:
            raise ValueError(
                f"target={t} is out of range: the table has {self.n_models} models "
                f"(valid indices 0..{self.n_models - 1})"
            )
        mem = self.membership[t, self.audit_mask]
        if not mem.any():
            raise ValueError(f"target model {t} has no member among the audit points")
        if mem.all():
            raise ValueError(f"target model {t} has no non-member among the audit points")
        pop_in = self.membership[t] & self.population_mask
        if pop_in.any():
            raise ValueError(
                f"{int(pop_in.sum())} population points are members of target model {t} "
                f"(first: {_first_indices(pop_in)}); population points must be disjoint from "
                "the target's training set"
            )
        return t
