"""``train_models``: train (or load from the cache) one model per row of a keep matrix."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter.training._hashing import (
    as_numpy,
    check_seed,
    data_fingerprint,
    indices_fingerprint,
    spawn_seeds,
)
from privmeter.training.ensemble import EnsembleTrainer
from privmeter.training.executors import Executor, InProcessExecutor
from privmeter.training.store import Store, make_key
from privmeter.training.torch_trainer import TorchTrainer

__all__ = ["EnsembleJob", "Trainer", "TrainingJob", "model_keys", "train_models"]

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
    if arr.dtype != np.bool_:
        if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
            arr = arr.astype(bool)
        else:
            raise ValueError(f"keep must be boolean (or 0/1), got dtype {arr.dtype}")
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
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return spawn_seeds(int(seeds), n)
    seq = list(seeds)  # type: ignore[arg-type]
    if len(seq) != n:
        raise ValueError(f"got {len(seq)} seeds for {n} models; pass one per model or one int")
    return [check_seed(s) for s in seq]


def model_keys(
    trainer: Trainer,
    x: Any,
    y: Any,
    keep: ArrayLike,
    *,
    seeds: int | Sequence[int],
    vectorized: bool = False,
) -> list[str]:
    """The cache keys :func:`train_models` uses for these models (one per keep row).

    A key is the sha256 of the trainer's fingerprint, the data fingerprint (bytes, shapes and
    dtypes of ``x`` and ``y``), the training indices, the seed, the engine (single or
    ensemble: their results agree only to float rounding) and privmeter's version.
    """
    n_rows = int(np.shape(as_numpy(x))[0]) if not hasattr(x, "shape") else int(x.shape[0])
    keep_arr = _check_keep(keep, n_rows)
    seed_list = _resolve_seeds(seeds, keep_arr.shape[0])
    return _keys(trainer, data_fingerprint(x, y), keep_arr, seed_list, vectorized)


def _keys(
    trainer: Trainer,
    data_fp: str,
    keep: NDArray[np.bool_],
    seeds: list[int],
    vectorized: bool,
) -> list[str]:
    trainer_fp = trainer.fingerprint()
    engine = "ensemble" if vectorized else "single"
    return [
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


class Progress:
    """A tqdm progress bar over models, or nothing when disabled or tqdm is absent."""

    def __init__(
        self, total: int, initial: int, enabled: bool, *, desc: str = "training"
    ) -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                _LOG.debug("tqdm is not installed: no progress bar")
            else:
                self._bar = tqdm(total=total, initial=initial, unit="model", desc=desc)

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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
    ``executor`` and written to the store as each finishes, so an interrupted run resumes where
    it stopped and retrains nothing that was complete; with the single-model engine the
    resumed results are bit-identical to an uninterrupted run.

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
        Show a tqdm progress bar (when tqdm is installed).
    vectorized : bool
        Train torch models with the :class:`EnsembleTrainer` (K models at once): models with
        the same training-set size are grouped, in chunks of ``ensemble_size``.
    ensemble_size : int, optional
        Models per ensemble job (default: a whole size group in one job). Use smaller
        chunks to spread ensembles over several workers.

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
    if vectorized and not isinstance(trainer, TorchTrainer):
        raise ValueError(
            f"vectorized=True needs a TorchTrainer (ensemble training), got {type(trainer)!r}"
        )
    if ensemble_size is not None and (isinstance(ensemble_size, bool) or ensemble_size < 1):
        raise ValueError(f"ensemble_size must be a positive integer, got {ensemble_size!r}")
    kind = trainer.result_kind
    if kind not in ("state_dict", "object"):
        raise ValueError(f"unknown result_kind {kind!r}; expected 'state_dict' or 'object'")
    executor = executor if executor is not None else InProcessExecutor()
    indices = [np.flatnonzero(row).astype(np.int64) for row in keep_arr]

    results: list[Any] = [None] * n_models
    keys = _keys(trainer, data_fingerprint(x, y), keep_arr, seed_list, vectorized)
    missing = list(range(n_models))
    if store is not None:
        missing = []
        for m, key in enumerate(keys):
            cached = store.get_state_dict(key) if kind == "state_dict" else store.get_object(key)
            if cached is None:
                missing.append(m)
            else:
                results[m] = cached
        if len(missing) < n_models:
            _LOG.info("loaded %d of %d models from %s", n_models - len(missing), n_models, store)

    jobs: list[TrainingJob | EnsembleJob] = []
    if vectorized:
        groups: dict[int, list[int]] = {}
        for m in missing:
            groups.setdefault(len(indices[m]), []).append(m)
        for members in groups.values():
            size = ensemble_size or len(members)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                jobs.append(
                    EnsembleJob(
                        models=tuple(chunk),
                        seeds=tuple(seed_list[m] for m in chunk),
                        indices=tuple(indices[m] for m in chunk),
                        keys=tuple(keys[m] for m in chunk),
                    )
                )
    else:
        jobs = [TrainingJob(m, seed_list[m], indices[m], keys[m]) for m in missing]

    bar = Progress(n_models, n_models - len(missing), progress)

    def on_result(i: int, result: Any) -> None:
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
        bar.update(len(pairs))

    try:
        executor.map_shared(run_training_job, (trainer, x, y), jobs, on_result=on_result)
    finally:
        bar.close()
    return results
