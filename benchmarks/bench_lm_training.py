"""Reference language models: LoRA vs full fine-tuning, time per model and tokens per second.

Builds tiny GPT-2-style models locally (``build_tiny_causal_lm``: a byte-level BPE tokenizer
trained on the corpus, random weights from a config, no download), then fine-tunes one
reference model per seed on half of a corpus of synthetic personal records, as the
language-model audit does, with :class:`privmeter.training.LMTrainer`:

- ``full``: every weight (AdamW);
- ``lora``: a rank-8 LoRA adapter on peft's default modules (``c_attn`` for GPT-2);
- ``lora-all``: a rank-8 adapter on every projection (``c_attn``, ``c_proj``, ``c_fc``).

Prints, per model size and method, the best-of-``--repeats`` wall time of one reference model
(base model already loaded in the process, as from the second reference model on), the
training tokens per second (text tokens, padding excluded, times epochs), the first fit of a
fresh process-level cache (loading the base from disk), the trained parameters and the size
of the stored result (what the cache writes: the whole model for ``full``, the adapter for
LoRA). All ratios come from measurements in the same run.

    .venv/bin/python benchmarks/bench_lm_training.py [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from privmeter.training import LMTrainer, LoraSettings
from privmeter.training import lm_trainer as lm

SIZES: dict[str, dict[str, int]] = {
    "tiny (2x64)": {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 512},
    "small (4x128)": {"n_layer": 4, "n_embd": 128, "n_head": 4, "vocab_size": 1024},
}


def _corpus(n: int) -> np.ndarray:
    try:
        from privmeter.datasets.synthetic_text import synthetic_records
    except ImportError:  # pragma: no cover - before the text datasets existed
        rng = np.random.default_rng(0)
        return np.array(
            [f"Customer {rng.integers(10**5)} paid {rng.integers(10, 999)} EUR on account "
             f"{rng.integers(10**7, 10**8)} and asked for a refund." for _ in range(n)],
            dtype=object,
        )
    return np.asarray(synthetic_records(n, seed=0).x, dtype=object)


def _methods() -> dict[str, LoraSettings | None]:
    return {
        "full": None,
        "lora": LoraSettings(r=8),
        "lora-all": LoraSettings(r=8, target_modules=("c_attn", "c_proj", "c_fc")),
    }


def _n_params(trainer: LMTrainer) -> tuple[int, int]:
    model = trainer.init_model(0)
    total = sum(p.numel() for p in model.parameters())
    trained = total if trainer.lora is None else sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    return total, trained


def _stored_bytes(state: dict[str, torch.Tensor]) -> int:
    from safetensors.torch import save

    return len(save({k: v.contiguous() for k, v in state.items()}))


def bench(repeats: int, n_texts: int, epochs: int, batch_size: int, max_length: int,
          threads: int | None, device: str) -> None:
    texts = _corpus(n_texts)
    rows = np.arange(0, n_texts, 2)  # one reference model trains on half of the pool
    print(f"\n== one reference model: {rows.size} synthetic records of {n_texts} (mean "
          f"{np.mean([len(t) for t in texts]):.0f} chars), {epochs} epoch(s), batch {batch_size}, "
          f"max_length {max_length}, AdamW, torch threads {threads or torch.get_num_threads()}, "
          f"device {device}")
    print(f"{'model':>14} {'params':>8} {'method':>9} {'trained':>9} {'s/model':>8} "
          f"{'vs full':>7} {'tok/s':>8} {'cold s':>7} {'stored':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in SIZES.items():
            base = lm.build_tiny_causal_lm(Path(tmp) / label.split()[0], texts,
                                           n_positions=max(128, max_length), **shape)
            results: dict[str, float] = {}
            for method, lora in _methods().items():
                trainer = LMTrainer(base, lora=lora, epochs=epochs, batch_size=batch_size,
                                    max_length=max_length, learning_rate=1e-3,
                                    num_threads=threads, device=device)
                seqs = trainer.encode(list(texts[rows]))
                n_tokens = sum(len(s) for s in seqs) * epochs
                lm._BASES.clear()
                t0 = time.perf_counter()
                state = trainer.fit(texts, None, rows, seed=0)
                cold = time.perf_counter() - t0
                times: list[float] = []
                for r in range(repeats):
                    t0 = time.perf_counter()
                    state = trainer.fit(texts, None, rows, seed=r + 1)
                    times.append(time.perf_counter() - t0)
                best = min(times)
                results[method] = best
                total, trained = _n_params(trainer)
                stored = _stored_bytes(state)
                print(f"{label:>14} {total / 1e6:>7.2f}M {method:>9} {trained / 1e3:>8.1f}k "
                      f"{best:>8.2f} {best / results['full']:>6.2f}x {n_tokens / best:>8.0f} "
                      f"{cold:>7.2f} {stored / 1024:>7.0f}kB")
    print("(s/model: best of the repeats with the base model already in the process cache; "
          "cold s: the first fit, loading the base from disk; tok/s: text tokens trained per "
          "second; stored: the safetensors payload the cache writes per reference model)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads while training (0: the process's setting)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"privmeter LM training benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    bench(args.repeats, args.texts, args.epochs, args.batch_size, args.max_length,
          args.threads or None, args.device)


if __name__ == "__main__":
    main()
