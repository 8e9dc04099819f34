"""HuggingFace classifiers: ``AutoModelForSequenceClassification`` with its tokenizer and
``AutoModelForImageClassification`` with its image processor.

Text classifiers (sentiment, intent, clinical coding) are audited like any classifier: the
inputs are a 1-D array (or list) of strings, e.g. ``TextDataset.x``. transformers and torch
are imported when an :class:`HFClassifier` is built, never at ``import privmeter``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_class_indices,
    check_scores,
)
from privmeter.models.onnx import softmax

__all__ = ["HFClassifier"]


def _texts(x: Any, source: str) -> list[str]:
    if isinstance(x, str):
        raise ValueError(f"{source} takes a 1-D array or list of strings, got one string; "
                         "wrap it in a list")
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 1:
        raise ValueError(f"{source} takes a 1-D array or list of strings (one text per row), "
                         f"got shape {arr.shape}")
    bad = [i for i, t in enumerate(arr.tolist()) if not isinstance(t, str)]
    if bad:
        raise ValueError(
            f"{source} takes strings; row {bad[0]} is {type(arr[bad[0]]).__name__} "
            f"({arr[bad[0]]!r}){f' ({len(bad)} rows in total)' if len(bad) > 1 else ''}"
        )
    return [str(t) for t in arr.tolist()]


class HFClassifier:
    """Query a HuggingFace sequence- or image-classification model in batches, without
    gradients, in eval mode.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``...ForSequenceClassification`` or ``...ForImageClassification`` model (its
        ``config.num_labels`` is the number of classes).
    tokenizer : transformers tokenizer, optional
        For a text model: the inputs are strings, tokenized in batches with padding and
        truncation to ``max_length``.
    image_processor : transformers image processor, optional
        For an image model: the inputs are an array of images ``(n, H, W, C)`` or
        ``(n, C, H, W)`` given to the processor. Without a processor (and without a
        tokenizer), the inputs are the model's ``pixel_values`` ``(n, C, H, W)``.
    max_length : int, optional
        Truncation length (default: the tokenizer's ``model_max_length`` when it is a real
        limit, else 512).
    batch_size : int
    device : str, optional
        Default: the device of the model's parameters.
    n_classes : int, optional
        Must equal ``config.num_labels`` (read from it otherwise).

    Notes
    -----
    The model is put in ``eval()`` for each query (its previous mode restored) and queried
    under ``torch.inference_mode``; logits are returned as float64 (access ``"logits"``). A
    GPT-2 style model needs ``config.pad_token_id`` (set it to the tokenizer's pad token) to
    find the last token of padded texts.

    Examples
    --------
    >>> import tempfile
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> from transformers import PreTrainedTokenizerFast
    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3}
    >>> tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]",
    ...                                     unk_token="[UNK]")
    >>> config = BertConfig(vocab_size=4, hidden_size=16, num_hidden_layers=1,
    ...                     num_attention_heads=2, intermediate_size=32, num_labels=2)
    >>> model = HFClassifier(BertForSequenceClassification(config), tokenizer)
    >>> model.logits(["good", "bad bad"]).shape, model.access
    ((2, 2), 'logits')
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        image_processor: Any = None,
        max_length: int | None = None,
        batch_size: int = 32,
        device: str | None = None,
        n_classes: int | None = None,
    ) -> None:
        import torch

        if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
            raise TypeError(f"model must be a transformers model (PreTrainedModel), got "
                            f"{type(model).__name__}")
        if tokenizer is not None and image_processor is not None:
            raise ValueError("give a tokenizer (text model) or an image_processor (image "
                             "model), not both")
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        max_length = check_optional_int("max_length", max_length, minimum=1)
        if max_length is None and tokenizer is not None:
            limit = getattr(tokenizer, "model_max_length", None)
            max_length = int(limit) if isinstance(limit, int) and limit < 100_000 else 512
        self.max_length = max_length
        num_labels = int(getattr(model.config, "num_labels", 0) or 0)
        n_classes = check_optional_int("n_classes", n_classes, minimum=2)
        if n_classes is not None and num_labels and n_classes != num_labels:
            raise ValueError(
                f"the model has {num_labels} classes (config.num_labels) but n_classes="
                f"{n_classes}; the model and the data must have the same number of classes"
            )
        self._n_classes = n_classes or (num_labels if num_labels >= 2 else None)
        params = list(model.parameters())
        self.device = torch.device(device) if device is not None else (
            params[0].device if params else torch.device("cpu"))
        if tokenizer is not None and getattr(tokenizer, "pad_token", None) is None:
            raise ValueError("the tokenizer has no pad token, needed to batch texts; set "
                             "tokenizer.pad_token (e.g. to its eos_token)")
        name = type(model).__name__
        self.source = name

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **options: Any) -> HFClassifier:
        """Load a model (and its tokenizer or image processor) saved with
        ``save_pretrained`` in a local folder; nothing is downloaded.

        The kind of model follows ``config.architectures`` (``...ForImageClassification``:
        an image model, anything else: a sequence classifier). Other options go to
        :class:`HFClassifier`.
        """
        from transformers import (
            AutoConfig,
            AutoModelForImageClassification,
            AutoModelForSequenceClassification,
        )

        folder = Path(os.fspath(path))
        if not (folder / "config.json").is_file():
            raise ValueError(f"{str(folder)!r} is not a HuggingFace model folder (no "
                             "config.json)")
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        archs = list(getattr(config, "architectures", None) or [])
        image = any(a.endswith("ForImageClassification") for a in archs)
        if archs and not image and not any(a.endswith("ForSequenceClassification")
                                           for a in archs):
            raise ValueError(
                f"{str(folder)!r} holds a {archs[0]}, not a sequence or image classifier; "
                "language models are audited with privmeter.models.HFCausalLM"
            )
        auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
        from privmeter.models.hf_lm import quiet_transformers

        with quiet_transformers():
            model = auto.from_pretrained(folder, local_files_only=True)
        if image:
            if "image_processor" not in options and (
                (folder / "preprocessor_config.json").is_file()
            ):
                from transformers import AutoImageProcessor

                options["image_processor"] = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                    folder, local_files_only=True)
            return cls(model, **options)
        tokenizer = options.pop("tokenizer", None)
        if tokenizer is None:
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ValueError(f"no tokenizer in {str(folder)!r} ({exc}); pass tokenizer=..."
                                 ) from None
        return cls(model, tokenizer, **options)

    # ---------------------------------------------------------------- protocol
    @property
    def task(self) -> Task:
        """Always ``"classification"``."""
        return "classification"

    @property
    def n_classes(self) -> int | None:
        """``config.num_labels`` (or as given)."""
        return self._n_classes

    @property
    def access(self) -> AccessLevel:
        """``"logits"``."""
        return "logits"

    def __repr__(self) -> str:
        kind = "text" if self.tokenizer is not None else "image"
        return f"HFClassifier({self.source}, {kind}, n_classes={self._n_classes})"

    # ----------------------------------------------------------------- queries
    def _n_rows(self, x: Any) -> int:
        return len(x) if not hasattr(x, "shape") else int(x.shape[0])

    def _inputs(self, x: Any) -> Iterator[dict[str, Any]]:
        import torch

        if self.tokenizer is not None:
            texts = _texts(x, repr(self))
            for start in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    texts[start : start + self.batch_size], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )
                if "token_type_ids" in enc and not _takes(self.model, "token_type_ids"):
                    del enc["token_type_ids"]
                yield {k: v.to(self.device) for k, v in enc.items()}
            return
        arr = np.asarray(x)
        if arr.dtype == object or arr.ndim != 4:
            raise ValueError(
                f"{self!r} takes images as a 4-D numeric array (n, H, W, C) or (n, C, H, W),"
                f" got shape {arr.shape} and dtype {arr.dtype}"
            )
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()),
                     torch.float32)
        for start in range(0, arr.shape[0], self.batch_size):
            batch = arr[start : start + self.batch_size]
            if self.image_processor is not None:
                enc = self.image_processor(images=list(batch), return_tensors="pt")
                pixels = enc["pixel_values"]
            else:
                pixels = torch.from_numpy(np.ascontiguousarray(batch))
            yield {"pixel_values": pixels.to(device=self.device, dtype=dtype)}

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Class logits ``(n, n_classes)``, float64."""
        import torch

        n = self._n_rows(x)
        was_training = self.model.training
        parts: list[NDArray[np.float64]] = []
        self.model.eval()
        try:
            with torch.inference_mode():
                for batch in self._inputs(x):
                    try:
                        out = self.model(**batch).logits
                    except (RuntimeError, ValueError, IndexError) as exc:
                        raise ValueError(
                            f"{self!r} cannot take these inputs: {' '.join(str(exc).split())}"
                        ) from None
                    parts.append(out.detach().to("cpu", torch.float64).numpy())
        finally:
            self.model.train(was_training)
        z = np.concatenate(parts) if parts else np.empty((0, self._n_classes or 0))
        return check_scores(z, n_rows=n, n_classes=self._n_classes, source=repr(self))

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Softmax probabilities ``(n, n_classes)``, float64."""
        return softmax(self.logits(x))

    def predict(self, x: Any) -> NDArray[np.int64]:
        """Predicted class index ``(n,)``, int64."""
        return np.asarray(self.logits(x).argmax(axis=1), dtype=np.int64)

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Validate integer class codes ``0..n_classes-1`` (e.g. ``TextDataset.y``)."""
        n = self._n_classes if self._n_classes is not None else int(np.iinfo(np.int64).max)
        return check_class_indices(y, n_classes=n, source=repr(self))


def _takes(model: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True
