"""The demos behind ``privmeter demo``: nothing downloaded, everything built here.

- ``--task tabular`` (the default): an MLP on scikit-learn's digits with 8 reference models
  (the defaults of :func:`privmeter.config.load_config`);
- ``--task text``: :func:`text_demo`, a small GPT-2-style causal language model fine-tuned
  on synthetic personal records with secret-sharer canaries, audited with every
  language-model signal and attack, 4 fine-tuned reference models and the blind baseline.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["TEXT_DEMO", "text_demo"]

#: The text demo's settings (sizes chosen so that it runs in about a minute on 2 CPU cores).
TEXT_DEMO: dict[str, Any] = {
    "n_records": 500,
    "n_public": 300,
    "vocab_size": 512,
    "n_layer": 2,
    "n_embd": 64,
    "max_length": 96,
    "pretrain_epochs": 2,
    "epochs": 6,
    "learning_rate": 2e-3,
    "batch_size": 16,
    "n_references": 4,
    "canary_template": "my account number is {d}{d}{d}{d}{d}{d}",
    "canary_repetitions": (0, 1, 4, 16),
    "canary_candidates": 1000,
}


def text_demo(*, progress: bool = True, seed: int = 0, workdir: str | Path | None = None,
              **overrides: Any) -> tuple[Any, dict[str, float]]:
    """Build and run the text demo; return the report and the seconds spent on the base model.

    A tokenizer (byte-level BPE) and a 2-layer GPT-2 are built from a config and pretrained
    on "public" synthetic records (:func:`privmeter.datasets.synthetic_text.synthetic_records`
    with another seed), so that fine-tuning measures memorisation of the audited records and
    not the learning of their language. The audit then fine-tunes the target on half of the
    audit records plus the canaries (Carlini et al. 2019), and 4 reference models on random
    halves (online), and runs every language-model attack (LOSS, zlib, lower-case, Min-K%,
    Min-K%++, the pretrained base as reference model, Attack-R, LiRA, RMIA, auto), the blind
    baseline and the canary exposures.

    Parameters
    ----------
    progress : bool
        Progress bars.
    seed : int
        Seeds the records, the models, the canaries and the attacks.
    workdir : path, optional
        Where the base model is written (default: a temporary folder, removed afterwards).
    **overrides
        Any key of :data:`TEXT_DEMO`.
    """
    import privmeter as pm
    from privmeter.datasets.synthetic_text import synthetic_records
    from privmeter.models import HFCausalLM
    from privmeter.training import LMTrainer
    from privmeter.training.lm_trainer import build_tiny_causal_lm, pretrain_causal_lm

    unknown = sorted(set(overrides) - set(TEXT_DEMO))
    if unknown:
        raise ValueError(f"unknown text demo settings {unknown}; known: {sorted(TEXT_DEMO)}")
    cfg = {**TEXT_DEMO, **overrides}
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="privmeter-text-demo-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        t0 = time.perf_counter()
        public = synthetic_records(cfg["n_public"], seed=seed + 1, name="public records")
        data = synthetic_records(cfg["n_records"], seed=seed)
        base = build_tiny_causal_lm(
            root / "base-model", list(public.x), vocab_size=cfg["vocab_size"],
            n_layer=cfg["n_layer"], n_embd=cfg["n_embd"], n_head=2,
            n_positions=max(128, cfg["max_length"]), seed=seed,
        )
        pretrain_causal_lm(base, list(public.x), epochs=cfg["pretrain_epochs"],
                           learning_rate=1e-3, batch_size=cfg["batch_size"],
                           max_length=cfg["max_length"], seed=seed)
        timings["base model"] = time.perf_counter() - t0
        trainer = LMTrainer(base, epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                            batch_size=cfg["batch_size"], max_length=cfg["max_length"],
                            schedule="constant")
        audit = pm.Audit(
            data, trainer, n_references=cfg["n_references"], seed=seed, progress=progress,
            reference_lm=HFCausalLM.from_pretrained(base, max_length=cfg["max_length"]),
            canaries=pm.CanarySpec(
                cfg["canary_template"], repetitions=tuple(cfg["canary_repetitions"]),
                per_repetition=2, n_candidates=cfg["canary_candidates"]),
            title="Membership inference audit: a small language model fine-tuned on "
                  "synthetic personal records (text demo)",
        )
        report = audit.run()
    return report, timings
