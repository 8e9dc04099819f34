"""Each framework adapter audits a real model of its framework end to end from a config:
``model.architecture: onnx | openvino | keras | hf`` with ``model.path``, the target's rows,
and reference models trained by privmeter (Keras) or brought by the user (ONNX files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytest.importorskip("keras")
pytest.importorskip("transformers")

import torch

from _graph_models import C, D, N, blobs, export, make_mlp
from privmeter.cli import main
from privmeter.training import TorchTrainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data.npz, a target and two references exported to ONNX (and the target as an IR)."""
    import openvino as ov

    root = Path(tmp_path_factory.mktemp("frameworks"))
    x, y = blobs()
    rng = np.random.default_rng(1)
    np.savez(root / "data.npz", x=x, y=y)
    trainer = TorchTrainer(make_mlp, optimizer="adam", lr=1e-2, epochs=30, batch_size=32)
    half = rng.permutation(N) < N // 2  # each row IN exactly one reference (online)
    for name, rows, seed in (("target", np.arange(0, N, 2), 0),
                             ("ref0", np.flatnonzero(half), 1),
                             ("ref1", np.flatnonzero(~half), 2)):
        export(trainer.build(trainer.fit(x, y, rows, seed=seed)), root / f"{name}.onnx")
        np.save(root / f"{name}_rows.npy", np.sort(rows))
    ov.save_model(ov.Core().read_model(str(root / "target.onnx")), str(root / "target.xml"),
                  compress_to_fp16=False)
    return root


def _run(root: Path, name: str, yaml_text: str) -> dict:
    cfg = root / f"{name}.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    out = root / f"out-{name}"
    assert main(["run", str(cfg), "--out", str(out), "--overwrite", "--no-progress"]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_onnx_target_with_onnx_references_from_a_config(files: Path) -> None:
    saved = _run(files, "onnx", (
        "data: {source: npz, path: data.npz}\n"
        "model: {architecture: onnx, path: target.onnx}\n"
        "target: {train_indices: target_rows.npy}\n"
        "references:\n  models:\n"
        "    - {path: ref0.onnx, train_indices: ref0_rows.npy}\n"
        "    - {path: ref1.onnx, train_indices: ref1_rows.npy}\n"
        "attacks: [loss, reference, lira, rmia]\n"
        "report: {formats: [json]}\n"))
    assert [r["attack"] for r in saved["results"]] == ["loss", "reference", "lira", "rmia"]
    assert saved["not_run"] == []
    assert "onnxruntime" in saved["card"]["model"]
    assert "user-supplied (2 models" in saved["card"]["model"]


def test_openvino_target_from_a_config(files: Path) -> None:
    saved = _run(files, "openvino", (
        "data: {source: npz, path: data.npz}\n"
        "model: {architecture: openvino, path: target.xml}\n"
        "target: {train_indices: target_rows.npy}\n"
        "attacks: [loss, population]\n"
        "report: {formats: [json]}\n"))
    assert "openvino" in saved["card"]["model"]
    assert saved["results"][0]["auc"] > 0.5


def test_keras_target_with_keras_references_from_a_config(files: Path) -> None:
    import keras

    data = np.load(files / "data.npz")
    x, y = data["x"], data["y"]
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((D,)), keras.layers.Dense(16, activation="relu"),
                            keras.layers.Dense(C, activation="softmax")])
    net.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rows = np.load(files / "target_rows.npy")
    net.fit(x[rows], y[rows], epochs=10, batch_size=32, verbose=0)
    net.save(files / "target.keras")
    saved = _run(files, "keras", (
        "data: {source: npz, path: data.npz}\n"
        "model: {architecture: keras, path: target.keras}\n"
        "target: {train_indices: target_rows.npy}\n"
        "training: {epochs: 5, batch_size: 32}\n"
        "references: {count: 2}\n"
        "attacks: [loss, lira]\n"
        "report: {formats: [json]}\n"))
    assert [r["attack"] for r in saved["results"]] == ["loss", "lira"]
    assert "keras" in saved["card"]["model"]


def test_a_wrong_architecture_for_the_file_exits_2(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = files / "wrong.yaml"
    cfg.write_text("data: {source: npz, path: data.npz}\n"
                   "model: {architecture: keras, path: target.onnx}\n"
                   "target: {train_indices: target_rows.npy}\n", encoding="utf-8")
    assert main(["run", str(cfg), "--out", str(files / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "model.path" in err and "ONNX" in err


def test_hf_text_classifier_from_a_config(tmp_path: Path) -> None:
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(30)]
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=120)
    texts = [" ".join(words[int(i)] for i in rng.integers(10 * c, 10 * c + 10, size=5))
             for c in y]
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok_model = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok_model.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok_model, pad_token="[PAD]",
                                               unk_token="[UNK]")
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3, max_position_embeddings=16))
    model.save_pretrained(tmp_path / "clf")
    tok.save_pretrained(tmp_path / "clf")
    (tmp_path / "texts.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": int(c)}) + "\n" for t, c in zip(texts, y,
                                                                               strict=True)),
        encoding="utf-8")
    np.save(tmp_path / "rows.npy", np.arange(0, 120, 2))
    saved = _run(tmp_path, "hf", (
        "data: {source: jsonl, path: texts.jsonl, label_field: label}\n"
        "model: {architecture: hf, path: clf}\n"
        "target: {train_indices: rows.npy}\n"
        "attacks: [loss, population]\n"
        "report: {formats: [json]}\n"))
    assert "transformers" in saved["card"]["model"]
    assert [r["attack"] for r in saved["results"]] == ["loss", "population"]
