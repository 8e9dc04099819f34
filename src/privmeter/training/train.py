"""``train_models``: train (or load from the cache) one model per row of a keep matrix."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._progress import ProgressBar
from privmeter._validation import as_membership, check_int, is_int
from privmeter.training._hashing import (
    as_numpy,
    check_seed,
    data_fingerprint,
    indices_fingerprint,
    spawn_seeds,
)
from privmeter.training.executors import Executor, InProcessExecutor
from privmeter.training.store import Store, make_key

__all__ = [
    "EnsembleJob",
    "Progress",
    "Trainer",
    "TrainingJob",
    "ensemble_groups",
    "model_keys",
    "train_models",
]

_LOG = logging.getLogger("privmeter.training")


@runtime_checkable
class Trainer(Protocol):
    """What :func:`train_models` needs from a trainer.

    ``result_kind`` is ``"state_dict"`` (a ``dict[str, Tensor]``, stored with safetensors) or
    ``"object"`` (stored with skops and an allow-list of types; as a pickle only in a store
    opened with ``trust_pickle=True``).
    """

    @property
    def result_kind(self) -> str:
        """``"state_dict"`` or ``"object"``."""
        ...

    def fingerprint(self) -> str:
        """Canonical JSON of the configuration (part of the cache key)."""
        ...

    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> Any:
        """Train one model on ``x[indices], y[indices]`` from ``seed``."""
        ...


@dataclass(frozen=True, eq=False)
class TrainingJob:
    """Train model ``model`` (a row of the keep matrix) with ``seed``."""

    model: int
    seed: int
    indices: NDArray[np.int64]
    key: str

    def describe(self) -> str:
        """Short description for error messages."""
        return f"model {self.model}, seed={self.seed}, key={self.key[:16]}"


@dataclass(frozen=True, eq=False)
class EnsembleJob:
    """Train several models at once with the vectorized ensemble trainer."""

    models: tuple[int, ...]
    seeds: tuple[int, ...]
    indices: tuple[NDArray[np.int64], ...]
    keys: tuple[str, ...]

    def describe(self) -> str:
        """Short description for error messages."""
        return (
            f"ensemble of models {list(self.models)}, seeds={list(self.seeds)}, "
            f"keys={[k[:16] for k in self.keys]}"
        )


def run_training_job(shared: tuple[Any, Any, Any], job: TrainingJob | EnsembleJob) -> Any:
    """Execute one job (the function the executors run; top level so it pickles)."""
    trainer, x, y = shared
    if isinstance(job, EnsembleJob):
        from privmeter.training.ensemble import EnsembleTrainer  # imports torch

        return EnsembleTrainer(trainer).fit(x, y, list(job.indices), seeds=list(job.seeds))
    return trainer.fit(x, y, job.indices, seed=job.seed)


def _check_keep(keep: ArrayLike, n_rows: int) -> NDArray[np.bool_]:
    arr = np.asarray(keep)
    if arr.ndim == 1:
        raise ValueError(
            f"keep must be a 2-D (n_models, n_points) matrix, got shape {arr.shape}; for one "
            "model use keep[None, :]"
        )
    if arr.ndim != 2:
        raise ValueError(f"keep must be a 2-D (n_models, n_points) matrix, got shape {arr.shape}")
    arr = as_membership("keep", arr)
    if arr.shape[1] != n_rows:
        raise ValueError(
            f"keep has {arr.shape[1]} columns but the dataset has {n_rows} rows; there must be "
            "one column per row of x"
        )
    if arr.shape[0] == 0:
        raise ValueError("keep has no rows: nothing to train")
    empty = ~arr.any(axis=1)
    if empty.any():
        raise ValueError(f"model {int(np.argmax(empty))} has no training point (an empty keep row)")
    return arr


def _resolve_seeds(seeds: int | Sequence[int] | NDArray[np.integer[Any]], n: int) -> list[int]:
    if is_int(seeds):
        return spawn_seeds(int(seeds), n)
    seq = list(seeds)  # type: ignore[arg-type]
    if len(seq) != n:
        raise ValueError(f"got {len(seq)} seeds for {n} models; pass one per model or one int")
    return [check_seed(s) for s in seq]


def _check_ensemble_size(ensemble_size: int | None) -> int | None:
    if ensemble_size is None:
        return None
    return check_int("ensemble_size", ensemble_size, minimum=1)


def ensemble_groups(
    keep: ArrayLike, *, ensemble_size: int | None = None
) -> list[tuple[int, ...]]:
    """The fixed ensembles the vectorized engine trains: keep rows grouped by training-set size.

    Models (keep rows) with the same number of training points are grouped in row order and
    cut into consecutive chunks of ``ensemble_size`` (default: one group per size). The
    grouping depends only on the keep matrix and ``ensemble_size``, never on which models are
    already cached: batched matrix products round differently with the number of stacked
    models, so a model is bit-reproducible only in the same group at the same place, and an
    interrupted run retrains whole groups.

    Examples
    --------
    >>> import numpy as np
    >>> keep = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]], dtype=bool)
    >>> ensemble_groups(keep, ensemble_size=2)
    [(0, 2), (4,), (1, 3)]
    """
    arr = np.asarray(keep)
    if arr.ndim != 2:
        raise ValueError(f"keep must be a 2-D (n_models, n_points) matrix, got shape {arr.shape}")
    size = _check_ensemble_size(ensemble_size)
    by_size: dict[int, list[int]] = {}
    for m, n in enumerate(arr.astype(bool).sum(axis=1).tolist()):
        by_size.setdefault(int(n), []).append(m)
    groups: list[tuple[int, ...]] = []
    for members in by_size.values():
        step = size or len(members)
        groups.extend(tuple(members[i : i + step]) for i in range(0, len(members), step))
    return groups


def model_keys(
    trainer: Trainer,
    x: Any,
    y: Any,
    keep: ArrayLike,
    *,
    seeds: int | Sequence[int],
    vectorized: bool = False,
    ensemble_size: int | None = None,
) -> list[str]:
    """The cache keys :func:`train_models` uses for these models (one per keep row).

    A key is the sha256 of the trainer's fingerprint, the data fingerprint (bytes, shapes and
    dtypes of ``x`` and ``y``), the training indices, the seed, the engine (single or
    ensemble: their results agree only to float rounding) and privmeter's version; for the
    ensemble engine also the model's group (:func:`ensemble_groups`: every member's indices
    and seed, and the model's place in it), since the rounding depends on the group.
    """
    n_rows = int(np.shape(as_numpy(x))[0]) if not hasattr(x, "shape") else int(x.shape[0])
    keep_arr = _check_keep(keep, n_rows)
    seed_list = _resolve_seeds(seeds, keep_arr.shape[0])
    groups = ensemble_groups(keep_arr, ensemble_size=ensemble_size) if vectorized else None
    return _keys(trainer, data_fingerprint(x, y), keep_arr, seed_list, groups)


def _keys(
    trainer: Trainer,
    data_fp: str,
    keep: NDArray[np.bool_],
    seeds: list[int],
    groups: list[tuple[int, ...]] | None,
) -> list[str]:
    trainer_fp = trainer.fingerprint()
    engine = "single" if groups is None else "ensemble"
    base = [
        make_key(
            "trained_model",
            trainer=trainer_fp,
            data=data_fp,
            indices=indices_fingerprint(np.flatnonzero(row)),
            n_indices=int(row.sum()),
            seed=seed,
            engine=engine,
        )
        for row, seed in zip(keep, seeds, strict=True)
    ]
    if groups is None:
        return base
    keys = list(base)
    for group in groups:
        members = [base[m] for m in group]
        for position, m in enumerate(group):
            keys[m] = make_key(
                "trained_model", member=base[m], ensemble=members, position=position
            )
    return keys


class Progress(ProgressBar):
    """A tqdm progress bar over models (``Progress(total, initial, enabled, desc=...)``).

    Kept for callers of the earlier helper; new code can use
    :class:`privmeter._progress.ProgressBar` directly.
    """

    def __init__(
        self, total: int, initial: int, enabled: bool | None, *, desc: str = "training",
        unit: str = "model",
    ) -> None:
        super().__init__(total, initial=initial, enabled=enabled, desc=desc, unit=unit)


def is_torch_trainer(trainer: object) -> bool:
    """Whether ``trainer`` is a :class:`TorchTrainer`, without importing torch: an instance can
    only exist once its module has been imported."""
    module = sys.modules.get("privmeter.training.torch_trainer")
    return module is not None and isinstance(trainer, module.TorchTrainer)


def _units(trainer: Trainer, n_points: int) -> int:
    """Progress units of training one model: optimizer steps for trainers that count them
    (PyTorch, language models, Keras), else 1."""
    steps = getattr(trainer, "steps", None)
    if callable(steps):
        return max(1, int(steps(n_points)))
    return 1


def _accepts_progress(executor: Executor) -> bool:
    try:
        return "on_progress" in inspect.signature(executor.map_shared).parameters
    except (TypeError, ValueError):
        return False


def train_models(
    trainer: Trainer,
    x: Any,
    y: Any,
    keep: ArrayLike,
    *,
    seeds: int | Sequence[int],
    store: Store | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    vectorized: bool = False,
    ensemble_size: int | None = None,
) -> list[Any]:
    """Train one model per row of ``keep`` (model ``m`` on ``x[keep[m]]``), with caching.

    Models already in ``store`` are loaded (after an integrity check), the others are trained by
    ``executor`` and written to the store as each finishes, so an interrupted run (even by
    ``kill -9``) resumes where it stopped, and its results are bit-identical to an
    uninterrupted run with every engine and executor. The vectorized engine always trains the
    same fixed groups (:func:`ensemble_groups`), because batched matrix products round
    differently with the number of stacked models: a group with any model missing from the
    cache is retrained as a whole.

    Parameters
    ----------
    trainer : TorchTrainer, SklearnTrainer or any :class:`Trainer`
    x, y : array_like or torch.Tensor
        The whole data pool; ``keep`` selects rows.
    keep : array_like of bool, shape (n_models, n_rows)
        ``keep[m, i]``: model ``m`` trains on row ``i`` (see :func:`keep_matrix`).
    seeds : int or sequence of int
        One seed per model, or one int from which per-model seeds are spawned
        (:meth:`numpy.random.SeedSequence.spawn`).
    store : Store, optional
        Cache. Objects (scikit-learn models) are stored with skops (see :class:`Store`).
    executor : Executor, optional
        Default :class:`InProcessExecutor`. :class:`ProcessExecutor` and
        :class:`RayExecutor` give bit-identical results for the same seeds.
    progress : bool
        Show a tqdm progress bar (when tqdm is installed). Torch models advance it at every
        optimizer step (also from worker processes), other trainers once per model.
    vectorized : bool
        Train torch models with the :class:`EnsembleTrainer` (K models at once): models with
        the same training-set size are grouped, in chunks of ``ensemble_size``
        (:func:`ensemble_groups`).
    ensemble_size : int, optional
        Models per ensemble job (default: a whole size group in one job). Use smaller
        chunks to spread ensembles over several workers, or to lose less work to an
        interruption. Part of the cache keys of the vectorized engine.

    Returns
    -------
    list
        One result per model, in keep-row order: a CPU state dict for
        :class:`TorchTrainer` (load it with ``trainer.build``), a fitted estimator for
        :class:`SklearnTrainer`.

    Raises
    ------
    JobFailedError
        If a training job fails; its message names the model, seed and key. Finished models
        stay cached.
    ValueError
        On a malformed keep matrix or seeds, or ``vectorized=True`` with a non-torch trainer.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from privmeter.training import TorchTrainer, keep_matrix
    >>> def make_model():
    ...     return torch.nn.Linear(3, 2)
    >>> x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)
    >>> trainer = TorchTrainer(make_model, epochs=2, batch_size=4)
    >>> states = train_models(trainer, x, y, keep_matrix(4, 8, seed=0), seeds=0, progress=False)
    >>> len(states), sorted(states[0])
    (4, ['bias', 'weight'])
    """
    if not isinstance(trainer, Trainer):
        raise TypeError(
            f"trainer must have fingerprint(), fit() and result_kind, got {type(trainer)!r}"
        )
    n_rows = int(x.shape[0]) if hasattr(x, "shape") else len(x)
    if (int(y.shape[0]) if hasattr(y, "shape") else len(y)) != n_rows:
        raise ValueError(f"x has {n_rows} rows but y has {len(y)}")
    keep_arr = _check_keep(keep, n_rows)
    n_models = keep_arr.shape[0]
    seed_list = _resolve_seeds(seeds, n_models)
    if vectorized and not is_torch_trainer(trainer):
        raise ValueError(
            f"vectorized=True needs a TorchTrainer (ensemble training), got {type(trainer)!r}"
        )
    ensemble_size = _check_ensemble_size(ensemble_size)
    kind = trainer.result_kind
    if kind not in ("state_dict", "object"):
        raise ValueError(f"unknown result_kind {kind!r}; expected 'state_dict' or 'object'")
    executor = executor if executor is not None else InProcessExecutor()
    indices = [np.flatnonzero(row).astype(np.int64) for row in keep_arr]

    results: list[Any] = [None] * n_models
    groups: list[tuple[int, ...]] = (
        ensemble_groups(keep_arr, ensemble_size=ensemble_size)
        if vectorized
        else [(m,) for m in range(n_models)]
    )
    keys = _keys(
        trainer, data_fingerprint(x, y), keep_arr, seed_list, groups if vectorized else None
    )
    todo: list[tuple[int, ...]] = list(groups)
    if store is not None:
        todo = []
        loaded = 0
        for group in groups:
            found: list[Any] = []
            for m in group:
                cached = (
                    store.get_state_dict(keys[m]) if kind == "state_dict"
                    else store.get_object(keys[m])
                )
                if cached is None:
                    break
                found.append(cached)
            if len(found) == len(group):
                for m, value in zip(group, found, strict=True):
                    results[m] = value
                loaded += len(group)
            else:
                # Retrain the whole group, even its cached members: a model of an ensemble is
                # bit-reproducible only when trained in the same group (see ensemble_groups).
                todo.append(group)
        if loaded:
            _LOG.info("loaded %d of %d models from %s", loaded, n_models, store)

    jobs: list[TrainingJob | EnsembleJob]
    if vectorized:
        jobs = [
            EnsembleJob(
                models=group,
                seeds=tuple(seed_list[m] for m in group),
                indices=tuple(indices[m] for m in group),
                keys=tuple(keys[m] for m in group),
            )
            for group in todo
        ]
    else:
        jobs = [TrainingJob(g[0], seed_list[g[0]], indices[g[0]], keys[g[0]]) for g in todo]

    units = [_units(trainer, len(idx)) for idx in indices]
    job_units = [sum(units[m] for m in group) for group in todo]
    reported = [0] * len(jobs)
    finished = [False] * len(jobs)
    n_done = n_models - sum(len(g) for g in todo)
    by_steps = callable(getattr(trainer, "steps", None))
    bar = ProgressBar(
        sum(units), initial=sum(units) - sum(job_units), enabled=progress, desc="training",
        unit="step" if by_steps else "model",
    )
    if by_steps:
        bar.set_postfix(f"{n_done}/{n_models} models")

    def on_progress(i: int, n: int) -> None:
        # Ticks can arrive late (after the job's result, from another process): clamp them.
        if finished[i]:
            return
        n = min(int(n), job_units[i] - reported[i])
        if n > 0:
            reported[i] += n
            bar.update(n)

    def on_result(i: int, result: Any) -> None:
        nonlocal n_done
        job = jobs[i]
        if isinstance(job, EnsembleJob):
            pairs = list(zip(job.models, result, strict=True))
        else:
            pairs = [(job.model, result)]
        for m, value in pairs:
            if store is not None:
                if kind == "state_dict":
                    store.put_state_dict(keys[m], value)
                else:
                    store.put_object(keys[m], value)
            results[m] = value
        finished[i] = True
        n_done += len(pairs)
        if by_steps:
            bar.set_postfix(f"{n_done}/{n_models} models")
        bar.update(job_units[i] - reported[i])
        reported[i] = job_units[i]

    extra: dict[str, Any] = {}
    if bar.active and _accepts_progress(executor):
        extra["on_progress"] = on_progress
    try:
        executor.map_shared(
            run_training_job, (trainer, x, y), jobs, on_result=on_result, **extra
        )
    finally:
        bar.close()
    return results
