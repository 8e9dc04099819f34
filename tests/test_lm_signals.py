"""Sequence signals of causal LMs against naive per-text implementations.

Random per-token log-probabilities go through :class:`BlackBoxLM`, random per-position means
and variances through a small fake :class:`LanguageModelAccess` (hypothesis); a tiny random
GPT-2 loaded from a folder checks the signals end to end and that they share one forward pass.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privmeter.models import BlackBoxLM, BlackBoxModel, TokenStats
from privmeter.models.base import AccessLevel, Task
from privmeter.signals import (
    compute_signal,
    get_signal,
    list_signals,
    min_k_plus_plus_signal,
    min_k_signal,
    pretrained_reference_signal,
    sequence_nll,
)
from privmeter.signals.lm import SIGMA_FLOOR
from privmeter.table import SignalTable

LM_SIGNALS = ("lm_loss", "zlib", "lowercase", "min_k", "min_k_plus_plus")


# ------------------------------------------------------------------------ naive versions
def naive_loss(lp: Any) -> float:
    return -sum(lp) / len(lp)


def naive_min_k(values: Any, k: float) -> float:
    k_length = max(1, int(len(values) * k))  # the reference code: int(len * k), at least 1
    lowest = sorted(values)[:k_length]
    return sum(lowest) / len(lowest)


def naive_min_k_plus_plus(lp: Any, mu: Any, var: Any, k: float) -> float:
    z = [(a - m) / max(max(v, 0.0) ** 0.5, SIGMA_FLOOR) for a, m, v in zip(lp, mu, var,
                                                                         strict=True)]
    return naive_min_k(z, k)


class FakeLM:
    """A LanguageModelAccess serving fixed TokenStats by text."""

    def __init__(self, table: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        self.table = table

    task: Task = "language_model"
    n_classes = None
    access: AccessLevel = "logits"

    def token_stats(self, texts: Sequence[str]) -> TokenStats:
        rows = [self.table[t] for t in texts]
        return TokenStats(logprobs=[r[0] for r in rows], mean_logp=[r[1] for r in rows],
                          var_logp=[r[2] for r in rows])

    def logits(self, x: Any) -> Any:
        raise NotImplementedError

    proba = predict = label_index = logits


def as_x(texts: Sequence[str]) -> np.ndarray:
    return np.array(list(texts), dtype=object)


def zeros(texts: Sequence[str]) -> np.ndarray:
    return np.zeros(len(texts), dtype=np.int64)


TEXT = st.text(alphabet="abAB xy.", min_size=1, max_size=12).filter(lambda t: bool(t.strip()))
LOGPROB = st.floats(-40.0, 0.0, allow_nan=False)


# ------------------------------------------------------------------------ hypothesis
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_signals_match_naive_implementations_on_random_logprobs(data: st.DataObject) -> None:
    texts = data.draw(st.lists(TEXT, min_size=1, max_size=6), label="texts")
    table: dict[str, np.ndarray] = {}
    for t in [*texts, *(t.lower() for t in texts)]:
        if t not in table:
            table[t] = np.array(data.draw(st.lists(LOGPROB, min_size=1, max_size=25)))
    base_table = {t: np.array(data.draw(st.lists(LOGPROB, min_size=1, max_size=25)))
                  for t in texts}
    k = data.draw(st.floats(0.01, 1.0), label="k")
    target = BlackBoxLM(lambda ts: [table[t] for t in ts])
    base = BlackBoxLM(lambda ts: [base_table[t] for t in ts])
    x, y = as_x(texts), zeros(texts)

    loss = [naive_loss(table[t]) for t in texts]
    np.testing.assert_allclose(compute_signal("lm_loss", target, x, y), loss, rtol=1e-12)
    np.testing.assert_allclose(
        compute_signal("zlib", target, x, y),
        [naive_loss(table[t]) / len(zlib.compress(t.encode("utf-8"))) for t in texts],
        rtol=1e-12)
    np.testing.assert_allclose(
        compute_signal("lowercase", target, x, y),
        [naive_loss(table[t]) / max(naive_loss(table[t.lower()]), 1e-12) for t in texts],
        rtol=1e-12)
    np.testing.assert_allclose(compute_signal(min_k_signal(k), target, x, y),
                               [naive_min_k(table[t], k) for t in texts], rtol=1e-12)
    np.testing.assert_allclose(compute_signal("min_k", target, x, y),
                               [naive_min_k(table[t], 0.2) for t in texts], rtol=1e-12)
    np.testing.assert_allclose(
        compute_signal(pretrained_reference_signal(base), target, x, y),
        [naive_loss(table[t]) - naive_loss(base_table[t]) for t in texts], atol=1e-12)
    np.testing.assert_allclose(sequence_nll(target, texts), [-sum(table[t]) for t in texts],
                               rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_min_k_plus_plus_matches_naive_on_random_moments(data: st.DataObject) -> None:
    texts = data.draw(st.lists(TEXT, min_size=1, max_size=5, unique=True), label="texts")
    table = {}
    for t in texts:
        n = data.draw(st.integers(1, 30))
        lp = np.array(data.draw(st.lists(LOGPROB, min_size=n, max_size=n)))
        mu = np.array(data.draw(st.lists(st.floats(-20.0, 0.0), min_size=n, max_size=n)))
        var = np.array(data.draw(st.lists(
            st.one_of(st.just(0.0), st.floats(0.0, 50.0)), min_size=n, max_size=n)))
        table[t] = (lp, mu, var)
    k = data.draw(st.floats(0.01, 1.0), label="k")
    model = FakeLM(table)
    got = compute_signal(min_k_plus_plus_signal(k), model, as_x(texts), zeros(texts))
    assert np.isfinite(got).all()  # sigma = 0 guarded
    np.testing.assert_allclose(got, [naive_min_k_plus_plus(*table[t], k) for t in texts],
                               rtol=1e-10, atol=1e-12)


def test_min_k_counts_tokens_as_the_reference_code() -> None:
    model = BlackBoxLM(lambda ts: [-np.arange(1.0, 11.0) for _ in ts])  # 10 tokens
    x = as_x(["t"])
    assert min_k_signal(0.2)(model, x, [0]).tolist() == [-9.5]  # the 2 lowest: -10, -9
    assert min_k_signal(0.05)(model, x, [0]).tolist() == [-10.0]  # int(0.5) = 0 -> 1 token
    assert min_k_signal(1.0)(model, x, [0]).tolist() == [-5.5]


# ------------------------------------------------------------------------ registry
def test_registered_lm_signals_and_their_metadata() -> None:
    assert set(LM_SIGNALS) <= set(list_signals())
    expected = {  # kind, higher_is_member, requires, cited papers
        "lm_loss": ("loss", False, "proba", {"yeom2018", "carlini2021extraction"}),
        "zlib": ("custom", False, "proba", {"carlini2021extraction"}),
        "lowercase": ("custom", False, "proba", {"carlini2021extraction"}),
        "min_k": ("custom", True, "proba", {"shi2024"}),
        "min_k_plus_plus": ("custom", True, "logits", {"zhang2025"}),
    }
    for name, (kind, higher, requires, cites) in expected.items():
        sig = get_signal(name)
        assert (sig.kind, sig.higher_is_member, sig.requires) == (kind, higher, requires)
        assert sig.task == "language_model" and set(sig.cites) == cites and sig.paper
        assert sig.doc
    assert get_signal("min_k").params == {"k": 0.2}
    ref = pretrained_reference_signal(BlackBoxLM(lambda ts: [[-1.0] for _ in ts]))
    assert (ref.kind, ref.higher_is_member, ref.name) == ("custom", False, "pretrained_reference")
    assert set(ref.cites) == {"carlini2021extraction", "mireshghallah2022"}


def test_bad_arguments_and_models() -> None:
    for k in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="k must be a fraction in"):
            min_k_signal(k)
    with pytest.raises(TypeError, match="k must be a number"):
        min_k_plus_plus_signal(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a causal language model"):
        pretrained_reference_signal(object())  # type: ignore[arg-type]
    blackbox = BlackBoxLM(lambda ts: [[-1.0, -2.0] for _ in ts])
    x = as_x(["some text"])
    with pytest.raises(ValueError, match="no next-token distribution.*offers only 'proba'"):
        compute_signal("min_k_plus_plus", blackbox, x, [0])
    with pytest.raises(ValueError, match=r"needs the full next-token distribution.*'logits'"):
        get_signal("min_k_plus_plus").fn(blackbox, x, [0])
    classifier = BlackBoxModel(lambda v: np.tile([0.5, 0.5], (len(v), 1)), n_classes=2)
    with pytest.raises(ValueError, match="needs a language_model model"):
        compute_signal("lm_loss", classifier, np.zeros((1, 2)), [0])
    with pytest.raises(TypeError, match="needs a causal language model"):
        get_signal("zlib").fn(classifier, x, [0])
    with pytest.raises(ValueError, match=r"empty or whitespace-only in rows \[1\]"):
        compute_signal("lm_loss", blackbox, as_x(["a", "  "]), [0, 0])
    lower_empty = BlackBoxLM(lambda ts: [[-1.0] if t.isupper() else [] for t in ts])
    with pytest.raises(ValueError, match="lower-cased texts.*no scored token"):
        compute_signal("lowercase", lower_empty, as_x(["AB"]), [0])


def test_lm_loss_values_fit_a_loss_signal_table() -> None:
    model = BlackBoxLM(lambda ts: [np.log([0.5, 0.9]) for _ in ts])
    values = compute_signal("lm_loss", model, as_x(["a", "b"]), [0, 0])
    table = SignalTable(values=np.tile(values, (2, 1)), membership=np.array([[1, 0], [0, 1]]),
                        kind="loss")
    np.testing.assert_allclose(np.exp(table.log_proba()[0]), np.sqrt(0.5 * 0.9), rtol=1e-9)


# ------------------------------------------------------------------------ a real model
@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from privmeter.models import HFCausalLM

    torch.set_num_threads(1)
    rng = random.Random(0)
    words = "Alice Bob my card number is the of to and lives in Paris 1234 hello".split()  # noqa: SIM905
    corpus = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(80)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    config = transformers.GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=32,
                                     n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0,
                                     initializer_range=0.3)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_lm")
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return HFCausalLM.from_pretrained(folder, batch_size=4), corpus[:10]


def test_signals_on_a_real_model_share_one_forward_pass(tiny_lm: Any) -> None:
    import torch

    lm, texts = tiny_lm
    lm.clear_cache()
    calls: list[int] = []
    hook = lm.model.register_forward_hook(lambda *args: calls.append(1))
    try:
        x, y = as_x(texts), zeros(texts)
        values = {name: compute_signal(name, lm, x, y)
                  for name in ("lm_loss", "zlib", "min_k", "min_k_plus_plus")}
        assert len(calls) == 3  # 10 texts in batches of 4: one pass for all four signals
        values["lowercase"] = compute_signal("lowercase", lm, x, y)
        changed = sum(t.lower() != t for t in texts)
        assert 0 < changed < len(texts)
        n_calls = 3 + -(-changed // 4)  # plus one pass over the texts lower-casing changes
        assert len(calls) == n_calls
        same = compute_signal(pretrained_reference_signal(lm), lm, x, y)
        assert len(calls) == n_calls and np.allclose(same, 0.0)
    finally:
        hook.remove()
    for i, text in enumerate(texts):
        ids = lm.tokenizer(text)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0, :-1].double(), -1)
        lp = logp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()
        p = logp.exp()
        mu = (p * logp).sum(-1).numpy()
        var = ((p * logp * logp).sum(-1)).numpy() - mu**2
        assert values["lm_loss"][i] == pytest.approx(naive_loss(lp), abs=1e-5)
        assert values["zlib"][i] == pytest.approx(
            naive_loss(lp) / len(zlib.compress(text.encode("utf-8"))), abs=1e-6)
        assert values["min_k"][i] == pytest.approx(naive_min_k(lp, 0.2), abs=1e-5)
        assert values["min_k_plus_plus"][i] == pytest.approx(
            naive_min_k_plus_plus(lp, mu, var, 0.2), abs=1e-4)
    lower = lm.token_stats([t.lower() for t in texts]).mean_nll()
    np.testing.assert_allclose(values["lowercase"], values["lm_loss"] / lower, rtol=1e-6)
    assert all(v == 1.0 for v, t in zip(values["lowercase"], texts, strict=True)
               if t.lower() == t)
    np.testing.assert_allclose(sequence_nll(lm, texts),
                               lm.token_stats(texts).sum_nll(), rtol=1e-12)
