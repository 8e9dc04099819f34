"""Language-model signals vs the bare batched forward pass of the same causal LM.

Target: all sequence signals of one model (``lm_loss``, ``zlib``, ``min_k``,
``min_k_plus_plus``: one shared pass, through :class:`privmeter.models.HFCausalLM` and
:func:`privmeter.signals.compute_signal`, the adapter's cache cleared first) cost at most 1.2x
the bare forward pass (the same length-sorted batches of the same token ids through the same
module under ``torch.inference_mode``, logits left as tensors; tokenisation not timed for the
bare pass, but timed for privmeter). ``lowercase`` needs a second pass over the lower-cased
texts, so "all five" is compared with the two bare passes it needs. Both are timed in the same
run, interleaved, and the fastest of several repeats is compared; on a CPU the times are the
process's CPU time with one torch thread (the development machine is shared, and wall times
there mostly measure the other processes), on an accelerator wall times.

The extra work of the signals is a few float32 passes over each position's logits (the
statistics of Min-K%++ need the whole next-token distribution), so the ratio depends on how
much the model computes per logit: it is highest for toy models whose forward pass is almost
only the output layer, and falls towards 1 for real model shapes (the GPT-2-small-shaped
model below).

Memory: the peak resident memory of a fresh process during the bare forward pass and during
all signals, for vocabularies of 1k and 8k tokens and 64 and 256 texts; the extra memory of
the signals stays a few ``[positions, vocabulary]`` blocks (it does not grow with the number of
texts), far below a float64 ``[texts, tokens, vocabulary]`` array.

The models are random GPT-2s built from a config (no download) with a byte-level BPE
tokenizer trained here; the model's vocabulary may exceed the tokenizer's (logits over all
rows cost the same).

Usage::

    .venv/bin/python benchmarks/bench_lm_signals.py [--n-texts 64] [--repeats 5]
        [--threads 1] [--device cpu|cuda] [--vocab 1024 8192 50257] [--strict] [--skip-memory]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

TARGET = 1.2
SIGNALS = ("lm_loss", "zlib", "min_k", "min_k_plus_plus")

_WORDS = ("alice bob carol dave erin my account number is the a of to and street lives in "
          "Paris London card pin code 1234 5678 hello world she he paid sent called wrote "
          "Monday Tuesday doctor bank office order")
WORDS = tuple(_WORDS.split())

#: name -> (n_layer, n_embd, n_head, model vocabulary, number of texts / 64)
MODELS = {
    "tiny (2 x 64, vocab 1k)": (2, 64, 2, 1024, 1.0),
    "small (4 x 256, vocab 8k)": (4, 256, 4, 8192, 1.0),
    "GPT-2 small shape (12 x 768, vocab 50257)": (12, 768, 12, 50257, 0.125),
}


def corpus(n: int, seed: int = 0, words: tuple[int, int] = (40, 70)) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = [rng.choice(WORDS) for _ in range(rng.randint(*words))]
        out.append(" ".join(w).capitalize() + ".")
    return out


def build(folder: Path, n_layer: int, n_embd: int, n_head: int, vocab: int) -> Path:
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus(400, seed=1), trainers.BpeTrainer(
        vocab_size=min(vocab, 1000), special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=128, n_embd=n_embd,
                                     n_layer=n_layer, n_head=n_head, bos_token_id=0,
                                     eos_token_id=0)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def bare_batches(lm: Any, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The token ids of the texts, length-sorted and padded into batches (not timed)."""
    ids = sorted(lm.tokenize(texts), key=len, reverse=True)
    ids = [seq[: lm.max_length] for seq in ids]
    out = []
    for b in range(0, len(ids), lm.batch_size):
        chunk = ids[b : b + lm.batch_size]
        width = max(map(len, chunk))
        x = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros_like(x)
        for r, seq in enumerate(chunk):
            x[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
        out.append((x.to(lm.device), mask.to(lm.device)))
    return out


def bare_forward(model: Any, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    model.eval()
    with torch.inference_mode():
        for x, mask in batches:
            _ = model(input_ids=x, attention_mask=mask, use_cache=False).logits
    _sync()


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def all_signals(lm: Any, texts: list[str], names: tuple[str, ...]) -> None:
    from privmeter.signals import compute_signal

    lm.clear_cache()
    x = np.array(texts, dtype=object)
    y = np.zeros(len(texts), dtype=np.int64)
    for name in names:
        compute_signal(name, lm, x, y)
    _sync()


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - t0


def bench(name: str, folder: Path, n_texts: int, args: argparse.Namespace) -> dict[str, float]:
    from privmeter.models import HFCausalLM

    lm = HFCausalLM.from_pretrained(folder, batch_size=args.batch_size, device=args.device)
    texts = corpus(n_texts, seed=2)
    lowered = [t.lower() for t in texts]
    batches = bare_batches(lm, texts)
    batches_lower = bare_batches(lm, lowered)
    n_scored = int(lm.token_stats(texts).n_tokens.sum())
    n_fed = sum(int(m.sum()) for _, m in batches)
    bare_forward(lm.model, batches[:1])  # warm-up
    all_signals(lm, texts[: args.batch_size], SIGNALS)
    keys = ("forward", "signals", "forward x2", "all")
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    repeats = args.repeats if n_texts >= 32 else max(2, args.repeats // 2)
    for _ in range(repeats):  # interleaved so drifts in machine load hit all alike
        runs["forward"].append(timed(lambda: bare_forward(lm.model, batches)))
        runs["signals"].append(timed(lambda: all_signals(lm, texts, SIGNALS)))
        runs["forward x2"].append(timed(lambda: bare_forward(lm.model, batches + batches_lower)))
        runs["all"].append(timed(lambda: all_signals(lm, texts, (*SIGNALS, "lowercase"))))
    clock = 1 if lm.device.type != "cpu" else 0  # CPU time on a CPU (the machine is shared)
    best = {k: min(r[clock] for r in v) for k, v in runs.items()}
    wall = {k: min(r[1] for r in v) for k, v in runs.items()}
    ratio_one = best["signals"] / best["forward"]
    vocab_size = getattr(lm.model.config, "vocab_size", "?")
    ratio_all = best["all"] / best["forward x2"]
    print(f"\n{name}: {n_texts} texts, {n_fed} tokens ({n_scored} scored), batch_size "
          f"{args.batch_size}, vocab {vocab_size}, device {lm.device}; "
          f"best of {repeats} {'CPU' if clock == 0 else 'wall'} times")
    print(f"  {'':<48}{'best ms':>9}{'wall ms':>9}{'ratio':>8}{'tokens/s':>10}")
    rows = [
        ("bare forward (1 pass)", "forward", None),
        (f"{', '.join(SIGNALS)} (1 pass)", "signals", ratio_one),
        ("bare forward (texts + lower-cased texts)", "forward x2", None),
        ("all five incl. lowercase (2 passes)", "all", ratio_all),
    ]
    for label, key, ratio in rows:
        passes = 2 if key in ("forward x2", "all") else 1
        tps = passes * n_fed / best[key]
        r = f"{ratio:.3f}" if ratio is not None else ""
        print(f"  {label:<48}{best[key] * 1e3:>9.1f}{wall[key] * 1e3:>9.1f}{r:>8}{tps:>10.0f}")
    return {"one_pass": ratio_one, "all": ratio_all,
            "all_vs_one_pass": best["all"] / best["forward"]}


# ------------------------------------------------------------------------- memory
def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class _PeakRSS(threading.Thread):
    """Samples the resident memory every millisecond; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mib()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss_mib())
            time.sleep(0.001)


def memory_probe(folder: str, mode: str, n_texts: int, device: str) -> dict[str, float]:
    """Run in a fresh process: the peak memory of one phase above its start (MiB)."""
    from privmeter.models import HFCausalLM

    lm = HFCausalLM.from_pretrained(folder, batch_size=8, device=device, cache_size=0)
    texts = corpus(n_texts, seed=2)
    batches = bare_batches(lm, texts)
    bare_forward(lm.model, batches[-1:])  # warm-up on the smallest batch
    all_signals(lm, texts[-2:], SIGNALS)
    gc.collect()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
        sampler = None
    else:
        before = _rss_mib()
        sampler = _PeakRSS()
        sampler.start()
    if mode == "forward":
        bare_forward(lm.model, batches)
    else:
        all_signals(lm, texts, SIGNALS)
    if sampler is not None:
        sampler.running = False
        sampler.join()
        after = max(sampler.peak, _rss_mib())
    else:
        after = torch.cuda.max_memory_allocated() / 2**20
    width = max(int(m.sum(1).max()) for _, m in batches)
    return {"extra_mib": after - before, "width": width}


def memory_table(folders: dict[int, Path], args: argparse.Namespace) -> None:
    print("\nPeak memory above the start of the phase (a fresh process per cell; CPU: sampled "
          "RSS, CUDA: peak allocated), batch_size 8")
    print(f"  {'vocab':>6}{'texts':>7}{'forward MiB':>13}{'signals MiB':>13}{'difference':>12}"
          f"{'1 batch logits MiB':>20}{'f64 [texts,tok,V] MiB':>23}")
    for vocab, folder in folders.items():
        for n_texts in (64, 256):
            res = {}
            for mode in ("forward", "signals"):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-probe", str(folder), mode,
                     str(n_texts), args.device],
                    check=True, capture_output=True, text=True)
                res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            width = res["forward"]["width"]
            logits = 8 * width * vocab * 4 / 2**20
            full64 = n_texts * width * vocab * 8 / 2**20
            fwd, sig = res["forward"]["extra_mib"], res["signals"]["extra_mib"]
            print(f"  {vocab:>6}{n_texts:>7}{fwd:>13.1f}{sig:>13.1f}{sig - fwd:>12.1f}"
                  f"{logits:>20.1f}{full64:>23.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: CPU times are then comparable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strict", action="store_true", help="exit 1 above the target")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--vocab", type=int, nargs="*", default=[1024, 8192, 50257],
                        help="which models to time (by vocabulary size)")
    parser.add_argument("--memory-probe", nargs=4, metavar=("FOLDER", "MODE", "N", "DEVICE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        folder, mode, n, device = args.memory_probe
        print(json.dumps(memory_probe(folder, mode, int(n), device)))
        return 0
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads; target ratio <= {TARGET}")
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, (n_layer, n_embd, n_head, vocab, share) in MODELS.items():
            folder = build(Path(tmp) / f"m{vocab}", n_layer, n_embd, n_head, vocab)
            folders[vocab] = folder
            if vocab in args.vocab:
                n_texts = max(args.batch_size, int(args.n_texts * share))
                ratios[name] = bench(name, folder, n_texts, args)
        if not args.skip_memory:
            memory_table({v: f for v, f in folders.items() if v in (1024, 8192)}, args)
    for name, r in ratios.items():
        print(f"  {name:<44} one pass {r['one_pass']:.3f}   all five {r['all']:.3f}")
    worst = max(max(r["one_pass"], r["all"]) for r in ratios.values())
    print(f"\nworst ratio {worst:.3f} (target <= {TARGET}): "
          f"{'OK' if worst <= TARGET else 'ABOVE TARGET'}")
    return 1 if args.strict and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
