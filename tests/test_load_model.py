"""load_model (format from the content, architecture mismatches), load_reference_models
(bring your own references) and framework_info."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")
keras = pytest.importorskip("keras")

import privmeter as pm  # noqa: E402
from privmeter.models import KerasModel, OnnxModel, OpenVINOModel, SklearnModel  # noqa: E402
from privmeter.models.loading import (  # noqa: E402
    detect_format,
    framework_info,
    load_model,
    load_reference_models,
)
from privmeter.training import TorchTrainer, keep_matrix, train_models  # noqa: E402

D, C = 5, 3


def make_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.ReLU(), torch.nn.Linear(16, C))


def export(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, D),), str(path), input_names=["x"],
                          output_names=["logits"], dynamo=False,
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = Path(tmp_path_factory.mktemp("models"))
    torch.manual_seed(0)
    onnx_path = export(make_mlp(), folder / "mlp.onnx")
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(folder / "mlp.xml"),
                  compress_to_fp16=False)
    net = keras.Sequential([keras.Input((D,)), keras.layers.Dense(C, activation="softmax")])
    net.save(folder / "net.keras")
    config = __import__("transformers").BertConfig(
        vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, num_labels=2)
    hf = folder / "bert"
    __import__("transformers").BertForSequenceClassification(config).save_pretrained(hf)
    return folder


def test_formats_and_adapters(files) -> None:  # type: ignore[no-untyped-def]
    f = files
    assert [detect_format(f / n) for n in ("mlp.onnx", "mlp.xml", "net.keras", "bert")] == [
        "onnx", "openvino", "keras", "hf"]
    assert isinstance(load_model(f / "mlp.onnx"), OnnxModel)
    assert isinstance(load_model(f / "mlp.onnx", architecture="openvino"), OpenVINOModel)
    assert isinstance(load_model(f / "mlp.xml"), OpenVINOModel)
    keras_model = load_model(f / "net.keras", architecture="keras", batch_size=7)
    assert isinstance(keras_model, KerasModel) and keras_model.batch_size == 7
    x = np.random.default_rng(0).normal(size=(4, D))
    np.testing.assert_allclose(load_model(f / "mlp.xml").logits(x),
                               load_model(f / "mlp.onnx").logits(x), atol=1e-5)


def test_architecture_mismatch_names_both(files) -> None:  # type: ignore[no-untyped-def]
    f = files
    with pytest.raises(ValueError, match=r"mlp.onnx' holds an ONNX model, but "
                                         r"architecture='keras' reads a Keras model .*use "
                                         r"architecture='onnx' or 'openvino'"):
        load_model(f / "mlp.onnx", architecture="keras")
    with pytest.raises(ValueError, match=r"holds a Keras model \(.keras\), but "
                                         r"architecture='onnx' reads an ONNX model"):
        load_model(f / "net.keras", architecture="onnx")
    with pytest.raises(ValueError, match=r"holds an OpenVINO IR .*architecture='hf'"):
        load_model(f / "mlp.xml", architecture="hf")
    with pytest.raises(ValueError, match=r"holds a HuggingFace model folder, but "
                                         r"architecture='openvino'"):
        load_model(f / "bert", architecture="openvino")
    with pytest.raises(ValueError, match=r"unknown architecture 'tensorflow'"):
        load_model(f / "mlp.onnx", architecture="tensorflow")


def test_content_against_name(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "model.onnx"
    fake.write_bytes((files / "net.keras").read_bytes())
    with pytest.raises(ValueError, match=r"named like an ONNX model but holds a Keras model"):
        load_model(fake)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="not a model file privmeter reads"):
        load_model(junk)
    with pytest.raises(FileNotFoundError, match="no model file or folder"):
        load_model(tmp_path / "missing.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a HuggingFace model folder"):
        load_model(tmp_path / "empty")


def test_reference_entries_are_validated(files) -> None:  # type: ignore[no-untyped-def]
    f = files
    refs = load_reference_models([(f / "mlp.onnx", [0, 2, 4]), (str(f / "mlp.xml"), [1, 3])],
                                 n_rows=10, n_classes=3)
    assert [type(m).__name__ for m, _ in refs] == ["OnnxModel", "OpenVINOModel"]
    assert [i.tolist() for _, i in refs] == [[0, 2, 4], [1, 3]]
    assert refs[0][1].dtype == np.int64
    with pytest.raises(ValueError, match="reference model 1 has no training indices"):
        load_reference_models([(f / "mlp.onnx", [0]), (f / "mlp.onnx", None)])
    with pytest.raises(ValueError, match="reference model 0 must be a \\(model, indices\\) pair"):
        load_reference_models([f / "mlp.onnx"])
    with pytest.raises(ValueError, match=r"reference model 0 must lie in \[0, 9\].*got 10"):
        load_reference_models([(f / "mlp.onnx", [1, 10])], n_rows=10)
    with pytest.raises(ValueError, match=r"reference model 0: row index 2 is listed more than"):
        load_reference_models([(f / "mlp.onnx", [2, 2])])
    with pytest.raises(ValueError, match="must be integers, got dtype float64"):
        load_reference_models([(f / "mlp.onnx", [0.5])])
    with pytest.raises(ValueError, match="boolean mask"):
        load_reference_models([(f / "mlp.onnx", np.ones(3, dtype=bool))])
    with pytest.raises(ValueError, match="non-negative row indices; got -1"):
        load_reference_models([(f / "mlp.onnx", [-1])])
    with pytest.raises(ValueError, match="reference model 0: .*has 3 classes, but n_classes=4"):
        load_reference_models([(f / "mlp.onnx", [0])], n_classes=4)
    with pytest.raises(TypeError, match="sequence of \\(model, indices\\) pairs"):
        load_reference_models(f / "mlp.onnx")  # type: ignore[arg-type]


def test_reference_signals_equal_privmeter_trained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """References trained by privmeter, exported to ONNX and brought back: same signals."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, D)).astype(np.float32)
    y = rng.integers(0, C, size=80)
    trainer = TorchTrainer(make_mlp, optimizer="adam", lr=1e-2, epochs=3, batch_size=16)
    keep = keep_matrix(2, 80, seed=0)
    states = train_models(trainer, x, y, keep, seeds=0, progress=False)
    entries = [(export(trainer.build(s), tmp_path / f"ref{i}.onnx"), np.flatnonzero(row))
               for i, (s, row) in enumerate(zip(states, keep, strict=True))]
    refs = load_reference_models(entries, n_rows=80, n_classes=C)
    for (ref, idx), state, row in zip(refs, states, keep, strict=True):
        assert idx.tolist() == np.flatnonzero(row).tolist()
        original = pm.models.TorchModel(trainer.build(state))
        for signal in ("logit_margin", "loss"):
            np.testing.assert_allclose(pm.signals.compute_signal(signal, ref, x, y),
                                       pm.signals.compute_signal(signal, original, x, y),
                                       atol=1e-4)


def test_adapters_and_objects_pass_through(files) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    onnx = OnnxModel(files / "mlp.onnx")
    x = np.random.default_rng(0).normal(size=(10, D))
    clf = LogisticRegression().fit(x, np.arange(10) % 3)
    net = keras.Sequential([keras.Input((D,)), keras.layers.Dense(C)])
    refs = load_reference_models([(onnx, [0]), (clf, [1]), (net, [2]), (make_mlp(), [3])])
    assert refs[0][0] is onnx
    assert [type(m).__name__ for m, _ in refs] == ["OnnxModel", "SklearnModel", "KerasModel",
                                                   "TorchModel"]


def test_framework_info(files) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime
    import sklearn

    assert framework_info(OnnxModel(files / "mlp.onnx")) == {
        "framework": "onnxruntime", "version": onnxruntime.__version__}
    assert framework_info(OpenVINOModel(files / "mlp.xml"))["framework"] == "openvino"
    info = framework_info(KerasModel(files / "net.keras"))
    assert info == {"framework": f"keras ({keras.backend.backend()} backend)",
                    "version": keras.__version__}
    clf = __import__("sklearn.linear_model").linear_model.LogisticRegression().fit(
        np.eye(2), [0, 1])
    assert framework_info(SklearnModel(clf)) == {"framework": "scikit-learn",
                                                 "version": sklearn.__version__}
    assert framework_info(pm.models.TorchModel(make_mlp()))["framework"] == "torch"
    assert framework_info(object()) == {"framework": "builtins.object", "version": ""}
