"""Keep matrices, the PyTorch / ensemble / scikit-learn trainers, and train_models."""

from __future__ import annotations

import functools
import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from privmeter.training import (
    MLP,
    EnsembleTrainer,
    JobFailedError,
    SklearnTrainer,
    Store,
    TorchTrainer,
    keep_matrix,
    model_keys,
    target_membership,
    train_models,
)
from privmeter.training.torch_trainer import compute_loss, stacked_loss


# ----------------------------------------------------------------------------- data
def _blobs(
    n: int = 120, d: int = 6, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, d))
    y = np.arange(n) % classes
    x = centers[y] + rng.normal(size=(n, d))
    return x.astype(np.float32), y.astype(np.int64)


X, Y = _blobs()
SMALL = MLP((6, 16, 3))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert list(a) == list(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- keep matrix
@settings(max_examples=60, deadline=None)
@given(
    half=st.integers(1, 8),
    n=st.integers(1, 257),
    seed=st.integers(0, 2**32 - 1),
    scheme=st.sampled_from(["random", "paired"]),
)
def test_keep_matrix_is_balanced(half: int, n: int, seed: int, scheme: str) -> None:
    m = 2 * half
    keep = keep_matrix(m, n, seed=seed, scheme=scheme)  # type: ignore[arg-type]
    assert keep.shape == (m, n) and keep.dtype == np.bool_
    # every point IN for exactly half of the models
    assert (keep.sum(axis=0) == half).all()
    # every model trains on floor(n/2) or ceil(n/2) points, and exactly n/2 for even n
    rows = keep.sum(axis=1)
    assert set(rows.tolist()) <= {n // 2, n - n // 2}
    assert rows.sum() == half * n
    # seeded: same seed, same matrix
    assert np.array_equal(keep, keep_matrix(m, n, seed=seed, scheme=scheme))  # type: ignore[arg-type]
    if scheme == "paired":
        assert (keep[0::2] ^ keep[1::2]).all()


def test_keep_matrix_seeds_differ_and_entries_are_fair() -> None:
    assert not np.array_equal(keep_matrix(8, 100, seed=0), keep_matrix(8, 100, seed=1))
    # Over many seeds each (model, point) entry is IN about half of the time: the row
    # balancing does not bias particular models or points.
    freq = np.mean([keep_matrix(4, 9, seed=s) for s in range(600)], axis=0)
    assert np.abs(freq - 0.5).max() < 0.1
    # Different points get different model sets (not one pattern repeated).
    keep = keep_matrix(16, 200, seed=3)
    assert len({tuple(col) for col in keep.T}) > 150


def test_keep_matrix_random_is_not_paired() -> None:
    keep = keep_matrix(8, 400, seed=0)
    assert not (keep[0] ^ keep[1]).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_models": 7, "n_points": 10}, ValueError, r"n_models must be even.*got n_models=7"),
        ({"n_models": 0, "n_points": 10}, ValueError, r"n_models must be an integer >= 2, got 0"),
        ({"n_models": 4, "n_points": 0}, ValueError, r"n_points must be a positive integer, got 0"),
        ({"n_models": 4.0, "n_points": 3}, ValueError, r"n_models must be an integer.*got 4.0"),
        ({"n_models": 4, "n_points": 3, "scheme": "halves"}, ValueError, r"unknown keep scheme"),
    ],
)
def test_keep_matrix_errors(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        keep_matrix(seed=0, **kwargs)  # type: ignore[arg-type]


def test_target_membership() -> None:
    assert target_membership([3, 0], 5).tolist() == [True, False, False, True, False]
    assert not target_membership([], 3).any()
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\] \(the dataset has 5 rows\); got 5"):
        target_membership([1, 5], 5)
    with pytest.raises(ValueError, match=r"train_indices: row index 2 is listed more than once"):
        target_membership([2, 2], 5)
    with pytest.raises(ValueError, match=r"must be integers, got dtype float64"):
        target_membership([0.5], 5)
    with pytest.raises(ValueError, match=r"one-dimensional"):
        target_membership([[1]], 5)


# -------------------------------------------------------------------- torch trainer
def test_torch_trainer_is_deterministic_and_leaves_global_rng_alone() -> None:
    trainer = TorchTrainer(SMALL, optimizer="sgd", lr=0.05, momentum=0.9, epochs=3, batch_size=16)
    idx = np.arange(0, 120, 2)
    before = torch.random.get_rng_state()
    a = trainer.fit(X, Y, idx, seed=7)
    assert torch.equal(before, torch.random.get_rng_state())
    torch.manual_seed(12345)  # the caller's global RNG must not matter
    b = trainer.fit(X, Y, idx, seed=7)
    c = trainer.fit(X, Y, idx, seed=8)
    assert _equal(a, b)
    assert not _equal(a, c)
    # the weights moved away from the initialisation
    init = trainer.init_model(7).state_dict()
    assert _max_diff(a, init) > 1e-3


def test_torch_trainer_learns_and_builds() -> None:
    trainer = TorchTrainer(SMALL, optimizer="adam", lr=1e-2, epochs=20, batch_size=16)
    state = trainer.fit(X, Y, np.arange(60), seed=0)
    model = trainer.build(state)
    assert not model.training
    with torch.no_grad():
        acc = (model(torch.from_numpy(X[60:])).argmax(1).numpy() == Y[60:]).mean()
    assert acc > 0.9


def test_torch_trainer_accepts_tensors_and_regression() -> None:
    trainer = TorchTrainer(MLP((6, 8, 1)), loss="mse", lr=0.01, epochs=2, batch_size=8)
    target = X[:, 0] * 2.0
    a = trainer.fit(torch.from_numpy(X), torch.from_numpy(target), np.arange(40), seed=1)
    b = trainer.fit(X.astype(np.float64), target.astype(np.float64), np.arange(40), seed=1)
    assert _equal(a, b)


def test_lr_schedules() -> None:
    cos = TorchTrainer(SMALL, lr=0.2, epochs=2, schedule="cosine")
    assert cos.lr_at(0, 5) == pytest.approx(0.2)
    assert cos.lr_at(5, 5) == pytest.approx(0.1)
    step = TorchTrainer(SMALL, lr=0.2, epochs=6, schedule="step", step_size=2, gamma=0.5)
    assert [step.lr_at(e * 3, 3) for e in range(6)] == pytest.approx(
        [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    )
    assert TorchTrainer(SMALL, lr=0.2).lr_at(99, 3) == 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, r"unknown optimizer 'rmsprop'"),
        ({"schedule": "linear"}, r"unknown schedule 'linear'"),
        ({"loss": "hinge"}, r"unknown loss 'hinge'"),
        ({"epochs": 0}, r"epochs must be a positive integer, got 0"),
        ({"batch_size": 2.5}, r"batch_size must be a positive integer, got 2.5"),
        ({"lr": -1.0}, r"lr must be a non-negative finite number, got -1.0"),
        ({"lr": 0.0}, r"lr must be positive"),
        ({"weight_decay": math.nan}, r"weight_decay must be a non-negative finite number"),
        ({"betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
        ({"num_threads": 0}, r"num_threads must be a positive integer or None, got 0"),
    ],
)
def test_torch_trainer_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TorchTrainer(SMALL, **kwargs)  # type: ignore[arg-type]


def test_torch_trainer_input_errors() -> None:
    trainer = TorchTrainer(SMALL, epochs=1)
    with pytest.raises(TypeError, match=r"model_factory must be callable"):
        TorchTrainer(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"indices is empty"):
        trainer.fit(X, Y, np.array([], dtype=np.int64), seed=0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 119\].*got 120"):
        trainer.fit(X, Y, [0, 120], seed=0)
    with pytest.raises(ValueError, match=r"got a boolean mask"):
        trainer.fit(X, Y, np.ones(120, dtype=bool), seed=0)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -1"):
        trainer.fit(X, Y, [0, 1], seed=-1)
    with pytest.raises(ValueError, match=r"x has 120 rows but y has 5"):
        trainer.fit(X, Y[:5], [0, 1], seed=0)
    with pytest.raises(TypeError, match=r"must return a torch.nn.Module"):
        TorchTrainer(lambda: 3, epochs=1).fit(X, Y, [0], seed=0)  # type: ignore[arg-type,return-value]


def test_fingerprint_tracks_config_and_architecture() -> None:
    base = TorchTrainer(SMALL, lr=0.1)
    assert base.fingerprint() == TorchTrainer(MLP((6, 16, 3)), lr=0.1).fingerprint()
    assert base.fingerprint() != TorchTrainer(SMALL, lr=0.2).fingerprint()
    assert base.fingerprint() != TorchTrainer(MLP((6, 17, 3)), lr=0.1).fingerprint()
    assert base.fingerprint() != TorchTrainer(MLP((6, 16, 3), "tanh"), lr=0.1).fingerprint()
    part = TorchTrainer(functools.partial(nn.Linear, 6, 3))
    assert part.fingerprint() != TorchTrainer(functools.partial(nn.Linear, 6, 4)).fingerprint()


# ----------------------------------------------------------------- ensemble trainer
ENSEMBLE_CASES = {
    "sgd-momentum-wd-cosine": {
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-3,
        "schedule": "cosine",
    },
    "adam": {"optimizer": "adam", "lr": 5e-3},
    "adam-wd-step": {
        "optimizer": "adam", "lr": 5e-3, "weight_decay": 1e-2, "schedule": "step",
        "step_size": 1, "gamma": 0.5,
    },
    "adamw-wd-unfused": {"optimizer": "adamw", "lr": 5e-3, "weight_decay": 0.1, "fused": False},
}


@pytest.mark.parametrize("case", sorted(ENSEMBLE_CASES))
def test_ensemble_equals_separate_training(case: str) -> None:
    # batch 13 does not divide 60: the last batch of every epoch is partial
    trainer = TorchTrainer(MLP((6, 16, 16, 3)), epochs=4, batch_size=13, **ENSEMBLE_CASES[case])  # type: ignore[arg-type]
    keep = keep_matrix(6, 120, seed=1)
    indices = [np.flatnonzero(row) for row in keep]
    seeds = [11, 12, 13, 14, 15, 16]
    stacked = EnsembleTrainer(trainer).fit(X, Y, indices, seeds=seeds)
    separate = [trainer.fit(X, Y, idx, seed=s) for idx, s in zip(indices, seeds, strict=True)]
    for k in range(6):
        assert _max_diff(stacked[k], separate[k]) < 2e-5, f"model {k}"
        init = trainer.init_model(seeds[k]).state_dict()
        assert _max_diff(stacked[k], init) > 1e-3  # it did train
    # the models really are different from each other (own data, own seed)
    assert _max_diff(stacked[0], stacked[1]) > 1e-2


def test_ensemble_regression_and_sub_batches() -> None:
    trainer = TorchTrainer(MLP((6, 8, 1)), loss="mse", optimizer="sgd", lr=0.01, momentum=0.5,
                           epochs=3, batch_size=7)
    target = X[:, 1] - X[:, 2]
    idx = [np.arange(0, 50), np.arange(50, 100), np.arange(20, 70)]
    stacked = EnsembleTrainer(trainer).fit(X, target, idx, seeds=[1, 2, 3])
    for k, seed in enumerate([1, 2, 3]):
        assert _max_diff(stacked[k], trainer.fit(X, target, idx[k], seed=seed)) < 2e-5


def test_stacked_loss_matches_per_model_loss() -> None:
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 5, 4, generator=g)
    y = torch.randint(0, 4, (3, 5), generator=g)
    expected = torch.stack([compute_loss("cross_entropy", out[k], y[k]) for k in range(3)])
    assert torch.allclose(stacked_loss("cross_entropy", out, y), expected, atol=1e-6)
    reg = torch.randn(3, 5, 1, generator=g)
    t = torch.randn(3, 5, generator=g)
    expected = torch.stack([compute_loss("mse", reg[k], t[k]) for k in range(3)])
    assert torch.allclose(stacked_loss("mse", reg, t), expected, atol=1e-6)


def test_ensemble_errors() -> None:
    ens = EnsembleTrainer(TorchTrainer(SMALL, epochs=1))
    with pytest.raises(ValueError, match=r"index sets of equal size, got sizes \[2, 3\]"):
        ens.fit(X, Y, [[0, 1], [2, 3, 4]], seeds=[0, 1])
    with pytest.raises(ValueError, match=r"got 2 index sets but 1 seeds"):
        ens.fit(X, Y, [[0, 1], [2, 3]], seeds=[0])
    with pytest.raises(ValueError, match=r"indices\[1\] must lie in"):
        ens.fit(X, Y, [[0, 1], [2, 999]], seeds=[0, 1])
    assert ens.fit(X, Y, [], seeds=[]) == []

    def with_bn() -> nn.Module:
        return nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))

    with pytest.raises(ValueError, match=r"cannot train BatchNorm1d layer '1' with running"):
        EnsembleTrainer(TorchTrainer(with_bn, epochs=1)).fit(X, Y, [[0, 1]], seeds=[0])


def test_ensemble_handles_norm_without_running_stats() -> None:
    def with_ln() -> nn.Module:
        return nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))

    trainer = TorchTrainer(with_ln, optimizer="adam", lr=1e-2, epochs=2, batch_size=10)
    idx = [np.arange(30), np.arange(30, 60)]
    stacked = EnsembleTrainer(trainer).fit(X, Y, idx, seeds=[5, 6])
    for k in range(2):
        assert _max_diff(stacked[k], trainer.fit(X, Y, idx[k], seed=5 + k)) < 2e-5


# ------------------------------------------------------------------ sklearn trainer
def test_sklearn_trainer_seeds_and_clones() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    template = RandomForestClassifier(n_estimators=5, max_features=2)
    trainer = SklearnTrainer(template)
    idx = np.arange(80)
    a, b, c = (trainer.fit(X, Y, idx, seed=s) for s in (3, 3, 4))
    proba = [m.predict_proba(X) for m in (a, b, c)]
    assert np.array_equal(proba[0], proba[1])
    assert not np.array_equal(proba[0], proba[2])
    assert template.random_state is None  # the template is untouched
    assert not hasattr(template, "estimators_")
    # nested random_state in a pipeline is seeded too
    pipe = SklearnTrainer(make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)))
    p1, p2 = (pipe.fit(X, Y, idx, seed=9) for _ in range(2))
    assert p1.get_params()["randomforestclassifier__random_state"] is not None
    assert np.array_equal(p1.predict_proba(X), p2.predict_proba(X))
    # estimators without random_state are simply fitted
    knn = SklearnTrainer(KNeighborsClassifier(3)).fit(X, Y, idx, seed=0)
    assert (knn.predict(X[80:]) == Y[80:]).mean() > 0.9
    with pytest.raises(TypeError, match=r"must be a scikit-learn estimator"):
        SklearnTrainer(object())
    assert trainer.fingerprint() != SklearnTrainer(
        RandomForestClassifier(n_estimators=6, max_features=2)
    ).fingerprint()
    # the template's random_state is replaced by the job seed, so it is not part of the key
    seeded = RandomForestClassifier(
        n_estimators=5, max_features=2, random_state=np.random.RandomState(0)
    )
    assert SklearnTrainer(seeded).fingerprint() == trainer.fingerprint()


# ---------------------------------------------------------------------- train_models
def test_train_models_matches_direct_fits() -> None:
    trainer = TorchTrainer(SMALL, optimizer="adam", lr=1e-2, epochs=2, batch_size=16)
    keep = keep_matrix(4, 120, seed=0)
    seeds = [5, 6, 7, 8]
    states = train_models(trainer, X, Y, keep, seeds=seeds, progress=False)
    for m in range(4):
        assert _equal(states[m], trainer.fit(X, Y, np.flatnonzero(keep[m]), seed=seeds[m]))
    # an int seed spawns one seed per model, reproducibly
    a = train_models(trainer, X, Y, keep, seeds=1, progress=False)
    b = train_models(trainer, X, Y, keep, seeds=1, progress=False)
    assert all(_equal(a[m], b[m]) for m in range(4))
    assert not _equal(a[0], a[1])


def test_train_models_vectorized_groups_by_size() -> None:
    trainer = TorchTrainer(SMALL, optimizer="sgd", lr=0.05, momentum=0.9, epochs=2, batch_size=16)
    n = 61  # odd: training sets have 30 or 31 points -> two ensembles
    keep = keep_matrix(6, n, seed=2)
    assert len(set(keep.sum(axis=1).tolist())) == 2
    x, y = X[:n], Y[:n]
    vec = train_models(trainer, x, y, keep, seeds=3, progress=False, vectorized=True,
                       ensemble_size=2)
    seq = train_models(trainer, x, y, keep, seeds=3, progress=False)
    for m in range(6):
        assert _max_diff(vec[m], seq[m]) < 2e-5


def test_train_models_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    trainer = TorchTrainer(SMALL, epochs=1)
    train_models(trainer, X, Y, keep_matrix(2, 120, seed=0), seeds=0, progress=True)
    assert "2/2" in capsys.readouterr().err


def test_train_models_errors(tmp_path: object) -> None:
    from sklearn.linear_model import LogisticRegression

    trainer = TorchTrainer(SMALL, epochs=1)
    keep = keep_matrix(2, 120, seed=0)
    with pytest.raises(ValueError, match=r"keep has 60 columns but the dataset has 120 rows"):
        train_models(trainer, X, Y, keep[:, :60], seeds=0, progress=False)
    with pytest.raises(ValueError, match=r"keep must be a 2-D .* use keep\[None, :\]"):
        train_models(trainer, X, Y, keep[0], seeds=0, progress=False)
    empty = keep.copy()
    empty[1] = False
    with pytest.raises(ValueError, match=r"model 1 has no training point"):
        train_models(trainer, X, Y, empty, seeds=0, progress=False)
    with pytest.raises(ValueError, match=r"got 3 seeds for 2 models"):
        train_models(trainer, X, Y, keep, seeds=[1, 2, 3], progress=False)
    sk = SklearnTrainer(LogisticRegression())
    with pytest.raises(ValueError, match=r"vectorized=True needs a TorchTrainer"):
        train_models(sk, X, Y, keep, seeds=0, progress=False, vectorized=True)
    cached = train_models(sk, X, Y, keep, seeds=0, progress=False, store=Store(str(tmp_path)))
    assert len(cached) == 2  # fitted estimators are cached safely with skops (no pickles)
    with pytest.raises(TypeError, match=r"trainer must have fingerprint\(\), fit\(\)"):
        train_models(object(), X, Y, keep, seeds=0, progress=False)  # type: ignore[arg-type]


def test_train_models_job_error_names_the_model() -> None:
    trainer = TorchTrainer(SMALL, epochs=1)
    bad_y = Y.copy()
    bad_y[np.flatnonzero(keep_matrix(2, 120, seed=0)[1])[0]] = 99  # label out of range
    pattern = r"job 1 \[model 1, seed=\d+, key=[0-9a-f]{16}\] failed: IndexError"
    with pytest.raises(JobFailedError, match=pattern):
        train_models(trainer, X, bad_y, keep_matrix(2, 120, seed=0), seeds=0, progress=False)


def test_model_keys_depend_on_content() -> None:
    trainer = TorchTrainer(SMALL, epochs=1)
    keep = keep_matrix(2, 120, seed=0)
    keys = model_keys(trainer, X, Y, keep, seeds=[1, 2])
    assert len(set(keys)) == 2
    assert keys == model_keys(trainer, X.copy(), Y.copy(), keep, seeds=[1, 2])
    x2 = X.copy()
    x2[0, 0] += 1.0
    assert set(keys).isdisjoint(model_keys(trainer, x2, Y, keep, seeds=[1, 2]))
    assert keys[0] != model_keys(trainer, X, Y, keep, seeds=[3, 2])[0]
    assert keys[0] != model_keys(trainer, X, Y, keep[::-1], seeds=[1, 2])[0]
    assert keys[0] != model_keys(trainer, X, Y, keep, seeds=[1, 2], vectorized=True)[0]
    assert keys[0] != model_keys(TorchTrainer(SMALL, epochs=2), X, Y, keep, seeds=[1, 2])[0]


# ------------------------------------------------------------------------- progress
class _RecordingBar:
    """Stands in for ProgressBar in train_models: records every update."""

    instances: list[_RecordingBar] = []  # noqa: RUF012

    def __init__(self, total: float, *, initial: float = 0, **kwargs: object) -> None:
        self.total, self.n, self.kwargs = total, initial, kwargs
        self.updates: list[float] = []
        self.postfix: list[str] = []
        _RecordingBar.instances.append(self)

    active = True

    def update(self, n: float = 1) -> None:
        if n:
            self.updates.append(n)
            self.n += n

    def set_postfix(self, text: str) -> None:
        self.postfix.append(text)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("vectorized", [False, True])
def test_train_models_progress_per_optimizer_step(
    vectorized: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import privmeter.training.train as train_mod

    monkeypatch.setattr(train_mod, "ProgressBar", _RecordingBar)
    _RecordingBar.instances.clear()
    trainer = TorchTrainer(SMALL, epochs=3, batch_size=16)  # 60 points: 4 steps per epoch
    keep = keep_matrix(4, 120, seed=0)
    store = Store(str(tmp_path))
    train_models(trainer, X, Y, keep, seeds=0, progress=True, vectorized=vectorized,
                 store=store)
    bar = _RecordingBar.instances[-1]
    assert bar.total == 4 * 3 * 4 and bar.n == bar.total and bar.kwargs["unit"] == "step"
    # one update per optimizer step (of one model, or of the 4 stacked models), not per model
    assert bar.updates == ([4.0] * 12 if vectorized else [1.0] * 48)
    assert bar.postfix[0] == "0/4 models" and bar.postfix[-1] == "4/4 models"
    # a resumed run starts the bar at the cached work
    train_models(trainer, X, Y, keep, seeds=0, progress=True, vectorized=vectorized,
                 store=store)
    again = _RecordingBar.instances[-1]
    assert again.n == again.total == 48 and again.updates == []


def test_train_models_progress_for_other_trainers(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    import privmeter.training.train as train_mod

    monkeypatch.setattr(train_mod, "ProgressBar", _RecordingBar)
    _RecordingBar.instances.clear()
    train_models(SklearnTrainer(LogisticRegression()), X, Y, keep_matrix(2, 120, seed=0),
                 seeds=0, progress=True)
    bar = _RecordingBar.instances[-1]
    assert bar.kwargs["unit"] == "model" and bar.updates == [1, 1]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_quiet_off_a_terminal() -> None:
    pytest.importorskip("tqdm")
    from privmeter._progress import ProgressBar

    for stream, max_draws in ((io.StringIO(), 3), (_Tty(), 10_000)):
        with ProgressBar(2000, desc="training", unit="step", file=stream, enabled=True) as bar:
            for _ in range(2000):
                bar.update(1)
        text = stream.getvalue()
        assert "2000/2000" in text
        assert text.count("\r") <= max_draws, text[:200]
    quiet = io.StringIO()
    with ProgressBar(5, file=quiet, enabled=False) as bar:
        bar.update(5)
    assert quiet.getvalue() == "" and not bar.active


def test_progress_respects_the_global_switch() -> None:
    from privmeter import _progress

    try:
        _progress.set_enabled(False)
        assert not _progress.ProgressBar(3, file=_Tty()).active
        assert not _progress.is_enabled() and _progress.is_enabled(True)
        out = _Tty()
        with _progress.status("loading data", file=out):
            pass
        assert out.getvalue() == ""
    finally:
        _progress.set_enabled(True)
    assert _progress.is_enabled()


def test_status_lines() -> None:
    from privmeter._progress import status

    tty = _Tty()
    with status("loading data.csv", file=tty, enabled=True):
        assert tty.getvalue() == "privmeter: loading data.csv..."
    assert tty.getvalue().endswith("\r\x1b[Kprivmeter: loading data.csv: 0.0 s\n")
    failed = _Tty()
    with pytest.raises(KeyError), status("rendering the report", file=failed, enabled=True):
        raise KeyError("x")
    assert failed.getvalue().endswith("\r\x1b[K")  # erased: the error stands alone
    piped = io.StringIO()  # not a terminal: nothing, so an error stays the only line
    with status("loading data.csv", file=piped, enabled=True):
        pass
    assert piped.getvalue() == ""


def test_tick_goes_to_the_innermost_sink() -> None:
    from privmeter._progress import reporting, tick

    outer: list[int] = []
    inner: list[int] = []
    tick(5)  # no sink: nothing happens
    with reporting(outer.append):
        tick(1)
        with reporting(inner.append):
            tick(2)
        with reporting(None):
            tick(3)
        tick(4)
    assert outer == [1, 4] and inner == [2]
