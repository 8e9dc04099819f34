"""Shadow-model attack (Shokri et al. 2017): a classifier learns IN/OUT from reference models."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter._validation import check_int, check_seed
from privmeter.attacks._common import reference_models
from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.attacks.lira import _first_k
from privmeter.table import SignalTable

__all__ = ["ShadowParams", "shadow_attack"]

_CLASSIFIERS = ("logistic", "gradient_boosting")


@dataclass(frozen=True)
class ShadowParams:
    """Parameters of the shadow-model attack."""

    classifier: str = field(
        default="gradient_boosting",
        metadata={"help": "attack model: 'logistic' or 'gradient_boosting' (scikit-learn)"},
    )
    per_class: bool = field(
        default=True,
        metadata={"help": "one attack model per class label (the paper's choice) or one global"},
    )
    max_train: int = field(
        default=200_000,
        metadata={"help": "at most this many (model, point) pairs to fit each attack model"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the subsampling and the model"})

    def __post_init__(self) -> None:
        if self.classifier not in _CLASSIFIERS:
            raise ValueError(
                f"classifier must be one of {_CLASSIFIERS}, got {self.classifier!r}"
            )
        object.__setattr__(self, "max_train", check_int("max_train", self.max_train, minimum=2))
        object.__setattr__(self, "seed", check_seed(self.seed))


def _single_threaded() -> Any:
    """Limit the attack models' OpenMP threads to one while they fit and predict.

    Shadow data is small (at most ``max_train`` rows), so threads gain nothing, and
    scikit-learn's gradient boosting with OpenMP threads that compete with another busy
    process on the same cores ran 400x slower (0.25 s -> 108 s for 6 models x 300 points on
    2 cores).
    """
    try:
        import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime before limiting it)
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - _make_model names the missing extra
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


def _make_model(params: ShadowParams) -> Any:
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
    except ImportError:  # pragma: no cover - sklearn is an optional dependency
        raise ImportError(
            "the shadow attack needs scikit-learn: pip install 'privmeter[sklearn]'"
        ) from None
    if params.classifier == "logistic":
        return LogisticRegression(max_iter=1000)
    return HistGradientBoostingClassifier(max_iter=100, random_state=params.seed)


def _features(phi: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-query signals plus their mean and spread (invariant to the query order)."""
    if phi.shape[-1] == 1:
        return phi
    return np.concatenate(
        [phi, phi.mean(axis=-1, keepdims=True), phi.std(axis=-1, keepdims=True)], axis=-1
    )


def shadow_attack(table: SignalTable, target: int, params: ShadowParams) -> AttackOutput:
    """Learn membership from the reference ("shadow") models, then apply it to the target.

    Shokri, Stronati, Song & Shmatikov (2017), "Membership Inference Attacks Against Machine
    Learning Models", IEEE S&P. Every reference model is a shadow model: its signals on the
    table's points, labelled with its own membership, train an attack classifier (one per class
    label, as in the paper, when labels are known); the classifier's IN probability on the
    target's signals is the score. Features are the per-query signals on the logit scale (plus
    their mean and spread with several queries). The target's membership is never used. The
    shadow data are all of the table's points (any role) under every reference model, balanced
    per point (as many IN as OUT examples of each point, so that the design's IN share of a
    point cannot leak the target's membership), so offline references (OUT for every audit
    point) learn from the population or reference-role points they trained on; a table on which
    the reference models' membership is one-sided raises instead of scoring every point 0.5, and
    a class whose shadow data is one-sided is scored by one attack model trained on every class.
    With one query and a global logistic model this ranks like LOSS; its strength is
    class-dependent thresholds. References that are points' own IN/OUT models (LiRA, RMIA) are
    usually far stronger.

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> mem = rng.random((5, 400)) < 0.5
    >>> vals = rng.normal(size=(5, 400)) + 2.0 * mem
    >>> res = pm.run_attack("shadow", pm.SignalTable(vals, mem), target=0)
    >>> res.auc > 0.8
    True
    """
    phi = table.logit_margin()
    refs = reference_models(table, target)
    if refs.size == 0:
        raise ValueError("the shadow attack needs at least one reference (shadow) model")
    shadow_mem = table.membership[refs]
    if shadow_mem.all() or not shadow_mem.any():
        side = "member of" if shadow_mem.all() else "non-member of"
        raise ValueError(
            f"the shadow attack learns from the reference models' membership, but every point "
            f"of the table is a {side} every reference model ({refs.size} models, "
            f"{table.n_points} points), so there is nothing to learn; add points the "
            "reference models trained on (e.g. their training data, role='reference') with "
            "their membership, or use references trained on halves of the audited points"
        )
    audit = np.flatnonzero(table.audit_mask)
    labels = table.labels
    rng = np.random.default_rng(params.seed)
    every = np.arange(table.n_points)

    # Per point, as many IN as OUT shadow examples (the first ones of the larger side are
    # kept): with a balanced design and the target left out (algorithm and record games) the
    # references' IN share of a point moves against the target's membership, and an attack
    # model fitted on those very points learns that (a null table gave AUC 0.37).
    n_in = shadow_mem.sum(axis=0)
    k = np.minimum(n_in, refs.size - n_in)
    use = _first_k(shadow_mem, k) | _first_k(~shadow_mem, k)
    if not use.any():
        raise ValueError(
            "the shadow attack needs points that some reference model trained on and another "
            f"did not (balanced shadow data); with {refs.size} reference model(s) no point of "
            "the table is both IN and OUT; train more reference models"
        )

    def fit(pts: NDArray[np.int64]) -> Any:
        sel = use[:, pts]
        x_train = _features(phi[refs][:, pts, :])[sel]
        y_train = shadow_mem[:, pts][sel]
        if x_train.shape[0] > params.max_train:
            keep = rng.choice(x_train.shape[0], size=params.max_train, replace=False)
            x_train, y_train = x_train[keep], y_train[keep]
        if y_train.all() or not y_train.any():
            return None
        return _make_model(params).fit(x_train, y_train)

    groups: list[tuple[Any, NDArray[np.int64]]]
    if params.per_class and labels is not None:
        groups = [(int(c), np.flatnonzero(labels == c)) for c in np.unique(labels[audit])]
    else:
        groups = [(None, every)]
    scores = np.full(table.n_points, np.nan)
    global_model: Any = None
    fallback: list[Any] = []
    with _single_threaded():
        for cls, pts in groups:
            target_pts = np.intersect1d(pts, audit)
            model = fit(pts)
            if model is None:
                # this class's shadow data is one-sided: use one attack model for all classes
                # (scoring it 0.5 would hide its members)
                fallback.append(cls)
                if global_model is None:
                    global_model = fit(every)
                if global_model is None:  # pragma: no cover - excluded by the check above
                    raise ValueError("the shadow attack found no member and non-member to learn")
                model = global_model
            x_target = _features(phi[target][target_pts][None])[0]
            scores[target_pts] = model.predict_proba(x_target)[:, 1]
    extras: dict[str, Any] = {"n_shadow_models": int(refs.size), "attack_models": len(groups)}
    if fallback:
        extras["classes_scored_by_the_global_attack_model"] = fallback
    return AttackOutput(np.asarray(scores[audit], dtype=np.float64), extras)


register_attack(
    AttackSpec(
        name="shadow",
        fn=shadow_attack,
        params_type=ShadowParams,
        paper="Shokri et al., Membership Inference Attacks Against Machine Learning Models, "
        "IEEE S&P 2017",
        summary="attack classifier trained on the reference (shadow) models' signals and "
        "membership, applied to the target",
        cites=("shokri2017",),
        title="Shadow models",
        method="A classifier trained on shadow models' outputs to tell members from non-members.",
    )
)
