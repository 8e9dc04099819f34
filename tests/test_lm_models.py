"""Causal-LM model access: HFCausalLM on a tiny random GPT-2 loaded from a folder, BlackBoxLM.

The model is built from a config (no download), its byte-level BPE tokenizer trained here on
generated sentences, both saved to a temporary folder and loaded back through
``HFCausalLM.from_pretrained(path)``, the real loading path.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from privmeter.models import BlackBoxLM, HFCausalLM, ModelAccess, TokenStats  # noqa: E402
from privmeter.models.lm import LanguageModelAccess, check_texts  # noqa: E402

_WORDS = ("alice bob carol dave erin frank my account number is the a of to and street lives "
          "in Paris London card pin code 1234 5678 hello world")
WORDS = tuple(_WORDS.split())

torch.set_num_threads(1)


def make_corpus(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14))) for _ in range(n)]


def build_lm_folder(
    folder: Path,
    *,
    bos: bool = False,
    vocab: int = 300,
    n_positions: int = 64,
    model_vocab: int | None = None,
    seed: int = 0,
) -> Path:
    """A tiny random GPT-2 and its tokenizer, saved with save_pretrained to ``folder``.

    ``bos=True``: the tokenizer prepends a BOS token (``<s>``) as Llama's does.
    ``model_vocab``: embedding rows of the model (default: the tokenizer's size).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<s>"]
    tok.train_from_iterator(make_corpus(200, seed=1), trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    eos_id, bos_id = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<s>")
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", bos_id)])
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>",
        bos_token="<s>" if bos else "<|endoftext|>")
    config = transformers.GPT2Config(
        vocab_size=model_vocab or len(fast), n_positions=n_positions, n_embd=32, n_layer=2,
        n_head=2, bos_token_id=bos_id if bos else eos_id, eos_token_id=eos_id,
        initializer_range=0.3)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lm_folder(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="module")
def bos_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lm_folder(tmp_path_factory.mktemp("tiny_gpt2_bos"), bos=True)


@pytest.fixture(scope="module")
def lm(lm_folder: Path) -> HFCausalLM:
    return HFCausalLM.from_pretrained(lm_folder, batch_size=4)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return make_corpus(11, seed=3)


def reference_stats(model: Any, ids: list[int]) -> tuple[np.ndarray, ...]:
    """Hand computation from the full logits of one unpadded pass, in float64."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].double()
    logp = torch.log_softmax(logits, dim=-1)
    target = torch.tensor(ids[1:])
    lp = logp.gather(1, target[:, None])[:, 0]
    p = logp.exp()
    mu = (p * logp).sum(-1)
    var = (p * logp * logp).sum(-1) - mu * mu
    return lp.numpy(), mu.numpy(), var.numpy()


def assert_stats_close(a: TokenStats, b: TokenStats, atol: float = 1e-5) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.n_tokens, b.n_tokens)
    for field in ("logprobs", "mean_logp", "var_logp"):
        for x, y in zip(getattr(a, field), getattr(b, field), strict=True):
            np.testing.assert_allclose(x, y, atol=atol, rtol=0)


# ------------------------------------------------------------------------- loading
def test_from_pretrained_loads_the_folder(lm: HFCausalLM, lm_folder: Path) -> None:
    assert isinstance(lm, ModelAccess) and isinstance(lm, LanguageModelAccess)
    assert (lm.task, lm.n_classes, lm.access) == ("language_model", None, "logits")
    assert lm.max_length == 64  # config.n_positions
    assert lm.model.config.n_embd == 32 and not lm.model.training
    assert "HFCausalLM(GPT2LMHeadModel" in repr(lm)
    for method in ("logits", "proba", "predict"):
        with pytest.raises(NotImplementedError, match="token_stats"):
            getattr(lm, method)(["a text"])
    with pytest.raises(NotImplementedError, match="language model"):
        lm.label_index([0])


def test_missing_path_and_unreachable_hub_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model.*does not exist"):
        HFCausalLM.from_pretrained(missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HFCausalLM.from_pretrained("./models/not-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        HFCausalLM.from_pretrained(tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        HFCausalLM.from_pretrained(tmp_path / "file.bin")
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="made-up-org/no-such-model-x1.*not a local folder") as e:
        HFCausalLM.from_pretrained("made-up-org/no-such-model-x1")
    assert e.value.__cause__ is None and e.value.__suppress_context__  # no traceback soup


def test_options_are_checked(lm_folder: Path) -> None:
    with pytest.raises(ValueError, match="max_length=65 exceeds the model's context length"):
        HFCausalLM.from_pretrained(lm_folder, max_length=65)
    with pytest.raises(ValueError, match="stride must be smaller than max_length=16"):
        HFCausalLM.from_pretrained(lm_folder, max_length=16, stride=16)
    with pytest.raises(ValueError, match="batch_size"):
        HFCausalLM.from_pretrained(lm_folder, batch_size=0)
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        HFCausalLM.from_pretrained(lm_folder, dtype="float8")
    model = transformers.AutoModelForCausalLM.from_pretrained(lm_folder)
    with pytest.raises(TypeError, match="tokenizer"):
        HFCausalLM(model, object())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        HFCausalLM(object(), transformers.AutoTokenizer.from_pretrained(lm_folder))


def test_tokenizer_model_vocabulary_mismatch(tmp_path: Path) -> None:
    folder = build_lm_folder(tmp_path / "small", model_vocab=200)
    with pytest.raises(ValueError, match=r"tokenizer has 300 tokens.*embedding has 200 rows"):
        HFCausalLM.from_pretrained(folder)

    class LyingTokenizer:  # claims a small vocabulary, then returns an id out of range
        pad_token_id = None
        eos_token_id = None

        def __len__(self) -> int:
            return 10

        def __call__(self, texts: list[str], **kwargs: Any) -> dict[str, list[list[int]]]:
            return {"input_ids": [[1, 2, 700] for _ in texts]}

    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    bad = HFCausalLM(model, LyingTokenizer())
    with pytest.raises(ValueError, match=r"token id 700 is outside the model's embedding of 200"):
        bad.token_stats(["some text"])


# ------------------------------------------------------------------------- numbers
def test_token_logprobs_and_moments_match_a_hand_computation(
    lm: HFCausalLM, texts: list[str]
) -> None:
    stats = lm.token_stats(texts)
    tok = lm.tokenizer
    assert stats.n_truncated == 0 and stats.has_distribution
    for i, text in enumerate(texts):
        ids = tok(text)["input_ids"]
        lp, mu, var = reference_stats(lm.model, ids)
        assert stats.n_tokens[i] == len(ids) - 1  # GPT-2 adds no BOS: the first is not scored
        np.testing.assert_allclose(stats.logprobs[i], lp, atol=1e-5, rtol=0)
        np.testing.assert_allclose(stats.mean_logp[i], mu, atol=1e-5, rtol=0)  # type: ignore[index]
        np.testing.assert_allclose(stats.var_logp[i], var, atol=1e-5, rtol=1e-5)  # type: ignore[index]
        assert stats.logprobs[i].dtype == np.float64 and (stats.logprobs[i] <= 0).all()
    assert np.mean([v.mean() for v in stats.var_logp]) > 0.1  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="read-only"):
        stats.logprobs[0][0] = 0.0


def test_batch_size_padding_side_and_pad_token_do_not_matter(
    lm_folder: Path, texts: list[str]
) -> None:
    single = HFCausalLM.from_pretrained(lm_folder, batch_size=1).token_stats(texts)  # unpadded
    for batch_size in (3, 16):
        for side in ("left", "right"):
            for pad in (None, "<|endoftext|>"):
                tok = transformers.AutoTokenizer.from_pretrained(lm_folder)
                tok.padding_side = side
                if pad is None:
                    assert tok.pad_token is None  # the tiny tokenizer has none
                else:
                    tok.pad_token = pad
                model = HFCausalLM.from_pretrained(lm_folder, tokenizer=tok,
                                                   batch_size=batch_size)
                assert_stats_close(model.token_stats(texts), single)


def test_bos_only_where_the_tokenizer_adds_one(
    lm: HFCausalLM, lm_folder: Path, bos_folder: Path
) -> None:
    text = "alice lives in Paris"
    n_ids = len(lm.tokenizer(text)["input_ids"])
    bos_lm = HFCausalLM.from_pretrained(bos_folder)
    ids = bos_lm.tokenize([text])[0]
    assert ids[0] == bos_lm.tokenizer.convert_tokens_to_ids("<s>")
    stats = bos_lm.token_stats([text])
    assert stats.n_tokens[0] == len(ids) - 1 == len(bos_lm.tokenizer(
        text, add_special_tokens=False)["input_ids"])  # every text token scored
    np.testing.assert_allclose(stats.logprobs[0], reference_stats(bos_lm.model, ids)[0],
                               atol=1e-5)
    assert lm.token_stats([text]).n_tokens[0] == n_ids - 1
    forced = HFCausalLM.from_pretrained(lm_folder, add_bos=True)
    assert forced.token_stats([text]).n_tokens[0] == n_ids
    assert forced.tokenize([text])[0][0] == forced.tokenizer.bos_token_id
    no_special = HFCausalLM.from_pretrained(bos_folder, add_bos=False)
    assert no_special.token_stats([text]).n_tokens[0] == len(ids) - 2
    with pytest.raises(TypeError, match="add_bos"):
        HFCausalLM.from_pretrained(lm_folder, add_bos=1)


def test_truncation_counts_and_warns_once(lm_folder: Path) -> None:
    model = HFCausalLM.from_pretrained(lm_folder, max_length=16)
    long = " ".join(make_corpus(8, seed=5))
    short = "bob lives in London"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = model.token_stats([long, short, long + " again"])
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "2 of 3 texts are longer than max_length=16" in messages[0]
    assert stats.n_truncated == 2
    assert stats.n_tokens.tolist() == [15, len(model.tokenize([short])[0]) - 1, 15]
    ids = model.tokenize([long])[0]
    np.testing.assert_allclose(stats.logprobs[0], reference_stats(model.model, ids[:16])[0],
                               atol=1e-5)


def test_sliding_window_definition_and_invariance(lm_folder: Path) -> None:
    full = HFCausalLM.from_pretrained(lm_folder, max_length=64)
    words = " ".join(make_corpus(30, seed=7)).split()
    text = " ".join(w for i, w in enumerate(words) if i < 40)
    while len(full.tokenize([text])[0]) > 64:
        text = text.rsplit(" ", 1)[0]
    ids = full.tokenize([text])[0]
    n = len(ids)
    assert 40 < n <= 64, n  # the full pass fits in the context
    L, stride = 24, 8
    windowed = HFCausalLM.from_pretrained(lm_folder, max_length=L, stride=stride, batch_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing truncated
        win = windowed.token_stats([text])
    ref = full.token_stats([text])
    assert win.n_tokens[0] == ref.n_tokens[0] == n - 1 and win.n_truncated == 0
    # tokens whose whole prefix fits in the first window: identical to the full pass
    for field in ("logprobs", "mean_logp", "var_logp"):
        np.testing.assert_allclose(getattr(win, field)[0][: L - 1],
                                   getattr(ref, field)[0][: L - 1], atol=1e-5)
    assert not np.allclose(win.logprobs[0][L - 1 :], ref.logprobs[0][L - 1 :], atol=1e-3)
    # the definition: windows [b, min(b + L, n)) at b = 0, stride, 2 stride, ...; token j is
    # scored in the first window whose end exceeds j, from the window's tokens before it
    expected = np.empty(n - 1)
    done = 1
    for b in range(0, n, stride):
        e = min(b + L, n)
        lp = reference_stats(full.model, ids[b:e])[0]  # lp[k] scores position b + k + 1
        for j in range(done, e):
            expected[j - 1] = lp[j - b - 1]
            assert j - b >= L - stride or b == 0  # at least L - stride tokens of context
        done = e
        if e == n:
            break
    np.testing.assert_allclose(win.logprobs[0], expected, atol=1e-5)
    # a text longer than the context is scored whole
    longer = " ".join(make_corpus(30, seed=8))
    assert len(full.tokenize([longer])[0]) > 64
    stats = HFCausalLM.from_pretrained(lm_folder, stride=32).token_stats([longer, text])
    assert stats.n_tokens[0] == len(full.tokenize([longer])[0]) - 1 and stats.n_truncated == 0


def test_dtype_device_and_eval_mode(lm_folder: Path, texts: list[str]) -> None:
    ref = HFCausalLM.from_pretrained(lm_folder).token_stats(texts)
    double = HFCausalLM.from_pretrained(lm_folder, dtype="float64", device="cpu")
    assert double.dtype == torch.float64 and double.device.type == "cpu"
    assert_stats_close(double.token_stats(texts), ref, atol=1e-5)
    half = HFCausalLM.from_pretrained(lm_folder, dtype=torch.bfloat16)
    assert next(half.model.parameters()).dtype == torch.bfloat16
    stats = half.token_stats(texts)
    assert stats.logprobs[0].dtype == np.float64
    np.testing.assert_allclose(stats.logprobs[0], ref.logprobs[0], atol=0.3)
    model = transformers.AutoModelForCausalLM.from_pretrained(lm_folder)
    model.train()  # dropout on: the adapter must switch it off, then restore the mode
    wrapped = HFCausalLM(model, transformers.AutoTokenizer.from_pretrained(lm_folder))
    assert_stats_close(wrapped.token_stats(texts), ref)
    assert model.training and all(m.training for m in model.modules())


def test_cache_costs_one_forward_pass(lm_folder: Path, texts: list[str]) -> None:
    model = HFCausalLM.from_pretrained(lm_folder, batch_size=4, cache_size=2)
    calls = []
    model.model.register_forward_hook(lambda *args: calls.append(1))
    first = model.token_stats(texts)
    assert len(calls) == 3  # 11 texts in batches of 4
    assert model.token_stats(list(texts)) is first and len(calls) == 3
    model.token_stats(texts[:5])
    model.token_stats(texts[:6])  # evicts the first entry (cache_size=2)
    assert len(calls) == 3 + 2 + 2
    model.token_stats(texts)
    assert len(calls) == 3 + 2 + 2 + 3
    model.clear_cache()
    model.token_stats(texts[:6])
    assert len(calls) == 12
    off = HFCausalLM.from_pretrained(lm_folder, batch_size=16, cache_size=0)
    counted = []
    off.model.register_forward_hook(lambda *args: counted.append(1))
    off.token_stats(texts)
    off.token_stats(texts)
    assert len(counted) == 2


def test_bad_texts_name_the_rows(lm: HFCausalLM) -> None:
    with pytest.raises(ValueError, match=r"empty or whitespace-only in rows \[1, 3\]"):
        lm.token_stats(["alice", "", "bob lives", " \n\t"])
    with pytest.raises(ValueError, match=r"no scored token in rows \[1\]"):
        lm.token_stats(["alice lives in Paris", "a"])
    with pytest.raises(TypeError, match="single str"):
        lm.token_stats("alice lives in Paris")
    with pytest.raises(TypeError, match="row 1 is int"):
        lm.token_stats(["alice", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="texts is empty"):
        lm.token_stats([])


def test_check_texts_accepts_object_arrays() -> None:
    assert check_texts(np.array(["a", "b c"], dtype=object)) == ["a", "b c"]
    with pytest.raises(ValueError, match="1-D"):
        check_texts(np.array([["a"]], dtype=object))


# ------------------------------------------------------------------------- black box
def test_blackbox_lm_validates_answers() -> None:
    def api(texts: list[str]) -> list[np.ndarray]:
        return [-np.arange(1.0, len(t.split()) + 1) for t in texts]

    model = BlackBoxLM(api, batch_size=2)
    assert isinstance(model, ModelAccess) and isinstance(model, LanguageModelAccess)
    assert (model.access, model.task, model.n_classes) == ("proba", "language_model", None)
    stats = model.token_stats(["a b", "c d e", "f"])
    assert stats.n_tokens.tolist() == [2, 3, 1] and not stats.has_distribution
    np.testing.assert_allclose(stats.mean_nll(), [1.5, 2.0, 1.0])
    np.testing.assert_allclose(stats.sum_nll(), [3.0, 6.0, 1.0])
    with pytest.raises(NotImplementedError, match="token_stats"):
        model.proba(["a"])

    def answering(*answers: Any) -> BlackBoxLM:
        return BlackBoxLM(lambda texts: list(answers))

    with pytest.raises(ValueError, match="returned 1 log-probability arrays for 2 texts"):
        answering([-1.0]).token_stats(["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(1, 2\) for row 0"):
        answering([[-1.0, -2.0]]).token_stats(["a"])
    with pytest.raises(ValueError, match="NaN or infinite log-probabilities for row 1"):
        answering([-1.0], [-np.inf]).token_stats(["a", "b"])
    with pytest.raises(ValueError, match="positive log-probability 0.5 for row 0"):
        answering([-1.0, 0.5]).token_stats(["a"])
    with pytest.raises(ValueError, match=r"no scored token for rows \[1\]"):
        answering([-1.0], []).token_stats(["a", "b"])
    with pytest.raises(ValueError, match="non-numeric"):
        answering(["x"]).token_stats(["a"])
    rounded = answering([-1.0, 1e-9]).token_stats(["a"])  # rounding above 0 is read as 0
    assert rounded.logprobs[0].tolist() == [-1.0, 0.0]
    with pytest.raises(TypeError, match="callable"):
        BlackBoxLM(3)  # type: ignore[arg-type]


def test_blackbox_lm_caches_calls() -> None:
    calls: list[int] = []

    def api(texts: list[str]) -> list[np.ndarray]:
        calls.append(len(texts))
        return [np.full(2, -1.0) for _ in texts]

    model = BlackBoxLM(api)
    a = model.token_stats(["x y", "z"])
    assert model.token_stats(["x y", "z"]) is a and calls == [2]
    model.token_stats(["x y"])
    assert calls == [2, 1]


def test_token_stats_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="give both mean_logp and var_logp"):
        TokenStats(logprobs=[np.zeros(2)], mean_logp=[np.zeros(2)])
    with pytest.raises(ValueError, match="one value per scored token"):
        TokenStats(logprobs=[np.zeros(2)], mean_logp=[np.zeros(3)], var_logp=[np.zeros(3)])
    with pytest.raises(ValueError, match="n_truncated"):
        TokenStats(logprobs=[np.zeros(2)], n_truncated=-1)
