"""HFClassifier: a tiny BERT text classifier built from a config with a local WordLevel
tokenizer (nothing downloaded), saved, loaded back from its folder and audited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

import privmeter as pm  # noqa: E402
from privmeter.datasets import TextDataset  # noqa: E402
from privmeter.models import HFClassifier  # noqa: E402

N, C = 160, 3
WORDS = [f"w{i}" for i in range(60)]


def make_texts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class c texts mostly use words 20c..20c+19, with some noise words anywhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=N)
    texts = []
    for label in y:
        n = int(rng.integers(3, 9))
        own = rng.integers(20 * label, 20 * label + 20, size=n)
        noise = rng.integers(0, 60, size=n)
        picks = np.where(rng.random(n) < 0.6, own, noise)
        texts.append(" ".join(WORDS[i] for i in picks))
    return np.array(texts, dtype=object), y.astype(np.int64)


def tokenizer() -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]",
                                                unk_token="[UNK]", cls_token="[CLS]")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    x, y = make_texts()
    tok = tokenizer()
    config = transformers.BertConfig(
        vocab_size=len(WORDS) + 3, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=C, max_position_embeddings=32,
    )
    model = transformers.BertForSequenceClassification(config)
    idx = np.arange(0, N, 2)  # members: the even rows
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    enc = tok(list(x[idx]), padding=True, return_tensors="pt")
    labels = torch.from_numpy(y[idx])
    g = torch.Generator().manual_seed(0)
    for _ in range(25):
        for batch in torch.randperm(idx.size, generator=g).split(16):
            out = model(input_ids=enc["input_ids"][batch],
                        attention_mask=enc["attention_mask"][batch], labels=labels[batch])
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    model.eval()
    folder = Path(tmp_path_factory.mktemp("bert"))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model, tok, folder, x, y, idx


def test_logits_equal_the_model_and_batching(setup) -> None:  # type: ignore[no-untyped-def]
    model, tok, folder, x, _, _ = setup
    clf = HFClassifier.from_pretrained(folder, batch_size=7)
    assert (clf.n_classes, clf.access, clf.task) == (C, "logits", "classification")
    z = clf.logits(x)
    assert z.dtype == np.float64 and z.shape == (N, C)
    with torch.no_grad():
        enc = tok(list(x[:20]), padding=True, return_tensors="pt")
        ref = model(**enc).logits.double().numpy()
    np.testing.assert_allclose(z[:20], ref, atol=1e-5)
    # the same from the in-memory objects, from a list of str, one at a time
    one = HFClassifier(model, tok, batch_size=1)
    np.testing.assert_allclose(one.logits(list(x[:20])), ref, atol=1e-5)
    np.testing.assert_allclose(clf.proba(x[:5]).sum(1), 1.0)
    assert not model.training  # eval mode restored as it was


def test_audit_of_a_text_classifier(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, folder, x, y, idx = setup
    ds = TextDataset(list(x), labels=y.tolist(), name="synthetic intents")
    clf = HFClassifier.from_pretrained(folder)
    report = pm.Audit(ds, target_model=clf, target_indices=idx, attacks=["loss", "population"],
                      signal="loss", progress=False).run()
    assert [r.attack for r in report.results] == ["loss", "population"]
    loss = report.results[0]
    assert loss.auc > 0.55  # the target overfits its members


def test_bad_input(setup) -> None:  # type: ignore[no-untyped-def]
    model, tok, folder, _, _, _ = setup
    clf = HFClassifier(model, tok)
    with pytest.raises(ValueError, match="got one string; wrap it in a list"):
        clf.logits("w1 w2")
    with pytest.raises(ValueError, match=r"row 1 is int \(3\)"):
        clf.logits(["w1", 3])
    with pytest.raises(ValueError, match=r"1-D array or list of strings .*got shape \(1, 2\)"):
        clf.logits(np.array([["w1", "w2"]], dtype=object))
    with pytest.raises(ValueError, match=r"has 3 classes \(config.num_labels\) but n_classes=2"):
        HFClassifier(model, tok, n_classes=2)
    with pytest.raises(ValueError, match="label 3 .* not one of the 3 classes"):
        clf.label_index([0, 3])
    with pytest.raises(ValueError, match="not a HuggingFace model folder"):
        HFClassifier.from_pretrained(folder / "nowhere")
    with pytest.raises(TypeError, match="transformers model"):
        HFClassifier(object(), tok)
    image = HFClassifier(model)  # no tokenizer: an image model's pixel_values
    with pytest.raises(ValueError, match=r"takes images as a 4-D numeric array"):
        image.logits(np.zeros((2, 3)))


def test_image_classifier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = transformers.ViTConfig(image_size=8, patch_size=4, num_channels=3, hidden_size=16,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=32, num_labels=4)
    torch.manual_seed(0)
    vit = transformers.ViTForImageClassification(config).eval()
    vit.save_pretrained(tmp_path)
    clf = HFClassifier.from_pretrained(tmp_path, batch_size=3)
    pixels = np.random.default_rng(0).normal(size=(5, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = vit(pixel_values=torch.from_numpy(pixels)).logits.double().numpy()
    assert clf.n_classes == 4
    np.testing.assert_allclose(clf.logits(pixels), ref, atol=1e-5)
