"""LMTrainer (full fine-tuning and LoRA of causal LMs) and the tiny local GPT-2 builder."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("peft")

from privmeter.training import ProcessExecutor, Store, keep_matrix, train_models  # noqa: E402
from privmeter.training.lm_trainer import (  # noqa: E402
    LMTrainer,
    LoraSettings,
    base_fingerprint,
    build_tiny_causal_lm,
    causal_lm_loss,
    pretrain_causal_lm,
)

_NAMES = ("Amara", "Bastian", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi")
_CITIES = ("Aarhus", "Bilbao", "Cork", "Dresden", "Ghent", "Lyon")


def _corpus(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texts = [
        f"{_NAMES[rng.integers(len(_NAMES))]} from {_CITIES[rng.integers(len(_CITIES))]} paid "
        f"{rng.integers(10, 999)} euros on account {rng.integers(10**5, 10**6)}."
        for _ in range(n)
    ]
    return np.array(texts, dtype=object)


TEXTS = _corpus(120)
MEMBERS = np.arange(16)
HELD_OUT = np.arange(60, 76)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    return build_tiny_causal_lm(folder, TEXTS, vocab_size=320, n_embd=32, n_positions=64)


def _trainer(base: Path, **kw: Any) -> LMTrainer:
    opts: dict[str, Any] = {"epochs": 2, "learning_rate": 3e-3, "batch_size": 8,
                            "max_length": 48}
    opts.update(kw)
    return LMTrainer(base, **opts)


def _loss(trainer: LMTrainer, model: Any, rows: np.ndarray) -> float:
    ids, mask, labels = trainer._collate(trainer.encode(list(TEXTS[rows])), torch.device("cpu"))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    return float(causal_lm_loss(logits, labels))


def _equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------ tiny base models
def test_tiny_model_loads_back_and_is_deterministic(base: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base)
    assert model.config.n_layer == 2 and model.config.n_embd == 32
    assert model.get_input_embeddings().num_embeddings == len(tok) <= 320
    assert tok.eos_token == tok.bos_token == tok.pad_token == "<|endoftext|>"
    assert model.config.eos_token_id == tok.eos_token_id
    assert tok.decode(tok(TEXTS[0])["input_ids"]) == TEXTS[0]  # byte-level: lossless
    again = build_tiny_causal_lm(tmp_path / "again", TEXTS, vocab_size=320, n_embd=32,
                                 n_positions=64)
    assert (again / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()
    a, b = load_file(base / "model.safetensors"), load_file(again / "model.safetensors")
    assert _equal(a, b)
    assert base_fingerprint(again) == base_fingerprint(base)
    other = build_tiny_causal_lm(tmp_path / "other", TEXTS, vocab_size=320, n_embd=32,
                                 n_positions=64, seed=1)
    assert base_fingerprint(other) != base_fingerprint(base)


def test_tiny_model_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_embd=30 must be a multiple of n_head=4"):
        build_tiny_causal_lm(tmp_path, TEXTS, n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="vocab_size"):
        build_tiny_causal_lm(tmp_path, TEXTS, vocab_size=100)
    with pytest.raises(ValueError, match="no non-empty text"):
        build_tiny_causal_lm(tmp_path, ["", "  "])
    with pytest.raises(TypeError, match="one str"):
        build_tiny_causal_lm(tmp_path, "a single text")


def test_pretrain_lowers_the_corpus_loss(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pre"
    shutil.copytree(base, folder)
    before = _trainer(folder)
    rows = np.arange(100, 116)
    loss_before = _loss(before, before.init_model(0), rows)
    pretrain_causal_lm(folder, list(TEXTS[80:]), epochs=2, learning_rate=3e-3)
    after = _trainer(folder)
    assert after.fingerprint() != before.fingerprint()  # new weights: new cache keys
    assert _loss(after, after.init_model(0), rows) < loss_before - 0.5


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("lora", [None, "lora"])
def test_fine_tuning_lowers_members_loss_more(base: Path, lora: str | None) -> None:
    if lora is None:
        trainer = _trainer(base, epochs=6)
    else:
        trainer = _trainer(base, epochs=12, learning_rate=3e-2, lora=LoraSettings(
            r=8, target_modules=("c_attn", "c_proj", "c_fc")))
    start = trainer.init_model(0)
    tuned = trainer.build_module(trainer.fit(TEXTS, None, MEMBERS, seed=0))
    drop_in = _loss(trainer, start, MEMBERS) - _loss(trainer, tuned, MEMBERS)
    drop_out = _loss(trainer, start, HELD_OUT) - _loss(trainer, tuned, HELD_OUT)
    assert drop_in > 0
    assert drop_in > drop_out + (0.05 if lora is None else 0.005)


def test_seeded_and_bit_identical(base: Path) -> None:
    for trainer in (_trainer(base, epochs=1), _trainer(base, epochs=1, lora=LoraSettings(r=2))):
        a = trainer.fit(TEXTS, None, MEMBERS, seed=3)
        b = trainer.fit(TEXTS, None, MEMBERS, seed=3)
        c = trainer.fit(TEXTS, None, MEMBERS, seed=4)
        assert _equal(a, b)
        assert not _equal(a, c)
        assert all(v.device.type == "cpu" for v in a.values())


def test_full_state_drops_tied_weights_and_build_reties(base: Path) -> None:
    trainer = _trainer(base, epochs=1)
    before = {k: v.clone() for k, v in trainer.init_model(0).state_dict().items()}
    state = trainer.fit(TEXTS, None, MEMBERS, seed=0)
    assert _equal(before, trainer.init_model(0).state_dict())  # the cached base is untouched
    assert "lm_head.weight" not in state and "transformer.wte.weight" in state
    model: Any = trainer.build_module(state)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert torch.equal(model.transformer.wte.weight, state["transformer.wte.weight"])
    assert not model.training


def test_lora_state_holds_only_the_adapter(base: Path) -> None:
    full = _trainer(base, epochs=1).fit(TEXTS, None, MEMBERS, seed=0)
    trainer = _trainer(base, epochs=1, lora=LoraSettings(r=4))
    state = trainer.fit(TEXTS, None, MEMBERS, seed=0)
    assert state and all("lora_A" in k or "lora_B" in k for k in state)
    assert all(".c_attn." in k for k in state)  # peft's default for GPT-2
    n_full = sum(v.numel() for v in full.values())
    assert sum(v.numel() for v in state.values()) < 0.1 * n_full
    # the merged model differs from the base only through the adapter
    built: Any = trainer.build_module(state)
    assert type(built).__name__ == "GPT2LMHeadModel"
    start: Any = trainer.init_model(0)
    assert not torch.equal(built.transformer.h[0].attn.c_attn.weight,
                           start.base_model.model.transformer.h[0].attn.c_attn.weight)
    assert torch.equal(built.transformer.h[0].mlp.c_fc.weight,
                       start.base_model.model.transformer.h[0].mlp.c_fc.weight)


def test_lora_default_targets_without_a_peft_default(base: Path) -> None:
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(base)
    model.config.model_type = "unknown_arch"
    assert LoraSettings().resolve_targets(model) == ("c_attn", "c_fc", "c_proj")


def test_repeated_indices_are_repetitions(base: Path) -> None:
    trainer = _trainer(base, epochs=1)
    once = trainer.fit(TEXTS, None, np.arange(4), seed=0)
    twice = trainer.fit(TEXTS, None, np.array([0, 0, 1, 2, 3]), seed=0)
    assert trainer.steps(5) == 1 and trainer.steps(17) == 3
    assert not _equal(once, twice)


def test_add_bos(base: Path) -> None:
    plain, with_bos = _trainer(base), _trainer(base, add_bos=True, max_length=8)
    eot = plain.tokenizer().bos_token_id
    ids = plain.encode([TEXTS[0]])[0]
    assert ids[0] != eot
    assert with_bos.encode([TEXTS[0]])[0] == [eot, *ids[:7]]
    assert with_bos.fingerprint() != plain.fingerprint()
    with pytest.raises(TypeError, match="add_bos must be None, True or False"):
        _trainer(base, add_bos=1)


def test_fingerprint_covers_base_content_not_path(base: Path, tmp_path: Path) -> None:
    trainer = _trainer(base)
    moved = tmp_path / "moved"
    shutil.copytree(base, moved)
    assert _trainer(moved).fingerprint() == trainer.fingerprint()
    cfg = json.loads((moved / "config.json").read_text())
    cfg["resid_pdrop"] = 0.0
    (moved / "config.json").write_text(json.dumps(cfg))
    assert _trainer(moved).fingerprint() != trainer.fingerprint()
    assert _trainer(base, lora=LoraSettings(r=2)).fingerprint() != trainer.fingerprint()
    assert json.loads(trainer.fingerprint())["config"]["learning_rate"] == 3e-3
    assert LMTrainer(base, max_length=64).lr == 5e-5
    assert LMTrainer(base, max_length=64, lora=LoraSettings()).lr == 2e-4
    clone = pickle.loads(pickle.dumps(trainer))
    assert clone == trainer and clone.fingerprint() == trainer.fingerprint()


# ------------------------------------------------------------ train_models, store, executors
def test_store_round_trip_and_resume(base: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    keep = keep_matrix(2, 24, seed=0)
    x, y = TEXTS[:24], np.zeros(24, dtype=np.int64)
    calls = []
    fit = LMTrainer.fit

    def counting(self: LMTrainer, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        return fit(self, *args, **kw)

    monkeypatch.setattr(LMTrainer, "fit", counting)
    store = Store(tmp_path / "cache")
    for trainer in (_trainer(base, epochs=1), _trainer(base, epochs=1, lora=LoraSettings(r=2))):
        calls.clear()
        first = train_models(trainer, x, y, keep, seeds=0, store=store, progress=False)
        assert len(calls) == 2
        second = train_models(trainer, x, y, keep, seeds=0, store=store, progress=False)
        assert len(calls) == 2  # nothing retrained
        assert all(_equal(a, b) for a, b in zip(first, second, strict=True))
        trainer.build_module(second[0])
    files = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(files) == 4


def test_process_executor_equals_in_process(base: Path) -> None:
    trainer = _trainer(base, epochs=1)  # full fine-tuning: the workers need not import peft
    keep = keep_matrix(2, 16, seed=1)
    x, y = TEXTS[:16], np.zeros(16, dtype=np.int64)
    local = train_models(trainer, x, y, keep, seeds=5, progress=False)
    with ProcessExecutor(max_workers=2) as ex:
        remote = train_models(trainer, x, y, keep, seeds=5, executor=ex, progress=False)
    assert all(_equal(a, b) for a, b in zip(local, remote, strict=True))


@pytest.mark.skipif(importlib.util.find_spec("privmeter.models.hf_lm") is None,
                    reason="privmeter.models.hf_lm (HFCausalLM) is not written yet")
def test_build_gives_an_hf_causal_lm(base: Path) -> None:
    from privmeter.models import HFCausalLM

    trainer = _trainer(base, epochs=1)
    access = trainer.build(trainer.fit(TEXTS, None, MEMBERS, seed=0), batch_size=4)
    assert isinstance(access, HFCausalLM)
    assert access.max_length == trainer.max_length == 48 and access.add_bos is None
    stats = access.token_stats(list(TEXTS[:3]))
    assert len(stats.logprobs) == 3


# ------------------------------------------------------------------------------ bad input
def test_bad_input(base: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model.*does not exist"):
        LMTrainer(missing)
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        LMTrainer(tmp_path)
    from transformers import DistilBertConfig

    DistilBertConfig(n_layers=1, dim=32, hidden_dim=64, n_heads=2).save_pretrained(
        tmp_path / "bert")
    with pytest.raises(ValueError, match="'distilbert'.*not a causal language model"):
        LMTrainer(tmp_path / "bert")
    with pytest.raises(ValueError, match="max_length=100 exceeds the context.*64 positions"):
        LMTrainer(base, max_length=100)
    with pytest.raises(ValueError, match="LoraSettings.r must be an integer >= 1, got 0"):
        LMTrainer(base, lora={"r": 0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha must be a positive"):
        LoraSettings(alpha=-1)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        LoraSettings(dropout=1.0)
    with pytest.raises(ValueError, match="unknown LoRA setting"):
        LMTrainer(base, lora={"rank": 4})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        LMTrainer(base, learning_rate=0)
    with pytest.raises(ValueError, match="unknown dtype"):
        LMTrainer(base, dtype="int8")  # type: ignore[arg-type]
    trainer = _trainer(base, epochs=1)
    with pytest.raises(ValueError, match="indices must lie in"):
        trainer.fit(TEXTS, None, [0, 500], seed=0)
    texts = TEXTS[:10].copy()
    texts[3] = "   "
    with pytest.raises(ValueError, match=r"x\[3\] is empty or whitespace-only"):
        trainer.fit(texts, None, np.arange(10), seed=0)
    trainer.fit(texts, None, np.array([0, 1]), seed=0)  # row 3 not selected: fine
    with pytest.raises(ValueError, match="1-D array of texts"):
        trainer.fit(TEXTS.reshape(-1, 2), None, [0], seed=0)
    with pytest.raises(ValueError, match="match no module"):
        _trainer(base, lora=LoraSettings(target_modules=("q_proj",))).fit(TEXTS, None, [0], seed=0)
    lora_state = _trainer(base, epochs=1, lora=LoraSettings(r=2)).fit(TEXTS, None, [0, 1], seed=0)
    with pytest.raises(ValueError, match="does not fit the base model"):
        trainer.build_module(lora_state)
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        _trainer(base, lora=LoraSettings(r=2)).build_module(trainer.fit(TEXTS, None, [0], seed=0))
