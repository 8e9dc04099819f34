"""Querying through each framework adapter vs the framework's own batched inference.

Target: ``adapter.logits(x)`` (Keras, ONNX Runtime, OpenVINO, HuggingFace) costs at most 1.2x
the framework's own loop over the same batches of the same inputs (outputs left in the
framework's float32 arrays). Each pair is timed interleaved, and the fastest of several
repeats is compared. For Keras both baselines are shown: ``model.predict(x, batch_size)``
and the tighter ``predict_on_batch`` loop (the ratio uses the faster of the two).

Usage::

    .venv/bin/python benchmarks/bench_adapters.py [--n-rows 16384] [--n-texts 512]
        [--repeats 5] [--batch-size 1024] [--strict]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

TARGET = 1.2
D, C = 600, 100  # a Purchase-100-sized MLP: many classes, little compute per row


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(name: str, baselines: dict[str, Callable[[], object]],
            adapter: Callable[[], object], repeats: int) -> float:
    runs: dict[str, list[float]] = {k: [] for k in baselines} | {"adapter": []}
    for fn in (*baselines.values(), adapter):  # warm-up
        fn()
    for _ in range(repeats):
        for k, fn in baselines.items():
            runs[k].append(timed(fn))
        runs["adapter"].append(timed(adapter))
    base = min(min(runs[k]) for k in baselines)
    ratio = min(runs["adapter"]) / base
    print(f"\n{name}")
    for k, v in runs.items():
        print(f"  {k:<28} {min(v) * 1e3:8.1f} ms (median {statistics.median(v) * 1e3:.1f} ms)")
    print(f"  ratio adapter / fastest framework loop: {ratio:.3f}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-rows", type=int, default=16384)
    parser.add_argument("--n-texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--strict", action="store_true", help="exit 1 above the target")
    args = parser.parse_args()
    bs = args.batch_size

    import keras
    import onnxruntime as ort
    import openvino as ov
    import torch

    from privmeter.models import HFClassifier, KerasModel, OnnxModel, OpenVINOModel

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n_rows, D), dtype=np.float32)
    batches = [x[i : i + bs] for i in range(0, x.shape[0], bs)]
    print(f"keras {keras.__version__} ({keras.backend.backend()}), onnxruntime "
          f"{ort.__version__}, openvino {ov.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {args.n_rows} rows x {D} features, {C} "
          f"classes, batch {bs}; target <= {TARGET}")
    ratios: dict[str, float] = {}

    # ---- Keras: softmax head, queried through the pre-activation clone
    keras.utils.set_random_seed(0)
    net = keras.Sequential([
        keras.Input((D,)), keras.layers.Dense(512, activation="tanh"),
        keras.layers.Dense(256, activation="tanh"), keras.layers.Dense(C, activation="softmax"),
    ])
    km = KerasModel(net, batch_size=bs)
    ratios["keras"] = compare(
        "Keras MLP (torch backend), logits via the pre-activation clone",
        {"model.predict(x, batch_size)": lambda: net.predict(x, batch_size=bs, verbose=0),
         "predict_on_batch loop": lambda: [net.predict_on_batch(b) for b in batches]},
        lambda: km.logits(x), args.repeats)

    # ---- ONNX Runtime and OpenVINO: the same torch MLP exported once
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(D, 512), torch.nn.Tanh(),
                                 torch.nn.Linear(512, 256), torch.nn.Tanh(),
                                 torch.nn.Linear(256, C)).eval()
    folder = Path(tempfile.mkdtemp())
    path = folder / "mlp.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, D),), str(path), input_names=["x"],
                          output_names=["logits"], dynamo=False,
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    om = OnnxModel(path, batch_size=bs)
    session = om.session  # the same session: same threads and optimisations
    ratios["onnx"] = compare(
        "ONNX Runtime (CPUExecutionProvider)",
        {"session.run loop": lambda: [session.run(["logits"], {"x": b})[0] for b in batches]},
        lambda: om.logits(x), args.repeats)

    vm = OpenVINOModel(path, batch_size=bs)
    request = vm.compiled.create_infer_request()

    def ov_loop() -> list[object]:
        out = []
        for b in batches:
            request.infer({0: b})
            out.append(request.get_output_tensor(0).data.copy())
        return out

    ratios["openvino"] = compare("OpenVINO (CPU, f32)", {"infer request loop": ov_loop},
                                 lambda: vm.logits(x), args.repeats)

    # ---- HuggingFace: a small BERT text classifier
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(500)]
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]",
                                                     unk_token="[UNK]")
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=128,
                                     num_labels=4, max_position_embeddings=64)
    bert = transformers.BertForSequenceClassification(config).eval()
    texts = [" ".join(words[j] for j in rng.integers(0, 500, int(rng.integers(5, 40))))
             for _ in range(args.n_texts)]
    hb = 32
    hf = HFClassifier(bert, tokenizer, batch_size=hb)

    def hf_loop() -> list[object]:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), hb):
                enc = tokenizer(texts[i : i + hb], padding=True, truncation=True,
                                max_length=512, return_tensors="pt")
                out.append(bert(**enc).logits)
        return out

    ratios["hf"] = compare(f"HuggingFace BERT classifier, {args.n_texts} texts, batch {hb}",
                           {"tokenize + forward loop": hf_loop}, lambda: hf.logits(texts),
                           args.repeats)

    worst = max(ratios.values())
    print("\nratios: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
          + f"; worst {worst:.3f} (target <= {TARGET})")
    ok = worst <= TARGET
    print("PASS" if ok else "ABOVE TARGET")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
