"""Attack registry: names to pure functions ``(table, target, params) -> scores``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from privmeter._names import _closest_names
from privmeter._registry import Registry
from privmeter.metrics import DEFAULT_FPR_LEVELS
from privmeter.references import check_keys
from privmeter.result import AttackResult
from privmeter.table import SignalTable

__all__ = ["AttackOutput", "AttackSpec", "ScoredAttack", "attack_info", "list_attacks",
           "register_attack", "run_attack", "score_attack"]

P = TypeVar("P")


@dataclass(frozen=True)
class AttackOutput:
    """What an attack function returns: audit-point scores and optional diagnostics."""

    scores: NDArray[np.float64]
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


AttackFn = Callable[[SignalTable, int, Any], AttackOutput]


@dataclass(frozen=True)
class AttackSpec(Generic[P]):
    """A registered attack: its function, typed parameters and citation.

    ``paper`` is the one-line citation ``privmeter attacks`` prints; ``cites`` are the keys
    of its papers in :data:`privmeter.references.REFERENCES`, and ``title`` (default: the
    name) and ``method`` (default: the summary) describe it in the report's "Methods &
    citations" section (the default attacks always, any other when the report holds its
    results). ``signal`` names the signal the attack runs on whatever the audit's signal is
    (the language-model attacks: ``zlib`` thresholds the ``zlib`` signal), and ``task`` the
    only task it applies to (``None``: any).
    """

    name: str
    fn: Callable[[SignalTable, int, P], AttackOutput]
    params_type: type[P]
    paper: str
    summary: str
    cites: tuple[str, ...] = ()
    title: str = ""
    method: str = ""
    signal: str | None = None
    task: str | None = None

    def parameters(self) -> list[dict[str, Any]]:
        """Name, type, default and help text of each parameter."""
        out = []
        for f in dataclasses.fields(self.params_type):  # type: ignore[arg-type]
            default = f.default if f.default is not dataclasses.MISSING else None
            out.append(
                {
                    "name": f.name,
                    "type": str(f.type),
                    "default": default,
                    "help": f.metadata.get("help", ""),
                }
            )
        return out


_REGISTRY: Registry[AttackSpec[Any]] = Registry("attack")


def register_attack(spec: AttackSpec[Any], *, overwrite: bool = False) -> AttackSpec[Any]:
    """Add an attack to the registry under ``spec.name`` and return it.

    Raises
    ------
    ValueError
        If the name is taken and ``overwrite`` is False, or ``spec.cites`` holds a key
        that is not in :data:`privmeter.references.REFERENCES`.
    """
    if not isinstance(spec, AttackSpec):
        raise TypeError(f"expected an AttackSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY and not overwrite:
        _REGISTRY.register(spec.name, spec)  # raises: already registered
    check_keys(spec.cites, owner=f"attack {spec.name!r}")
    return _REGISTRY.register(spec.name, spec, overwrite=overwrite)


def list_attacks() -> list[str]:
    """Names of the registered attacks, sorted.

    Examples
    --------
    >>> import privmeter as pm
    >>> [a for a in pm.list_attacks() if a in ("lira", "loss", "rmia", "zlib")]
    ['lira', 'loss', 'rmia', 'zlib']
    """
    return _REGISTRY.names()


def attack_info(name: str) -> AttackSpec[Any]:
    """The registry entry of an attack (raises ``ValueError`` listing the known names).

    Examples
    --------
    >>> attack_info("lria")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown attack 'lria' (did you mean 'lira' or 'rmia'?); known attacks: ...
    """
    return _REGISTRY.get(name)


def make_params(spec: AttackSpec[P], params: dict[str, Any]) -> P:
    """Build the attack's typed parameter object, rejecting unknown names."""
    names = [f.name for f in dataclasses.fields(spec.params_type)]  # type: ignore[arg-type]
    unknown = [k for k in params if k not in names]
    if unknown:
        k = unknown[0]
        close = _closest_names(k, names)
        hint = f" (did you mean {close}?)" if close else ""
        raise ValueError(
            f"unknown parameter {k!r} for attack {spec.name!r}{hint}; "
            f"its parameters are: {', '.join(names) or 'none'}"
        )
    return spec.params_type(**params)


def run_attack(
    name: str,
    table: SignalTable,
    target: int = 0,
    *,
    confidence: float = 0.95,
    delta: float = 0.0,
    fpr_levels: tuple[float, ...] = DEFAULT_FPR_LEVELS,
    **params: Any,
) -> AttackResult:
    """Run a registered attack against model ``target`` of ``table`` and score it.

    Parameters
    ----------
    name : str
        Attack name (see :func:`list_attacks`).
    table : SignalTable
        Signals of the target and the reference models.
    target : int
        Index of the target model; every other model is a reference model.
    confidence : float
        Confidence level of the intervals in the result.
    delta : float
        Delta of the empirical epsilon lower bound.
    fpr_levels : tuple of float
        FPR levels at which the result reports TPR.
    **params
        The attack's parameters (see ``attack_info(name).parameters()``).

    Returns
    -------
    AttackResult

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> membership = rng.random((4, 200)) < 0.5
    >>> values = rng.normal(size=(4, 200)) + 2.0 * membership
    >>> res = pm.run_attack("loss", pm.SignalTable(values, membership), target=0)
    >>> res.auc > 0.8
    True
    """
    scored = score_attack(name, table, target, **params)
    return AttackResult.from_scores(
        name,
        scored.scores,
        scored.membership,
        params=scored.params,
        target=scored.target,
        point_ids=scored.point_ids,
        labels=scored.labels,
        seed=scored.seed,
        confidence=confidence,
        delta=delta,
        fpr_levels=fpr_levels,
        extras=scored.extras,
    )


@dataclass(frozen=True)
class ScoredAttack:
    """An attack's scores with their ground truth, before any metric is computed."""

    attack: str
    target: int
    scores: NDArray[np.float64]
    membership: NDArray[np.bool_]
    point_ids: NDArray[np.int64]
    labels: NDArray[np.int64] | None
    params: dict[str, Any]
    seed: int | None
    extras: dict[str, Any]


def score_attack(name: str, table: SignalTable, target: int = 0, **params: Any) -> ScoredAttack:
    """Run a registered attack and return its scores without computing metrics.

    The validation and scoring half of :func:`run_attack`; games that pool many targets
    score each one with this and compute the metrics once on the pooled scores.
    """
    spec = attack_info(name)
    if not isinstance(table, SignalTable):
        raise TypeError(f"table must be a SignalTable, got {type(table).__name__}")
    t = table.check_target(target)
    p = make_params(spec, params)
    out = spec.fn(table, t, p)
    audit = table.audit_mask
    n_audit = int(audit.sum())
    if out.scores.shape != (n_audit,):
        raise RuntimeError(
            f"attack {name!r} returned scores of shape {out.scores.shape}, expected ({n_audit},)"
        )
    return ScoredAttack(
        attack=name,
        target=t,
        scores=out.scores,
        membership=table.membership[t, audit],
        point_ids=table.point_ids[audit],
        labels=None if table.labels is None else table.labels[audit],
        params=dataclasses.asdict(p),  # type: ignore[call-overload]
        seed=getattr(p, "seed", None),
        extras=out.extras,
    )
