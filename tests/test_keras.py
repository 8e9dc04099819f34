"""KerasModel and KerasTrainer on Keras 3 (torch backend: CI installs no TensorFlow)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import privmeter as pm  # noqa: E402
from _graph_models import C, D, N, blobs  # noqa: E402
from privmeter.models import KerasModel  # noqa: E402
from privmeter.training import KerasTrainer, Store, keep_matrix, train_models  # noqa: E402


def mlp(last: object | None = None) -> object:
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((D,)), keras.layers.Dense(16, activation="relu"),
        last if last is not None else keras.layers.Dense(C, activation="softmax"),
    ])


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture(scope="module")
def trained(data):  # type: ignore[no-untyped-def]
    x, y = data
    net = mlp()
    net.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    net.fit(x[::2], y[::2], epochs=10, batch_size=32, verbose=0)
    return net


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# -------------------------------------------------------------------- adapter
def test_proba_equals_predict(trained, data) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    model = KerasModel(trained, batch_size=50)
    assert (model.n_classes, model.access, model.logits_source) == (C, "logits",
                                                                    "pre_activation")
    p = trained.predict(x, verbose=0)
    np.testing.assert_allclose(model.proba(x), p, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x), p.argmax(1))
    assert model.proba(x).dtype == np.float64
    np.testing.assert_allclose(model.proba(x.astype(np.float64)), p, atol=1e-6)


def test_logits_are_the_pre_activation(trained, data) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    model = KerasModel(trained)
    hidden, last = trained.layers
    kernel, bias = (np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in last.weights)
    h = np.maximum(x.astype(np.float64) @ keras.ops.convert_to_numpy(hidden.kernel)
                   + keras.ops.convert_to_numpy(hidden.bias), 0)
    np.testing.assert_allclose(model.logits(x), h @ kernel + bias, atol=1e-4)
    np.testing.assert_allclose(softmax(model.logits(x)), trained.predict(x, verbose=0),
                               atol=1e-6)
    assert "without its softmax activation" in model.note
    # the clone shares the variables: the model's later training shows through
    before = model.logits(x[:4])
    last.bias.assign(keras.ops.convert_to_numpy(last.bias) + 1.0)
    np.testing.assert_allclose(model.logits(x[:4]), before + 1.0, atol=1e-5)
    last.bias.assign(keras.ops.convert_to_numpy(last.bias) - 1.0)


def test_other_output_layers(data) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    inp = keras.Input((D,))
    z = keras.layers.Dense(C)(inp)
    for out, source in [(keras.layers.Softmax()(z), "pre_activation"),
                        (keras.layers.Activation("softmax")(z), "pre_activation"),
                        (keras.ops.softmax(z), "pre_activation"), (z, "outputs")]:
        net = keras.Model(inp, out)
        model = KerasModel(net)
        assert (model.logits_source, model.access) == (source, "logits")
        ref = keras.Model(inp, z).predict(x, verbose=0)
        np.testing.assert_allclose(model.logits(x), ref, atol=1e-5)
    binary = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
    model = KerasModel(binary)
    p = binary.predict(x, verbose=0)[:, 0]
    assert model.n_classes == 2
    np.testing.assert_allclose(model.proba(x), np.stack([1 - p, p], 1), atol=1e-6)
    np.testing.assert_allclose(softmax(model.logits(x)), np.stack([1 - p, p], 1), atol=1e-6)


def test_no_softmax_free_path(data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    inp = keras.Input((D,))
    out = keras.layers.EinsumDense("ab,bc->ac", output_shape=C, activation="softmax")(inp)
    net = keras.Model(inp, out)
    model = KerasModel(net)
    assert (model.logits_source, model.access) == ("probabilities", "proba")
    assert "no softmax-free path" in model.note
    p = net.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(model.logits(x), np.log(p), atol=1e-6)
    # the signal is the stable margin log p_y - max_other log p
    margin = pm.signals.compute_signal("logit_margin", model, x[:5], y[:5])
    assert np.isfinite(margin).all()
    with pytest.raises(ValueError, match="logits=True, but the Keras model .* has no "
                                         "softmax-free path: its last layer"):
        KerasModel(net, logits=True)
    assert KerasModel(mlp(), logits=False).logits_source == "probabilities"


def test_keras_file_round_trip(trained, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    path = tmp_path / "net.keras"
    trained.save(path)
    model = KerasModel(path)
    np.testing.assert_allclose(model.proba(x), trained.predict(x, verbose=0), atol=1e-6)
    assert model.logits_source == "pre_activation"


def test_unsafe_and_unsupported_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lam = keras.Sequential([keras.Input((D,)), keras.layers.Lambda(lambda t: t * 2),
                            keras.layers.Dense(C)])
    path = tmp_path / "lambda.keras"
    lam.save(path)
    with pytest.raises(ValueError, match="refusing to load .*Lambda layer.*safe mode"):
        KerasModel(path)
    h5 = tmp_path / "old.h5"
    h5.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(ValueError, match="legacy HDF5 Keras file"):
        KerasModel(h5)
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    if importlib_find("tensorflow") is None:
        with pytest.raises(ValueError, match="SavedModel: reading it needs TensorFlow"):
            KerasModel(saved)
    with pytest.raises(TypeError, match="must be a Keras model"):
        KerasModel(object())


def importlib_find(name: str) -> object:
    import importlib.util

    return importlib.util.find_spec(name)


def test_bad_input(trained) -> None:  # type: ignore[no-untyped-def]
    model = KerasModel(trained)
    with pytest.raises(ValueError, match=r"expects input 'input' of shape \(n, 6\), got x of "
                                         r"shape \(5, 7\)"):
        model.proba(np.zeros((5, 7)))
    with pytest.raises(ValueError, match="numeric array .* got dtype object"):
        model.proba(np.array([["a"] * D], dtype=object))
    big = np.zeros((2, D))
    big[1, 0] = 1e50
    with pytest.raises(ValueError, match=r"takes float32 input.*1e\+50 at row 1, column 0"):
        model.proba(big)
    with pytest.raises(ValueError, match=r"has 3 classes \(output width 3\), but n_classes=4"):
        KerasModel(trained, n_classes=4)
    with pytest.raises(ValueError, match="label 3 .* not one of the 3 classes"):
        model.label_index([0, 3])
    multi = keras.Sequential([keras.Input((D,)), keras.layers.Dense(4, activation="sigmoid")])
    with pytest.raises(ValueError, match="4 sigmoid units .*multi-label"):
        KerasModel(multi)


# -------------------------------------------------------------------- trainer
def test_trainer_is_deterministic_per_seed(trained, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    trainer = KerasTrainer(trained, epochs=3, batch_size=32)
    state = np.random.get_state()  # noqa: NPY002 - Keras seeds the legacy global RNG
    a = trainer.fit(x, y, np.arange(100), seed=1)
    assert np.array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002 - untouched
    b = trainer.fit(x, y, np.arange(100), seed=1)
    c = trainer.fit(x, y, np.arange(100), seed=2)
    assert sorted(a) == sorted(v.path for v in trained.weights)
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert any(bool((a[k] != c[k]).any()) for k in a)
    init1, init2 = trainer.init_model(1), trainer.init_model(2)
    assert not np.array_equal(init1.get_weights()[0], init2.get_weights()[0])
    built = trainer.build(a)
    assert isinstance(built, KerasModel) and built.n_classes == C
    assert trainer.steps(100) == 3 * 4
    # settings copied from the compiled target
    assert trainer._optimizer_config["class_name"] == "Adam"  # type: ignore[attr-defined]
    assert trainer._loss_config == "sparse_categorical_crossentropy"  # type: ignore[attr-defined]
    assert trainer.fingerprint() == KerasTrainer(trained, epochs=3, batch_size=32).fingerprint()
    assert trainer.fingerprint() != KerasTrainer(trained, epochs=4, batch_size=32).fingerprint()
    assert trainer.fingerprint() != KerasTrainer(trained, epochs=3, batch_size=32,
                                                 learning_rate=0.1).fingerprint()
    with pytest.raises(ValueError, match="missing"):
        trainer.build({k: v for k, v in list(a.items())[1:]})


def test_trainer_states_go_through_the_store(trained, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    trainer = KerasTrainer(trained, epochs=2, batch_size=32)
    keep = keep_matrix(2, N, seed=0)
    store = Store(tmp_path / "cache")
    first = train_models(trainer, x, y, keep, seeds=0, store=store, progress=False)
    again = train_models(trainer, x, y, keep, seeds=0, store=store, progress=False)
    for s1, s2 in zip(first, again, strict=True):
        assert all(bool((s1[k] == s2[k]).all()) for k in s1)
    model = trainer.build(again[0])
    np.testing.assert_allclose(model.proba(x[:5]), trainer.build(first[0]).proba(x[:5]))


def test_full_audit_with_keras_references(trained, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    trainer = KerasTrainer(trained, epochs=5, batch_size=32)
    report = pm.Audit((x, y), trainer, attacks=["loss", "lira", "rmia"], n_references=4,
                      progress=False).run()
    assert [r.attack for r in report.results] == ["loss", "lira", "rmia"]
    assert all(0.0 <= r.auc <= 1.0 for r in report.results)
    # a Keras target of the user's with Keras references
    idx = np.arange(0, N, 2)
    target = pm.Audit((x, y), trainer, target_model=KerasModel(trained), target_indices=idx,
                      attacks=["loss", "rmia"], n_references=2, progress=False).run()
    assert [r.attack for r in target.results] == ["loss", "rmia"]
