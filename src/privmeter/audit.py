"""Inference games end to end: split the data, train models, query them, attack, report.

The three games of Ye et al. (2022), "Enhanced Membership Inference Attacks against Machine
Learning Models", ACM CCS:

- ``"model"``: privacy loss of one trained model (a fixed target and its training set);
- ``"algorithm"``: average privacy loss of a training algorithm (models on random halves,
  each the target in turn, results pooled);
- ``"record"``: privacy loss of individual records (models trained with and without each
  record; the rest of the training set random (uniform) or fixed (leave-one-out)).

All expensive work (training, querying) happens in :meth:`Audit.build_table`; the attacks
that follow are pure functions of the resulting :class:`~privmeter.SignalTable`.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import math
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter import __version__
from privmeter.attacks import ScoredAttack, attack_info, run_attack, score_attack
from privmeter.result import AttackResult
from privmeter.table import SignalTable

__all__ = [
    "DEFAULT_ATTACKS",
    "GAMES",
    "REGRESSION_DEFAULT_ATTACKS",
    "Audit",
    "BuiltTable",
    "as_model_access",
    "default_attacks",
]

GAMES = ("model", "algorithm", "record")
DEFAULT_ATTACKS: tuple[str, ...] = ("loss", "population", "reference", "lira", "rmia")
#: Defaults for regression: RMIA's Pr(x | theta) is the probability of the true class
#: (Zarifzadeh et al. 2024), which a regressor does not give; ask for it by name to see why.
REGRESSION_DEFAULT_ATTACKS: tuple[str, ...] = ("loss", "population", "reference", "lira")


def default_attacks(task: str) -> tuple[str, ...]:
    """The attacks an audit runs when none are named: every default attack that the task
    supports (:data:`DEFAULT_ATTACKS`, or :data:`REGRESSION_DEFAULT_ATTACKS` for regression).

    Examples
    --------
    >>> default_attacks("regression")
    ('loss', 'population', 'reference', 'lira')
    """
    return DEFAULT_ATTACKS if task == "classification" else REGRESSION_DEFAULT_ATTACKS
#: Attacks that need no reference model.
_NO_REFERENCE = ("loss", "population")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def as_model_access(model: Any, *, n_classes: int | None, task: str = "classification") -> Any:
    """Wrap a trained model in a model-access adapter (or return an adapter unchanged).

    Accepts a :class:`~privmeter.models.ModelAccess`, a ``torch.nn.Module`` or a fitted
    scikit-learn estimator.
    """
    from privmeter.models import ModelAccess

    if isinstance(model, ModelAccess):
        return model
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            from privmeter.models import TorchModel

            return TorchModel(model, n_classes=n_classes, task=task)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - torch is optional
        pass
    if hasattr(model, "predict") and hasattr(model, "get_params"):
        from privmeter.models import SklearnModel

        return SklearnModel(model)
    raise TypeError(
        f"cannot audit a {type(model).__name__}: pass a torch.nn.Module, a fitted scikit-learn "
        "estimator, or a privmeter.models adapter (BlackBoxModel for an API, LabelOnlyModel for "
        "a label-only API)"
    )


@dataclass(frozen=True)
class _Data:
    x: Any
    y: NDArray[Any]
    name: str
    task: str
    n_classes: int | None
    feature_names: tuple[str, ...] | None
    class_names: tuple[str, ...] | None
    image_shape: tuple[int, ...] | None

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def _check_data(data: _Data) -> _Data:
    """Rows and features must match and be finite: a NaN would silently poison every model."""
    n_x = int(np.shape(data.x)[0]) if np.ndim(data.x) else 0
    if data.y.ndim != 1 or n_x != data.y.shape[0]:
        raise ValueError(
            f"x has {n_x} rows but y has shape {data.y.shape}; one label per row is needed"
        )
    if n_x == 0:
        raise ValueError("the dataset has no rows: an audit needs data to train and attack on")
    x = np.asarray(data.x)
    if x.dtype.kind in "fc":
        bad = ~np.isfinite(x.reshape(n_x, -1)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = ", ".join(str(int(r)) for r in rows[:10]) + (" ..." if rows.size > 10 else "")
            raise ValueError(
                f"features contain NaN or infinite values in {rows.size} rows: {shown}"
            )
    elif x.dtype.kind not in "iub":
        raise ValueError(f"features must be numeric, got dtype {x.dtype}")
    if data.y.dtype.kind == "f" and not np.isfinite(data.y).all():
        raise ValueError(
            f"labels contain NaN or infinite values (first at row "
            f"{int(np.argmax(~np.isfinite(data.y)))})"
        )
    return data


def _as_data(dataset: Any) -> _Data:
    return _check_data(_raw_data(dataset))


def _check_feature_range(data: _Data, dtype: Any, what: str) -> None:
    """Features must stay far enough below the model's float range that training and querying
    cannot overflow: |x| < sqrt(max) of the dtype (1.8e19 for float32), so that squares, sums
    and products with weights stay finite. Names the first offending row and column."""
    x = np.asarray(data.x)
    if x.size == 0 or x.dtype.kind not in "iuf":
        return
    limit = math.sqrt(float(np.finfo(dtype).max))
    if max(abs(float(x.max())), abs(float(x.min()))) < limit:
        return
    flat = x.reshape(x.shape[0], -1)
    row, col = (int(v) for v in np.argwhere(np.abs(flat.astype(np.float64)) >= limit)[0])
    names = data.feature_names
    column = f"column {col}" + (f" ({names[col]!r})" if names and col < len(names) else "")
    raise ValueError(
        f"feature value {float(flat[row, col]):g} at row {row}, {column} is too large for "
        f"{what} ({np.dtype(dtype).name}): values must stay below {limit:.3g} in magnitude "
        "(the square root of the largest float), or training overflows to inf/NaN; rescale "
        "the features"
    )


def _model_dtype(model: Any) -> Any:
    params = getattr(model, "parameters", None)
    if callable(params):
        for prm in params():
            if prm.is_floating_point():
                return np.dtype(str(prm.dtype).removeprefix("torch."))
    return np.float64


def _check_outputs(access: Any, data: _Data, what: str) -> None:
    """Query ``access`` on two rows: the input width must fit, and a classifier needs one
    output per class present in the labels."""
    out = np.asarray(access.outputs(data.x[:2]) if hasattr(access, "outputs")
                     else access.logits(data.x[:2]))
    if data.task != "classification" or data.y.size == 0 or data.y.dtype.kind not in "iub":
        return
    top = int(data.y.max())
    if out.ndim != 2:
        raise ValueError(
            f"{what} outputs shape {tuple(out.shape[1:])} per row; a classifier must return "
            f"one logit per class, shape (n, n_classes) with n_classes > {top}"
        )
    width = int(out.shape[1])
    if width <= top:
        row = int(np.argmax(data.y))
        raise ValueError(
            f"{what} outputs {width} value(s) per row, but the labels go up to {top} (row "
            f"{row}): a classifier needs one logit per class, so labels must lie in "
            f"0..{width - 1}; fix the labels or the model's output size"
        )


def _check_records(records: Any, n: int) -> NDArray[np.int64]:
    """The record game's row indices, sorted: integers in ``[0, n)``, distinct, at least 2."""
    raw = np.asarray(records)
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "iu"):
        raise ValueError(
            f"records must be a number of records or a list of row indices (integers), got "
            f"{records!r}"
        )
    out = raw[(raw < 0) | (raw >= n)]
    if out.size:
        more = f" (and {out.size - 1} more)" if out.size > 1 else ""
        raise ValueError(
            f"records: row index {int(out[0])}{more} is outside the data's rows [0, {n - 1}]"
        )
    recs, counts = np.unique(raw.astype(np.int64), return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"records: row index {int(recs[np.argmax(counts > 1)])} is listed more than once"
        )
    if recs.size < 2:
        raise ValueError(f"records must hold at least 2 row indices, got {recs.size}")
    return recs


def _raw_data(dataset: Any) -> _Data:
    if isinstance(dataset, tuple) and len(dataset) == 2:
        x, y = dataset
        y_arr = np.asarray(y)
        is_cls = y_arr.dtype.kind in "iub"
        return _Data(
            x=np.asarray(x), y=y_arr, name="user data",
            task="classification" if is_cls else "regression",
            n_classes=int(y_arr.max()) + 1 if is_cls and y_arr.size else None,
            feature_names=None, class_names=None, image_shape=None,
        )
    if hasattr(dataset, "x") and hasattr(dataset, "y"):
        return _Data(
            x=dataset.x, y=np.asarray(dataset.y), name=str(getattr(dataset, "name", "dataset")),
            task=str(getattr(dataset, "task", "classification")),
            n_classes=getattr(dataset, "n_classes", None),
            feature_names=getattr(dataset, "feature_names", None),
            class_names=getattr(dataset, "class_names", None),
            image_shape=getattr(dataset, "image_shape", None),
        )
    raise TypeError(
        f"dataset must be a privmeter.datasets.Dataset or an (x, y) tuple, got "
        f"{type(dataset).__name__}"
    )


def _normalise_attacks(
    attacks: Sequence[str | tuple[str, Mapping[str, Any]]] | Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, attack name, params)`` triples; labels are unique (``rmia``, ``rmia#2``...)."""
    items: list[tuple[str, dict[str, Any]]] = []
    if isinstance(attacks, Mapping):
        items = [(str(k), dict(v or {})) for k, v in attacks.items()]
    else:
        for a in attacks:
            if isinstance(a, str):
                items.append((a, {}))
            elif isinstance(a, tuple) and len(a) == 2:
                items.append((str(a[0]), dict(a[1] or {})))
            else:
                raise ValueError(
                    f"each attack must be a name or a (name, params) pair, got {a!r}"
                )
    out: list[tuple[str, str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for name, params in items:
        attack_info(name)  # unknown names fail here, listing the known ones
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}#{seen[name]}"
        out.append((label, name, params))
    if not out:
        raise ValueError("no attack to run: give at least one attack name")
    return out


@dataclass(frozen=True)
class BuiltTable:
    """The expensive half of an audit: the signal table and what produced it."""

    table: SignalTable
    targets: tuple[int, ...]
    card: dict[str, Any]
    timings: dict[str, float]
    audit_rows: NDArray[np.int64]


@dataclass
class Audit:
    """One membership inference audit, end to end.

    Parameters
    ----------
    dataset : Dataset or (x, y)
        All the data the game may use (a :class:`privmeter.datasets.Dataset` or arrays).
    trainer : TorchTrainer or SklearnTrainer, optional
        How the target (when not given) and the reference models are trained: the attacker's
        knowledge of the training algorithm. Without it only ``loss`` and ``population`` run.
    game : {"model", "algorithm", "record"}
        The inference game (Ye et al. 2022), see the module docstring.
    attacks : sequence of names or (name, params), or mapping name -> params, or None
        None (default): :func:`default_attacks` of the task, i.e. loss, population,
        reference, lira, rmia for classification and the same without rmia for regression.
    n_references : int
        Reference models per target (``"model"`` game); in the other games
        ``n_references + 1`` models are trained (rounded up to an even number) and each is the
        target in turn with the others as references.
    online : bool
        ``"model"`` game: reference models train on random halves of the audit points (online,
        the strongest attacker) or only on population data (offline).
    signal : str or Signal or None
        The membership signal; see :func:`privmeter.signals.list_signals`. None (default):
        the logit margin for classification, the squared error for regression.
    augmentations : Augmentation, optional
        Several queries per point (e.g. ``FlipShift`` for images).
    population_fraction : float or None
        Share of the data kept as population points: never trained on by the target, used by
        ``population`` and ``rmia`` (and by offline reference models). None (default): 0.3,
        or 0.6 for the offline ``"model"`` game, whose reference models train on population
        points only and need twice the target's training-set size of them, plus population
        points that no reference trained on, on which RMIA's ``a`` is tuned.
    target_model, target_indices :
        ``"model"`` game with your own trained model: the model (torch module, fitted
        scikit-learn estimator or adapter) and the row indices of its training set in
        ``dataset``. Without them a target is trained on half of the audit points.
    records : int or array of int
        ``"record"`` game: how many records to audit (random) or their row indices.
    leave_one_out : bool
        ``"record"`` game: keep the rest of the training set fixed across models (LOO) instead
        of drawing it at random for each model (uniform).
    seed : int
        Seeds every split, model and attack (children spawned with ``numpy.random.SeedSequence``).
    vectorized : bool
        Train PyTorch models with the vectorized ensemble trainer.
    store : Store or path, optional
        Content-addressed cache of trained models and signals (resumable runs).
    executor : Executor, optional
        Where training jobs run (in-process by default, local processes, or Ray).
    progress : bool
        Progress bars on training and querying.
    confidence, delta :
        Confidence level of every interval; delta of the epsilon lower bound.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privmeter.training import SklearnTrainer
    >>> x, y = load_breast_cancer(return_X_y=True)
    >>> x = (x - x.mean(0)) / x.std(0)
    >>> audit = Audit((x, y), SklearnTrainer(LogisticRegression(max_iter=500)),
    ...               attacks=["loss", "lira"], n_references=4, progress=False)
    >>> report = audit.run()
    >>> [r.attack for r in report.results]
    ['loss', 'lira']
    """

    dataset: Any
    trainer: Any = None
    game: str = "model"
    attacks: Any = None
    n_references: int = 8
    online: bool = True
    signal: Any = None
    augmentations: Any = None
    population_fraction: float | None = None
    target_model: Any = None
    target_indices: ArrayLike | None = None
    records: int | ArrayLike = 20
    leave_one_out: bool = False
    seed: int = 0
    vectorized: bool = True
    store: Any = None
    executor: Any = None
    progress: bool = True
    confidence: float = 0.95
    delta: float = 0.0
    title: str | None = None
    _timings: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.game not in GAMES:
            close = difflib.get_close_matches(str(self.game), GAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown game {self.game!r}{hint}; expected one of {GAMES}")
        self.seed = _check_seed(self.seed)
        if (
            isinstance(self.n_references, bool)
            or not isinstance(self.n_references, (int, np.integer))
            or self.n_references < (0 if self.game == "model" else 1)
        ):
            raise ValueError(
                f"n_references must be a non-negative integer, got {self.n_references!r}"
            )
        frac = self.population_fraction
        if frac is None:
            frac = 0.6 if self.game == "model" and not self.online else 0.3
        if (
            isinstance(frac, bool)
            or not isinstance(frac, (int, float, np.integer, np.floating))
            or not 0.0 < float(frac) < 1.0
        ):
            raise ValueError(f"population_fraction must be in (0, 1), got {frac!r}")
        self._population_fraction = float(frac)
        for name, value, hi in (("confidence", self.confidence, 1.0), ("delta", self.delta, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
                (0.0 < float(value) < hi) if name == "confidence" else (0.0 <= float(value) < hi)
            ):
                interval = "(0, 1)" if name == "confidence" else "[0, 1)"
                raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
        self._data = _as_data(self.dataset)
        self._attacks = _normalise_attacks(
            default_attacks(self._data.task) if self.attacks is None else self.attacks
        )
        self._check_attack_inputs()
        if self.trainer is None:
            needs = [label for label, name, _ in self._attacks if name not in _NO_REFERENCE]
            if self.game != "model" or self.target_model is None:
                raise ValueError(
                    f"game {self.game!r} needs a trainer (to train the "
                    f"{'target and ' if self.game == 'model' else ''}reference models)"
                )
            if needs:
                raise ValueError(
                    f"attacks {needs} need reference models, so a trainer; pass trainer=... or "
                    "use only 'loss' and 'population'"
                )
        if self.target_model is not None and self.game != "model":
            raise ValueError("target_model is only used by the 'model' game")
        if (self.target_model is None) != (self.target_indices is None):
            raise ValueError(
                "target_model and target_indices go together: give the trained model and the "
                "row indices of its training set"
            )
        from privmeter.signals import Signal, get_signal

        signal = self.signal
        if signal is None:
            signal = "logit_margin" if self._data.task == "classification" else "squared_error"
        self._signal = get_signal(signal) if isinstance(signal, str) else signal
        if not isinstance(self._signal, Signal):
            raise TypeError(f"signal must be a name or a Signal, got {self.signal!r}")
        self._check_models()
        store = self.store
        if isinstance(store, (str, bytes)) or hasattr(store, "__fspath__"):
            from privmeter.training import Store

            # a cache folder is data: nothing in it may run code (pickles need an explicit
            # store=Store(path, trust_pickle=True))
            self.store = Store(store)  # type: ignore[arg-type]

    def _check_attack_inputs(self) -> None:
        """Every attack's parameters, and the reference models it needs, before training."""
        from privmeter.attacks._registry import make_params

        for label, name, params in self._attacks:
            try:
                make_params(attack_info(name), dict(params))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"attack {label!r}: {exc}") from None
        if self.game == "model" and self.n_references == 0:
            needs = [label for label, name, _ in self._attacks if name not in _NO_REFERENCE]
            if needs:
                raise ValueError(
                    f"attacks {needs} compare the target with reference models, but "
                    "n_references=0: use n_references >= 1 (e.g. 4), or only 'loss' and "
                    "'population'"
                )

    def _check_models(self) -> None:
        """Before any training: the features fit the model's float type, and the target (or a
        freshly built model) takes this input width and has an output per class."""
        from privmeter.training import TorchTrainer

        d = self._data
        if self.target_model is not None:
            access = as_model_access(self.target_model, n_classes=None, task=d.task)
            _check_feature_range(d, _model_dtype(getattr(access, "module", None)),
                                 "the target model")
            if hasattr(access, "module"):
                _check_outputs(access, d, "the target model")
        if isinstance(self.trainer, TorchTrainer):
            try:
                probe = self.trainer.init_model(0)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise ValueError(
                    f"the model factory cannot build a model: {' '.join(str(exc).split())}"
                ) from None
            _check_feature_range(d, _model_dtype(probe), "the trained models")
            _check_outputs(as_model_access(probe, n_classes=None, task=d.task), d,
                           "the model factory's model")
        elif self.trainer is not None:
            _check_feature_range(d, np.float64, "the trained models")

    # ---------------------------------------------------------------- splits
    def _seeds(self) -> tuple[np.random.Generator, int, int]:
        ss = np.random.SeedSequence(self.seed)
        split, train, query = ss.spawn(3)
        return (
            np.random.default_rng(split),
            int(train.generate_state(1)[0] >> 1),
            int(query.generate_state(1)[0] >> 1),
        )

    def _plan(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], list[int]]:
        """Points of the table (data rows), the keep matrix over them, and the targets.

        Returns ``(audit_rows, population_rows, keep, targets)`` where ``keep`` has one row per
        trained model and one column per data row (not per table point).
        """
        from privmeter.training import keep_matrix

        rng, _, _ = self._seeds()
        d = self._data
        n = d.n
        keep_seed = int(rng.integers(2**31))
        if self.game == "model" and self.target_model is not None:
            members = np.unique(np.asarray(self.target_indices, dtype=np.int64))
            if members.size != np.asarray(self.target_indices).size:
                raise ValueError("target_indices contain duplicates")
            if members.size == 0 or members.min() < 0 or members.max() >= n:
                raise ValueError(
                    f"target_indices must be row indices in [0, {n - 1}], got values from "
                    f"{members.min() if members.size else 'none'} to "
                    f"{members.max() if members.size else 'none'}"
                )
            rest = rng.permutation(np.setdiff1d(np.arange(n), members))
            n_pop = round(self._population_fraction * n)
            n_non = min(members.size, rest.size - n_pop)
            if n_non < 1 or rest.size - n_non < 1:
                raise ValueError(
                    f"not enough points for the model game: {members.size} members of the "
                    f"target, {rest.size} other points, {n_pop} wanted as population; lower "
                    "population_fraction or provide more data"
                )
            audit = np.r_[members, rest[:n_non]]
            pop = rest[n_non:]
            n_refs = self.n_references if self.trainer is not None else 0
            keep = np.zeros((1 + n_refs, n), dtype=bool)
            keep[0, members] = True
            self._add_reference_keep(keep, audit, pop, members.size, keep_seed)
            return audit, pop, keep, [0]

        perm = rng.permutation(n)
        n_pop = round(self._population_fraction * n)
        pop, audit = np.sort(perm[:n_pop]), np.sort(perm[n_pop:])
        min_audit = 4 if self.game != "record" else 6
        if audit.size < min_audit or pop.size < 1:
            raise ValueError(
                f"fewer points than the {self.game!r} game needs: {n} rows give {audit.size} "
                f"audit and {pop.size} population points"
            )
        if self.game == "model":
            keep = np.zeros((1 + self.n_references, n), dtype=bool)
            t = rng.permutation(audit)[: audit.size // 2]
            keep[0, t] = True
            self._add_reference_keep(keep, audit, pop, t.size, keep_seed)
            return audit, pop, keep, [0]

        n_models = self.n_references + 1
        n_models += n_models % 2
        keep = np.zeros((n_models, n), dtype=bool)
        if self.game == "algorithm":
            keep[:, audit] = keep_matrix(n_models, audit.size, seed=keep_seed)
            return audit, pop, keep, list(range(n_models))

        # record game
        if isinstance(self.records, (int, np.integer)) and not isinstance(self.records, bool):
            k = int(self.records)
            if not 2 <= k <= audit.size - 2:
                raise ValueError(
                    f"records must be between 2 and {audit.size - 2} for this data, got {k}"
                )
            recs = np.sort(rng.choice(audit, size=k, replace=False))
        else:
            recs = _check_records(self.records, n)
            pop = np.setdiff1d(pop, recs)
        base = np.setdiff1d(np.setdiff1d(np.arange(n), pop), recs)
        keep[:, recs] = keep_matrix(n_models, recs.size, seed=keep_seed)
        if self.leave_one_out:
            fixed = rng.permutation(base)[: base.size // 2]
            keep[:, fixed] = True
        else:
            keep[:, base] = keep_matrix(n_models, base.size, seed=keep_seed + 1)
        return recs, pop, keep, list(range(n_models))

    def _add_reference_keep(
        self, keep: NDArray[np.bool_], audit: NDArray[np.int64], pop: NDArray[np.int64],
        size: int, seed: int,
    ) -> None:
        """Reference rows of ``keep``: online on halves of the audit points, offline on
        subsets of the population of the target's training-set size."""
        from privmeter.training import keep_matrix

        m = keep.shape[0] - 1
        if m == 0:
            return
        m_even = m + m % 2
        if self.online:
            pool = audit
        else:
            if pop.size < 2 * size:
                raise ValueError(
                    f"offline reference models train on population data only: they need at "
                    f"least {2 * size} population points (twice the target's {size} training "
                    f"points), but there are {pop.size}; raise population_fraction (e.g. 0.6)"
                )
            pool = np.random.default_rng(seed).permutation(pop)[: 2 * size]
        # every pool point, odd pool sizes included (the last point once had no IN model):
        # each point is IN for exactly m_even / 2 of m_even models, so with m >= 2 kept rows
        # every point has at least one IN and one OUT reference model
        keep[1:, pool] = keep_matrix(m_even, pool.size, seed=seed)[:m]

    # ------------------------------------------------------------- expensive
    def build_table(self) -> BuiltTable:
        """Train every model and query it: the signal table of this audit."""
        d = self._data
        audit_rows, pop_rows, keep, targets = self._plan()
        _, train_seed, _ = self._seeds()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        accesses: list[Any] = []
        keys: list[str | None] = []
        train_keep = keep
        if self.target_model is not None:
            accesses.append(as_model_access(self.target_model, n_classes=d.n_classes,
                                            task=d.task))
            keys.append(None)
            train_keep = keep[1:]
        if train_keep.shape[0] > 0:
            models, model_keys = self._train(train_keep, train_seed)
            accesses.extend(models)
            keys.extend(model_keys)
        timings["training"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        rows = np.r_[audit_rows, pop_rows]
        values = self._query(accesses, keys, rows)
        timings["querying"] = time.perf_counter() - t0

        role = np.array(["audit"] * audit_rows.size + ["population"] * pop_rows.size)
        labels = d.y[rows] if d.task == "classification" else None
        sig = self._signal
        table = SignalTable(
            values, keep[:, rows], role=role, labels=labels, kind=sig.kind,
            higher_is_member=sig.higher_is_member, point_ids=rows,
            metadata={"signal": sig.name, "dataset": d.name},
        )
        card = self._card(table, audit_rows, pop_rows, keep, targets)
        t0 = time.perf_counter()
        card["utility"] = self._utility(accesses, rows, keep[:, rows], targets)
        timings["utility"] = time.perf_counter() - t0
        return BuiltTable(table=table, targets=tuple(targets), card=card, timings=timings,
                          audit_rows=audit_rows)

    def _train(self, keep: NDArray[np.bool_], seed: int) -> tuple[list[Any], list[str | None]]:
        from privmeter.training import TorchTrainer, model_keys, train_models

        d = self._data
        is_torch = isinstance(self.trainer, TorchTrainer)
        vectorized = bool(self.vectorized and is_torch)
        states = train_models(
            self.trainer, d.x, d.y, keep, seeds=seed, store=self.store, executor=self.executor,
            progress=self.progress, vectorized=vectorized,
        )
        keys: list[str | None] = list(
            model_keys(self.trainer, d.x, d.y, keep, seeds=seed, vectorized=vectorized)
        )
        if is_torch:
            models = [
                as_model_access(self.trainer.build(s), n_classes=d.n_classes, task=d.task)
                for s in states
            ]
        else:
            models = [as_model_access(s, n_classes=d.n_classes, task=d.task) for s in states]
        return models, keys

    def _query(
        self, models: list[Any], keys: list[str | None], rows: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        from privmeter.signals import compute_signal
        from privmeter.training import make_key
        from privmeter.training._hashing import indices_fingerprint
        from privmeter.training.train import Progress

        d = self._data
        x = d.x[rows]
        y = d.y[rows]
        sig = self._signal
        out: list[NDArray[np.float64]] = []
        cache_parts: dict[str, Any] | None = None
        if self.store is not None:
            # the model key already covers the data (its fingerprint), trainer and seed
            cache_parts = {
                "signal": sig.name,
                "signal_params": {str(k): repr(v) for k, v in sig.params.items()},
                "augmentations": repr(self.augmentations),
                "rows": indices_fingerprint(rows),
            }
        bar = Progress(len(models), 0, self.progress, desc=f"querying {rows.size} points")
        for model, key in zip(models, keys, strict=True):
            cache_key = None
            if cache_parts is not None and key is not None:
                cache_key = make_key("signal", model=key, **cache_parts)
                hit = self.store.get_arrays(cache_key)
                if hit is not None:
                    out.append(hit["values"])
                    bar.update(1)
                    continue
            v = compute_signal(sig, model, x, y, augmentations=self.augmentations)
            v = v if v.ndim == 2 else v[:, None]
            if cache_key is not None:
                self.store.put_arrays(cache_key, {"values": v})
            out.append(v)
            bar.update(1)
        bar.close()
        return np.stack(out)

    def _utility(
        self, models: list[Any], rows: NDArray[np.int64], keep: NDArray[np.bool_],
        targets: list[int],
    ) -> dict[str, Any]:
        """Train and test accuracy (classification) or R^2 and MSE (regression) of the models.

        Each model's train set is the table points it trained on, its test set the others
        (audit non-members and population points). One extra prediction pass per model.
        """
        d = self._data
        x, y = d.x[rows], d.y[rows]
        regression = d.task != "classification"
        per_model: list[dict[str, float | None]] = []
        try:
            for model, mem in zip(models, keep, strict=True):
                per_model.append(_model_utility(model, x, y, mem, regression=regression))
        except (NotImplementedError, ValueError, TypeError) as exc:
            return {"error": f"could not measure the models' utility: {exc}"}
        metric = "R^2" if regression else "accuracy"
        out: dict[str, Any] = {"metric": metric}

        def mean(key: str, idx: Sequence[int]) -> float | None:
            vals = [v for i in idx if (v := per_model[i][key]) is not None]
            return float(np.mean(vals)) if vals else None

        keys = ["train", "test"] + (["train MSE", "test MSE"] if regression else [])
        if self.game == "model":
            tgt, refs = [targets[0]], [i for i in range(len(models)) if i != targets[0]]
            who = "target"
        else:
            tgt, refs, who = list(range(len(models))), [], "models (mean)"
        for k in keys:
            out[f"{who} {k}"] = mean(k, tgt)
        tr, te = out[f"{who} train"], out[f"{who} test"]
        out["generalisation gap"] = None if tr is None or te is None else tr - te
        if refs:
            for k in keys:
                out[f"references (mean) {k}"] = mean(k, refs)
        out["measured on"] = ("each model's training points (train) and the other audit and "
                              "population points (test)")
        return out

    def _card(
        self, table: SignalTable, audit_rows: NDArray[np.int64], pop_rows: NDArray[np.int64],
        keep: NDArray[np.bool_], targets: list[int],
    ) -> dict[str, Any]:
        d = self._data
        sig = self._signal
        access = {"label": "labels only", "proba": "probabilities", "logits": "logits",
                  "grad": "white-box (gradients)"}.get(sig.requires, sig.requires)
        n_refs = table.n_models - 1
        if self.game == "model":
            knowledge = (
                "knows the training algorithm; reference models trained on random halves of "
                "the audited records (online)" if self.online else
                "knows the training algorithm; reference models trained on population data "
                "only (offline)"
            )
            if self.target_model is not None:
                knowledge += "; the target is the user's trained model"
        elif self.game == "algorithm":
            knowledge = ("every model is trained on a random half of the audited records; each "
                         "is the target in turn, the others are its references")
        else:
            knowledge = (
                "models trained with and without each audited record; the rest of the training "
                "set is " + ("fixed (leave-one-out)" if self.leave_one_out else "random (uniform)")
            )
        versions = {"privmeter": __version__, "numpy": np.__version__,
                    "python": platform.python_version()}
        for mod in ("torch", "sklearn", "scipy"):
            with contextlib.suppress(ImportError):
                versions[mod] = __import__(mod).__version__
        trainer = self.trainer
        model_desc = "user-supplied target" if self.target_model is not None else ""
        if trainer is not None:
            inner = getattr(trainer, "model_factory", None) or getattr(trainer, "estimator", None)
            desc = _describe(inner) if inner is not None else type(trainer).__name__
            if hasattr(trainer, "epochs"):
                desc += (f"; {trainer.optimizer}, lr={trainer.lr}, epochs={trainer.epochs}, "
                         f"batch size {trainer.batch_size}, weight decay {trainer.weight_decay}")
            model_desc = (model_desc + "; references: " if model_desc else "") + desc
        mem0 = keep[targets[0], audit_rows]
        return {
            "game": self.game,
            "access level": access,
            "signal": sig.name + (f" ({self.augmentations!r})" if self.augmentations else ""),
            "attacker knowledge": knowledge,
            "reference models per target": n_refs,
            "targets": len(targets),
            "population size": int(pop_rows.size),
            "audited records": int(audit_rows.size),
            "members / non-members (first target)": f"{int(mem0.sum())} / "
                                                    f"{int((~mem0).sum())}",
            "dataset": f"{d.name} ({d.n} rows, {d.task}"
                       + (f", {d.n_classes} classes)" if d.n_classes else ")"),
            "model": model_desc,
            "seed": self.seed,
            "versions": versions,
        }

    # ----------------------------------------------------------------- cheap
    def attack(self, built: BuiltTable) -> list[AttackResult]:
        """Run every attack on a built table (pooled over targets in the multi-target games)."""
        results: list[AttackResult] = []
        skipped: dict[str, str] = {}
        for label, name, user_params in self._attacks:
            params = dict(user_params)
            fields = [p["name"] for p in attack_info(name).parameters()]
            if "online" in fields and "online" not in params:
                # the attack uses the reference models the way they were trained
                params["online"] = self.online if self.game == "model" else True
            targets = self._valid_targets(built)
            try:
                if len(targets) == 1:
                    one = run_attack(name, built.table, target=targets[0],
                                     confidence=self.confidence, delta=self.delta, **params)
                else:
                    # metrics once, on the pooled scores (not once per target as well)
                    scored = [score_attack(name, built.table, target=t, **params)
                              for t in targets]
            except ValueError as exc:
                skipped[label] = str(exc)
                warnings.warn(f"attack {label!r} could not run: {exc}", stacklevel=2)
                continue
            if len(targets) == 1:
                results.append(self._pool(label, [one], built))
            else:
                results.append(self._pool_scored(label, scored))
        if skipped:
            built.card["attacks not run"] = skipped
        return results

    def _valid_targets(self, built: BuiltTable) -> list[int]:
        if len(built.targets) == 1:
            return list(built.targets)
        ok = []
        for t in built.targets:
            mem = built.table.membership[t, built.table.audit_mask]
            if mem.any() and not mem.all():
                ok.append(t)
        return ok

    def _pool(self, label: str, per_target: list[AttackResult], built: BuiltTable) -> AttackResult:
        if len(per_target) == 1:
            r = per_target[0]
            if label == r.attack:
                return r
            return AttackResult.from_scores(
                label, r.scores, r.membership, params=r.params, target=r.target,
                point_ids=r.point_ids, labels=r.labels, seed=r.seed, confidence=r.confidence,
                delta=r.delta, extras=r.extras,
            )
        scored = [
            ScoredAttack(attack=r.attack, target=r.target, scores=r.scores,
                         membership=r.membership, point_ids=r.point_ids, labels=r.labels,
                         params=r.params, seed=r.seed, extras=r.extras)
            for r in per_target
        ]
        return self._pool_scored(label, scored)

    def _pool_scored(self, label: str, per_target: Sequence[ScoredAttack]) -> AttackResult:
        """One result from the scores of several targets (the multi-target games)."""
        from privmeter import metrics

        scores = np.concatenate([r.scores for r in per_target])
        membership = np.concatenate([r.membership for r in per_target])
        ids = np.concatenate([r.point_ids for r in per_target])
        labels = None if per_target[0].labels is None else np.concatenate(
            [r.labels for r in per_target if r.labels is not None]
        )
        extras: dict[str, Any] = {
            "pooled_over_targets": [r.target for r in per_target],
            "per_target_auc": [metrics.auc(r.scores, r.membership) for r in per_target],
        }
        if self.game == "record":
            extras["per_record"] = _per_record(per_target, self.confidence)
        return AttackResult.from_scores(
            label, scores, membership, params=per_target[0].params, target=-1, point_ids=ids,
            labels=labels, confidence=self.confidence, delta=self.delta, extras=extras,
        )

    def run(self) -> Any:
        """Build the table, run the attacks and return an :class:`~privmeter.report.AuditReport`."""
        from privmeter.report import AuditReport, RecordData

        t_all = time.perf_counter()
        built = self.build_table()
        t0 = time.perf_counter()
        results = self.attack(built)
        timings = dict(built.timings)
        timings["attacks"] = time.perf_counter() - t0
        d = self._data
        rows = built.audit_rows
        records = None
        if d.image_shape is not None:
            imgs = np.asarray(d.x[rows], dtype=np.float32).reshape(rows.size, *d.image_shape)
            if imgs.ndim == 4 and imgs.shape[1] in (1, 3):
                imgs = imgs.transpose(0, 2, 3, 1)
                if imgs.shape[-1] == 1:
                    imgs = imgs[..., 0]
            records = RecordData(point_ids=rows, images=imgs, class_names=d.class_names)
        elif np.ndim(d.x) == 2:
            records = RecordData(
                point_ids=rows, features=np.asarray(d.x[rows]), feature_names=d.feature_names,
                class_names=d.class_names,
            )
        timings["total"] = time.perf_counter() - t_all
        card = dict(built.card)
        card["timings (s)"] = {k: round(v, 2) for k, v in timings.items()}
        title = self.title or f"Membership inference audit: {d.name}, {self.game} game"
        not_run = tuple(dict(card.get("attacks not run") or {}).items())
        if not results:
            raise ValueError(
                "no attack could run: " + "; ".join(f"{a}: {why}" for a, why in not_run)
            )
        return AuditReport(results=tuple(results), card=card, records=records, title=title,
                           not_run=not_run)


def _describe(obj: Any) -> str:
    """A readable name for a model factory or estimator (``MLP(64, 10, hidden=(32,))``)."""
    if isinstance(obj, functools.partial):
        args = [repr(a) for a in obj.args] + [f"{k}={v!r}" for k, v in obj.keywords.items()]
        return f"{getattr(obj.func, '__name__', repr(obj.func))}({', '.join(args)})"
    return repr(obj)


def _model_utility(
    model: Any, x: Any, y: NDArray[Any], member: NDArray[np.bool_], *, regression: bool
) -> dict[str, float | None]:
    """Train/test accuracy (or R^2 and MSE) of one model on the rows split by ``member``."""
    if regression:
        pred = np.asarray(model.predict(x), dtype=np.float64).reshape(y.shape[0], -1)
        truth = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        err = ((pred - truth) ** 2).sum(axis=1)
        out: dict[str, float | None] = {}
        for name, mask in (("train", member), ("test", ~member)):
            if mask.sum() < 2:
                out[name] = out[f"{name} MSE"] = None
                continue
            sse = float(err[mask].sum())
            sst = float(((truth[mask] - truth[mask].mean(axis=0)) ** 2).sum())
            out[f"{name} MSE"] = sse / int(mask.sum())
            out[name] = 1.0 - sse / sst if sst > 0 else None
        return out
    try:
        correct = np.argmax(model.logits(x), axis=1) == model.label_index(y)
    except NotImplementedError:  # label-only access
        correct = np.asarray(model.predict(x)) == np.asarray(y)
    return {
        name: (float(correct[mask].mean()) if mask.any() else None)
        for name, mask in (("train", member), ("test", ~member))
    }


def _per_record(per_target: Sequence[ScoredAttack], confidence: float) -> list[dict[str, Any]]:
    """For each audited record: the AUC of telling models with it from models without it.

    The interval is Hoeffding's distribution-free bound for the two-sample U-statistic
    (:func:`privmeter.metrics.auc_hoeffding_ci`): with a handful of models per record an
    asymptotic (DeLong) interval can have width zero, e.g. ``1.000 [1.000, 1.000]`` from
    5 vs 5 models. Records with fewer than 2 models on either side get no interval
    (``"too few models"``).
    """
    from privmeter import metrics

    ids = per_target[0].point_ids
    s = np.stack([r.scores for r in per_target])  # (targets, records)
    m = np.stack([r.membership for r in per_target])
    out = []
    for j, pid in enumerate(ids):
        lab = m[:, j]
        if lab.all() or not lab.any():
            out.append({"point_id": int(pid), "auc": None, "auc_ci": None,
                        "note": "no model trained with it" if not lab.any()
                        else "every model trained with it"})
            continue
        n_in, n_out = int(lab.sum()), int((~lab).sum())
        auc = metrics.auc(s[:, j], lab)
        entry: dict[str, Any] = {"point_id": int(pid), "auc": auc, "n_in": n_in, "n_out": n_out}
        if min(n_in, n_out) < 2:
            entry["auc_ci"] = None
            entry["note"] = "too few models for an interval"
        else:
            entry["auc_ci"] = list(metrics.auc_hoeffding_ci(auc, n_in, n_out,
                                                            confidence=confidence))
            entry["ci_method"] = "hoeffding"
        out.append(entry)
    return out
