"""Executors: in-process, local processes, and a real local Ray cluster give the same results."""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from privmeter.training import (
    MLP,
    InProcessExecutor,
    JobFailedError,
    ProcessExecutor,
    RayExecutor,
    SklearnTrainer,
    Store,
    TorchTrainer,
    keep_matrix,
    model_keys,
    train_models,
)
from privmeter.training.executors import describe_job

X = np.random.default_rng(1).normal(size=(80, 6)).astype(np.float32)
Y = ((X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)).astype(np.int64)
KEEP = keep_matrix(4, 80, seed=0)
TORCH = TorchTrainer(MLP((6, 16, 3)), optimizer="adam", lr=1e-2, epochs=3, batch_size=8)


def _sklearn_trainer() -> SklearnTrainer:
    from sklearn.ensemble import RandomForestClassifier

    return SklearnTrainer(RandomForestClassifier(n_estimators=4, max_depth=3))


def _same_states(a: list[Any], b: list[Any]) -> bool:
    return all(
        list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
        for sa, sb in zip(a, b, strict=True)
    )


def _same_forests(a: list[Any], b: list[Any]) -> bool:
    return all(
        np.array_equal(ma.predict_proba(X), mb.predict_proba(X))
        for ma, mb in zip(a, b, strict=True)
    )


class FailOnSeed(TorchTrainer):
    """Fails for the seeds in FAIL (a class attribute, so it is not part of the cache key)."""

    FAIL: frozenset[int] = frozenset()

    def fit(self, x: object, y: object, indices: object, *, seed: int) -> dict[str, torch.Tensor]:
        if seed in self.FAIL:
            raise ValueError(f"refusing seed {seed}")
        return super().fit(x, y, indices, seed=seed)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ in-process
def test_in_process_map_order_callbacks_and_errors() -> None:
    seen: list[tuple[int, float]] = []
    ex = InProcessExecutor()
    assert ex.map(math.sqrt, [4.0, 9.0], on_result=lambda i, r: seen.append((i, r))) == [2.0, 3.0]
    assert seen == [(0, 2.0), (1, 3.0)]
    assert ex.map(math.sqrt, []) == []
    with pytest.raises(JobFailedError, match=r"job 1 \[-1\.0\] failed: ValueError: math domain"):
        ex.map(math.sqrt, [1.0, -1.0, 4.0])
    assert describe_job("x" * 500).endswith("...")


def test_failed_job_leaves_finished_models_cached(tmp_path: Path) -> None:
    trainer = FailOnSeed(MLP((6, 8, 3)), epochs=1)
    store = Store(tmp_path)
    FailOnSeed.FAIL = frozenset({12})
    try:
        with pytest.raises(JobFailedError, match=r"job 2 \[model 2, seed=12, key=[0-9a-f]{16}\]"):
            train_models(trainer, X, Y, KEEP, seeds=[10, 11, 12, 13], store=store, progress=False)
        keys = model_keys(trainer, X, Y, KEEP, seeds=[10, 11, 12, 13])
        assert [store.contains("state_dict", k) for k in keys] == [True, True, False, False]
    finally:
        FailOnSeed.FAIL = frozenset()
    states = train_models(trainer, X, Y, KEEP, seeds=[10, 11, 12, 13], store=store, progress=False)
    assert len(states) == 4


# -------------------------------------------------------------------- process pool
class _Bar:
    """Stands in for train_models' ProgressBar: sums the updates."""

    last: _Bar | None = None
    active = True

    def __init__(self, total: float, *, initial: float = 0, **kwargs: object) -> None:
        self.total, self.n, self.updates = total, initial, 0
        _Bar.last = self

    def update(self, n: float = 1) -> None:
        assert self.n + n <= self.total, "progress beyond the total"
        self.n += n
        self.updates += 1

    def set_postfix(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_process_pool_is_bit_identical_to_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import privmeter.training.train as train_mod

    local = train_models(TORCH, X, Y, KEEP, seeds=3, progress=False)
    local_sk = train_models(_sklearn_trainer(), X, Y, KEEP, seeds=3, progress=False)
    with ProcessExecutor(max_workers=2) as ex:  # one pool, reused by every map
        assert ex.map(math.sqrt, [16.0, 1.0, 9.0]) == [4.0, 1.0, 3.0]
        monkeypatch.setattr(train_mod, "ProgressBar", _Bar)
        pooled = train_models(TORCH, X, Y, KEEP, seeds=3, progress=True, executor=ex)
        monkeypatch.undo()
        bar = _Bar.last
        assert bar is not None and bar.n == bar.total == 4 * 3 * 5  # steps, also from workers
        pooled_sk = train_models(_sklearn_trainer(), X, Y, KEEP, seeds=3, progress=False,
                                 executor=ex)
        with pytest.raises(JobFailedError, match=r"job 1 \[-4\.0\] failed: ValueError: math"):
            ex.map(math.sqrt, [1.0, -4.0])
        with pytest.raises(TypeError, match=r"must be picklable.*not as lambdas"):
            ex.map(lambda v: v, [1])
        # progress ticks from the workers: summed there and sent at most every 0.25 s, so
        # some arrive while the jobs run (the last may come after the result; train_models
        # clamps them)
        got: dict[int, int] = {}

        def on_progress(i: int, n: int) -> None:
            got[i] = got.get(i, 0) + n

        assert ex.map(_ticking, [3, 3], on_progress=on_progress) == [3, 3]
        assert set(got) <= {0, 1} and 1 <= sum(got.values()) <= 6
    assert _same_states(local, pooled)
    assert _same_forests(local_sk, pooled_sk)


def _ticking(n: int) -> int:
    """A job that reports progress ``n`` times, 0.3 s apart."""
    from privmeter._progress import tick

    for _ in range(n):
        time.sleep(0.3)
        tick(1)
    return n


def test_progress_reaches_the_caller_in_process() -> None:
    seen: list[tuple[int, int]] = []
    assert InProcessExecutor().map(_ticking, [2, 1], on_progress=lambda i, n: seen.append((i, n)))
    assert seen == [(0, 1), (0, 1), (1, 1)]


def test_process_executor_arguments() -> None:
    with pytest.raises(ValueError, match=r"max_workers must be a positive integer, got 0"):
        ProcessExecutor(max_workers=0)
    with pytest.raises(ValueError, match=r"unknown start method 'teleport'"):
        ProcessExecutor(start_method="teleport")
    assert ProcessExecutor(max_workers=1).map(math.sqrt, []) == []


# ------------------------------------------------------------------------------ Ray
HAS_RAY = importlib.util.find_spec("ray") is not None


def test_ray_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"pip install privmeter\[ray\]"):
        RayExecutor()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    if not HAS_RAY:
        pytest.skip("ray is not installed (pip install privmeter[ray])")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_ray_is_bit_identical_to_in_process(ray_cluster: Any, tmp_path: Path) -> None:
    ex = RayExecutor()
    assert ray_cluster.is_initialized()
    assert ex.map(math.sqrt, [4.0, 9.0]) == [2.0, 3.0]
    # torch models
    local = train_models(TORCH, X, Y, KEEP, seeds=5, progress=False)
    remote = train_models(TORCH, X, Y, KEEP, seeds=5, progress=False, executor=ex)
    assert _same_states(local, remote)
    # vectorized ensembles spread over the cluster
    local_v = train_models(TORCH, X, Y, KEEP, seeds=5, progress=False, vectorized=True,
                           ensemble_size=2)
    remote_v = train_models(TORCH, X, Y, KEEP, seeds=5, progress=False, vectorized=True,
                            ensemble_size=2, executor=ex)
    assert _same_states(local_v, remote_v)
    # scikit-learn models, cached by the driver (the cluster needs no access to the folder)
    sk = _sklearn_trainer()
    store = Store(tmp_path, trust_pickle=True)
    local_sk = train_models(sk, X, Y, KEEP, seeds=5, progress=False)
    remote_sk = train_models(sk, X, Y, KEEP, seeds=5, progress=False, executor=ex, store=store)
    assert _same_forests(local_sk, remote_sk)
    keys = model_keys(sk, X, Y, KEEP, seeds=5)
    assert all(store.contains("object", k) for k in keys)
    # a failing job names itself
    with pytest.raises(JobFailedError, match=r"job 1 \[-1\.0\] failed: ValueError: math domain"):
        ex.map(math.sqrt, [1.0, -1.0])
    ex.shutdown()  # did not start Ray: leaves the test's cluster running
    assert ray_cluster.is_initialized()
