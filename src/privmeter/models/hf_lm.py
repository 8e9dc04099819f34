"""HuggingFace causal language models: per-token log-probabilities and Min-K%++ statistics.

:class:`HFCausalLM` wraps any ``transformers`` causal LM and its tokenizer. From one forward
pass per batch it returns, for every scored token of every text, ``log p(t_i | t_<i)`` and the
mean and variance of ``log p`` under the model's next-token distribution at that position
(:class:`~privmeter.models.lm.TokenStats`), as the sequence signals of
:mod:`privmeter.signals.lm` need them.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import AccessLevel, describe_rows
from privmeter.models.lm import TokenStats, _LanguageModelBase, check_texts, texts_key
from privmeter.models.torch import _eval_mode

__all__ = ["HFCausalLM"]

#: Elements of the ``[positions, vocabulary]`` block of logits turned into statistics at a
#: time on a CPU (small enough to stay in the cache across the few passes over it); the extra
#: memory of the statistics is two such float32 blocks, whatever the number of texts.
CHUNK_ELEMENTS = 1 << 16
#: The same on an accelerator (larger blocks: fewer kernel launches).
CUDA_CHUNK_ELEMENTS = 1 << 24

#: Config attributes holding the context length, in the order tried.
_CONTEXT_KEYS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length",
                 "max_sequence_length")

_DTYPES = {"float32": torch.float32, "float": torch.float32, "fp32": torch.float32,
           "float16": torch.float16, "half": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float64": torch.float64,
           "double": torch.float64}


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        if isinstance(dtype, torch.dtype) and not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in _DTYPES:
        return _DTYPES[dtype.lower().removeprefix("torch.")]
    raise ValueError(
        f"unknown dtype {dtype!r}; expected a torch floating dtype or one of "
        f"{sorted(_DTYPES)}"
    )


def _context_length(model: Any, tokenizer: Any) -> int | None:
    config = getattr(model, "config", None)
    for key in _CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 1 < value < 10**7:
        return value
    return None


@dataclass
class _Window:
    """One row of a forward pass: ``ids`` of text ``text``, scoring positions ``start..``."""

    text: int
    piece: int
    ids: list[int]
    start: int


class HFCausalLM(_LanguageModelBase):
    """A HuggingFace causal language model and its tokenizer, as a privmeter model access.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM (``AutoModelForCausalLM``): ``model(input_ids, attention_mask,
        position_ids).logits`` of shape ``(batch, tokens, vocabulary)``. It is put in eval
        mode for each query (each submodule's mode restored afterwards).
    tokenizer : transformers tokenizer
        Its tokenizer. Its padding side and pad token do not matter: texts are tokenised one
        by one and padded here, on the right, with an attention mask and explicit position
        ids; a tokenizer without a pad token works.
    max_length : int, optional
        Most tokens per forward pass. Default: the model's context length
        (``config.n_positions`` / ``max_position_embeddings``). Longer texts are truncated to
        their first ``max_length`` tokens (counted in :attr:`TokenStats.n_truncated`, with one
        warning per call) unless ``stride`` is given.
    stride : int, optional
        Score long texts whole with a sliding window (as in the HuggingFace perplexity guide):
        windows of ``max_length`` tokens start every ``stride`` tokens, and each scores only
        the tokens no earlier window scored, so every token is scored exactly once: tokens
        before position ``max_length`` from their full prefix, later ones from at least
        ``max_length - stride`` and at most ``max_length - 1`` preceding tokens.
        ``1 <= stride < max_length``.
    batch_size : int
        Rows (texts, or windows of long texts) per forward pass. Results do not depend on it.
    device : str or torch.device, optional
        Where to run; the model is moved there (``model.to(device)``). Default: where its
        parameters are.
    dtype : torch.dtype or str, optional
        Cast the model's parameters to this dtype (e.g. ``"bfloat16"``). The statistics are
        computed from float32 log-softmax and accumulated in float64 whatever it is.
    add_bos : bool, optional
        ``None`` (default): the tokenizer's own special tokens (``add_special_tokens=True``),
        as the reference implementations of Min-K% and Min-K%++ do: a BOS token is prepended
        where the tokenizer adds one (Llama, ...), and then every text token is scored; where
        it adds none (GPT-2, Pythia, ...) the first token has no prefix and is not scored.
        ``True``: exactly ``[BOS] + tokens`` (every token scored). ``False``: no special
        tokens (the first token is not scored).
    cache_size : int
        Number of recent :meth:`token_stats` results kept, keyed by a hash of the texts, so
        that several signals on the same texts cost one forward pass (0: no cache). Call
        :meth:`clear_cache` after changing the model's weights.

    Notes
    -----
    Each token is scored from its prefix: ``lp_i = log_softmax(logits[i - 1])[t_i]``. Per
    position, ``mu_i = sum_v p_v log p_v`` and ``sigma_i^2 = sum_v p_v (log p_v)^2 - mu_i^2``
    come from the same logits: with ``s = z - max z``, ``log p = s - log sum e^s`` and the
    three sums ``sum e^s``, ``sum e^s s``, ``sum e^s s^2`` give ``lp``, ``mu`` and
    ``sigma^2`` (see ``_position_sums``). Elementwise work is in float32 (the model's
    dtype, or float32 for half-precision models), the sums are accumulated in float64, and
    positions are processed in blocks of about :data:`CHUNK_ELEMENTS` logits: no float64
    ``[texts, tokens, vocabulary]`` array, and no float32 one beyond the model's own logits of
    one batch, is ever held.

    Examples
    --------
    >>> lm = HFCausalLM.from_pretrained("path/to/model")  # doctest: +SKIP
    >>> stats = lm.token_stats(["The quick brown fox.", "Hello world"])  # doctest: +SKIP
    >>> stats.mean_nll()  # doctest: +SKIP
    array([5.1, 6.3])
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_length: int | None = None,
        stride: int | None = None,
        batch_size: int = 8,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        add_bos: bool | None = None,
        cache_size: int = 4,
    ) -> None:
        super().__init__(cache_size=cache_size)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"model must be a transformers causal LM (a torch.nn.Module), got "
                f"{type(model).__name__}"
            )
        if not callable(tokenizer) or not hasattr(tokenizer, "__len__"):
            raise TypeError(
                f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}"
            )
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        if add_bos is not None and not isinstance(add_bos, bool):
            raise TypeError(f"add_bos must be None, True or False, got {add_bos!r}")
        torch_dtype = _resolve_dtype(dtype)
        if device is not None:
            model.to(torch.device(device))
        if torch_dtype is not None:
            model.to(torch_dtype)
        params = list(model.parameters())
        self.device = params[0].device if params else torch.device(device or "cpu")
        self.dtype = params[0].dtype if params else torch.float32
        self.model = model
        self.tokenizer = tokenizer

        get_embeddings = getattr(model, "get_input_embeddings", None)
        embed = get_embeddings() if callable(get_embeddings) else None
        rows = getattr(embed, "num_embeddings", None)
        self.n_embeddings: int | None = int(rows) if rows is not None else None
        n_tok = len(tokenizer)
        if self.n_embeddings is not None and n_tok > self.n_embeddings:
            raise ValueError(
                f"tokenizer and model do not match: the tokenizer has {n_tok} tokens but the "
                f"model's embedding has {self.n_embeddings} rows; use the tokenizer the model "
                "was trained with (or resize the model's embeddings)"
            )

        context = _context_length(model, tokenizer)
        if max_length is None:
            if context is None:
                raise ValueError(
                    f"cannot tell the context length of {type(model).__name__} (no "
                    "config.n_positions or max_position_embeddings); pass max_length=..."
                )
            max_length = context
        max_length = check_int("max_length", max_length, minimum=2)
        if context is not None and max_length > context:
            raise ValueError(
                f"max_length={max_length} exceeds the model's context length of {context} "
                "tokens"
            )
        self.max_length = max_length
        self.stride = check_optional_int("stride", stride, minimum=1)
        if self.stride is not None and self.stride >= max_length:
            raise ValueError(
                f"stride must be smaller than max_length={max_length} (each window keeps "
                f"max_length - stride tokens of context), got stride={self.stride}"
            )
        self.add_bos = add_bos
        self.bos_token_id: int | None = None
        if add_bos:
            bos = getattr(tokenizer, "bos_token_id", None)
            if bos is None:
                bos = getattr(getattr(model, "config", None), "bos_token_id", None)
            if not isinstance(bos, int):
                raise ValueError(
                    "add_bos=True but neither the tokenizer nor the model config defines a BOS "
                    "token (bos_token_id); pass add_bos=None or False"
                )
            self.bos_token_id = bos
        pad = getattr(tokenizer, "pad_token_id", None)
        if not isinstance(pad, int):
            pad = getattr(tokenizer, "eos_token_id", None)
        self.pad_token_id = pad if isinstance(pad, int) else 0  # any valid id: it is masked
        forward_params = inspect.signature(model.forward).parameters
        accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD
                             for p in forward_params.values())
        self._position_ids = "position_ids" in forward_params or accepts_kwargs
        self._use_cache = "use_cache" in forward_params

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        tokenizer: Any = None,
        *,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        **options: Any,
    ) -> HFCausalLM:
        """Load a causal LM and its tokenizer from a local folder (or a hub name).

        Parameters
        ----------
        path : str or path-like
            A folder written by ``save_pretrained`` (``config.json`` and weights), or a
            HuggingFace hub name where the hub is reachable.
        tokenizer : tokenizer, str or path-like, optional
            The tokenizer, or where to load it from. Default: ``path``.
        local_files_only : bool
            Never contact the hub.
        trust_remote_code : bool
            Passed to ``transformers`` (runs code shipped with the model: only for trusted
            models).
        **options
            Options of :class:`HFCausalLM` (``max_length``, ``stride``, ``batch_size``,
            ``device``, ``dtype``, ``add_bos``, ``cache_size``). ``dtype`` is also used to load
            the weights.

        Raises
        ------
        FileNotFoundError
            If ``path`` looks like a local path (absolute, ``./``, ``~``, ...) and does not
            exist.
        ValueError
            If the folder has no ``config.json``, or the name is neither a local folder nor a
            model the hub could provide (the message names it; no traceback of the hub
            client).
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name = os.fspath(path)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"path must be a non-empty folder path or hub name, got {path!r}")
        folder = Path(name).expanduser()
        load_kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        torch_dtype = _resolve_dtype(options.get("dtype"))
        if torch_dtype is not None:
            load_kwargs["dtype"] = torch_dtype
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(
                    f"{name!r} is a file; pass the folder holding config.json and the weights "
                    "(written by save_pretrained)"
                )
            if not (folder / "config.json").is_file():
                present = sorted(p.name for p in folder.iterdir())[:8]
                raise ValueError(
                    f"model folder {name!r} has no config.json (files: {present}); pass a "
                    "folder written by save_pretrained"
                )
            source = str(folder)
            load_kwargs["local_files_only"] = True
        elif _looks_like_path(name):
            raise FileNotFoundError(f"model folder {name!r} does not exist")
        else:
            source = name
            load_kwargs["local_files_only"] = local_files_only
        try:
            with quiet_transformers():
                model = AutoModelForCausalLM.from_pretrained(source, **load_kwargs)
            if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
                tok_source = source if tokenizer is None else os.fspath(tokenizer)
                tok_kwargs = {k: v for k, v in load_kwargs.items() if k != "dtype"}
                if Path(tok_source).expanduser().is_dir():
                    tok_kwargs["local_files_only"] = True
                tokenizer = AutoTokenizer.from_pretrained(tok_source, **tok_kwargs)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = (f"from the local folder {name!r}" if source != name or folder.exists()
                     else f"{name!r}: it is not a local folder and the HuggingFace hub could "
                     "not provide it")
            raise ValueError(
                f"cannot load the causal LM or its tokenizer {where} ({type(exc).__name__}: "
                f"{first}). Where the hub is reachable, download it first (e.g. `hf download "
                f"{name} --local-dir DIR`) and pass the folder"
            ) from None
        return cls(model, tokenizer, **options)

    # ---------------------------------------------------------------- protocol
    @property
    def access(self) -> AccessLevel:
        """``"logits"``: the full next-token distribution is available."""
        return "logits"

    def __repr__(self) -> str:
        name = getattr(getattr(self.model, "config", None), "_name_or_path", "") or ""
        label = type(self.model).__name__ + (f" {name!r}" if name else "")
        stride = f", stride={self.stride}" if self.stride is not None else ""
        return f"HFCausalLM({label}, max_length={self.max_length}{stride})"

    def _options(self) -> tuple[Any, ...]:
        return (self.max_length, self.stride, self.add_bos, self.bos_token_id, str(self.dtype))

    # ---------------------------------------------------------------- tokens
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids scored for each text (with the BOS token where one is added).

        Raises
        ------
        ValueError
            Empty or whitespace-only texts, texts with fewer than two ids (nothing to score),
            or ids outside the model's embedding (tokenizer and model do not match).
        """
        items = check_texts(texts)
        special = self.add_bos is None
        encoded = self.tokenizer(items, add_special_tokens=special, padding=False,
                                 truncation=False, verbose=False)["input_ids"]
        ids = [list(map(int, e)) for e in encoded]
        if self.add_bos:
            assert self.bos_token_id is not None
            ids = [[self.bos_token_id, *e] for e in ids]
        short = [len(e) < 2 for e in ids]
        if any(short):
            raise ValueError(
                f"texts have no scored token in {describe_rows(short)}: they tokenise to a "
                "single token and no BOS token is prepended, so there is no prefix to score it "
                "from (pass add_bos=True to score the first token, or drop these texts)"
            )
        if self.n_embeddings is not None:
            top = max(max(e) for e in ids)
            low = min(min(e) for e in ids)
            if top >= self.n_embeddings or low < 0:
                bad = [max(e) >= self.n_embeddings or min(e) < 0 for e in ids]
                raise ValueError(
                    f"tokenizer and model do not match: token id {top if top >= 0 else low} "
                    f"is outside the model's embedding of {self.n_embeddings} rows (tokenizer "
                    f"size {len(self.tokenizer)}) in {describe_rows(bad)}"
                )
        return ids

    def _windows(self, ids: list[list[int]]) -> tuple[list[_Window], int]:
        """Rows of the forward passes, and the number of truncated texts."""
        L = self.max_length
        rows: list[_Window] = []
        truncated = 0
        for i, seq in enumerate(ids):
            n = len(seq)
            if n <= L:
                rows.append(_Window(i, 0, seq, 1))
            elif self.stride is None:
                rows.append(_Window(i, 0, seq[:L], 1))
                truncated += 1
            else:
                prev_end, begin, piece = 0, 0, 0
                while True:
                    end = min(begin + L, n)
                    rows.append(_Window(i, piece, seq[begin:end], max(prev_end, 1) - begin))
                    if end == n:
                        break
                    prev_end, begin, piece = end, begin + self.stride, piece + 1
        return rows, truncated

    # ---------------------------------------------------------------- stats
    def token_stats(self, texts: Sequence[str]) -> TokenStats:
        """Per-token log-probabilities, and per position the mean and variance of log p.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        TokenStats
            Cached: the same texts again return the same object without a forward pass.

        Raises
        ------
        ValueError
            Empty or whitespace-only texts, texts without a scored token, or a tokenizer whose
            ids do not fit the model (see :meth:`tokenize`).

        Warns
        -----
        UserWarning
            Once per call when texts were truncated to ``max_length`` tokens (with the count).
        """
        items = check_texts(texts)
        key = texts_key(items, *self._options())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        ids = self.tokenize(items)
        rows, truncated = self._windows(ids)
        pieces: dict[tuple[int, int], tuple[NDArray[np.float64], ...]] = {}
        order = sorted(range(len(rows)), key=lambda r: -len(rows[r].ids))
        with _eval_mode(self.model), torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                batch = [rows[r] for r in order[b : b + self.batch_size]]
                for row, values in zip(batch, self._batch_stats(batch), strict=True):
                    pieces[(row.text, row.piece)] = values
        per_text: list[list[tuple[NDArray[np.float64], ...]]] = [[] for _ in items]
        for (text, _piece), values in sorted(pieces.items()):
            per_text[text].append(values)
        logprobs = [np.concatenate([v[0] for v in p]) for p in per_text]
        means = [np.concatenate([v[1] for v in p]) for p in per_text]
        variances = [np.concatenate([v[2] for v in p]) for p in per_text]
        if truncated:
            warnings.warn(
                f"{truncated} of {len(items)} texts are longer than max_length="
                f"{self.max_length} tokens and were truncated (their later tokens are not "
                "scored); pass stride=... to score them whole with a sliding window",
                UserWarning, stacklevel=2,
            )
        stats = TokenStats(logprobs=logprobs, mean_logp=means, var_logp=variances,
                           n_truncated=truncated)
        self._cache.put(key, stats)
        return stats

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if self._position_ids:
            kwargs["position_ids"] = torch.arange(
                input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        if self._use_cache:
            kwargs["use_cache"] = False
        out = self.model(**kwargs)
        logits = out.logits if hasattr(out, "logits") else out[0]
        if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
            raise ValueError(
                f"{type(self.model).__name__} did not return logits of shape (batch, tokens, "
                "vocabulary); is it a causal LM (AutoModelForCausalLM)?"
            )
        return logits

    def _batch_stats(self, batch: list[_Window]) -> list[tuple[NDArray[np.float64], ...]]:
        """``(lp, mu, var)`` of the scored positions of each row, from one forward pass."""
        n_rows, width = len(batch), max(len(w.ids) for w in batch)
        ids = torch.full((n_rows, width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n_rows, width), dtype=torch.long)
        for r, w in enumerate(batch):
            ids[r, : len(w.ids)] = torch.tensor(w.ids, dtype=torch.long)
            mask[r, : len(w.ids)] = 1
        # flat position r * width + j predicts token j + 1 of row r; row r scores the
        # positions [start - 1, n - 1), contiguous in the flat view of the logits
        spans = [(r * width + w.start - 1, r * width + len(w.ids) - 1)
                 for r, w in enumerate(batch)]
        targets = torch.cat([ids[:, 1:], ids[:, :1]], dim=1).reshape(-1)  # last column unused
        logits = self._forward(ids.to(self.device), mask.to(self.device))
        vocab = int(logits.shape[-1])
        top = max(max(w.ids) for w in batch)
        if top >= vocab:
            raise ValueError(
                f"tokenizer and model do not match: token id {top} but the model returns "
                f"logits over {vocab} tokens (tokenizer size {len(self.tokenizer)})"
            )
        flat = logits.reshape(n_rows * width, vocab)
        targets = targets.to(self.device)
        sums = torch.ones((4, n_rows * width), dtype=torch.float64, device=self.device)
        chunk_elements = CHUNK_ELEMENTS if self.device.type == "cpu" else CUDA_CHUNK_ELEMENTS
        step = max(1, chunk_elements // vocab)
        for a, b in _merge_spans(spans, gap=max(1, step // 4)):
            for c in range(a, b, step):
                d = min(c + step, b)
                _position_sums(flat[c:d], targets[c:d], sums[:, c:d])
        del logits, flat
        values = _stats_from_sums(sums).cpu().numpy()
        return [(values[0, a:b], values[1, a:b], values[2, a:b]) for a, b in spans]


def _merge_spans(spans: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join spans separated by at most ``gap`` positions (fewer, larger blocks of work)."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _position_sums(z: torch.Tensor, targets: torch.Tensor, out: torch.Tensor) -> None:
    """Write ``s_t``, ``S = sum e^s``, ``A = sum e^s s``, ``B = sum e^s s^2`` into ``out``.

    ``z`` is a ``[positions, vocab]`` block of logits and ``s = z - max z`` (per row). The
    elementwise work is in float32, the three sums are accumulated in float64 (float32 sums
    over a large vocabulary lose about 1e-6 of relative precision; these keep about 1e-8).
    """
    z = z.float()
    shifted = z - z.amax(dim=-1, keepdim=True)
    out[0] = shifted.gather(1, targets[:, None])[:, 0]
    e = shifted.exp()
    torch.sum(e, dim=-1, dtype=torch.float64, out=out[1])
    torch.sum(e.mul_(shifted), dim=-1, dtype=torch.float64, out=out[2])
    torch.sum(e.mul_(shifted), dim=-1, dtype=torch.float64, out=out[3])


def _stats_from_sums(sums: torch.Tensor) -> torch.Tensor:
    """``(lp, mu, var)`` from the rows of :func:`_position_sums`, float64.

    ``log p = s - log S``, so ``lp = s_t - log S``, ``mu = A / S - log S`` and
    ``sigma^2 = B / S - (A / S)^2``: the variance of ``log p`` is that of ``s``, and the shift
    by the maximum keeps the subtraction well conditioned.
    """
    s_t, total, first, second = sums
    log_total = total.log()
    mean_shifted = first / total
    lp = (s_t - log_total).clamp_max(0.0)
    var = (second / total - mean_shifted * mean_shifted).clamp_min(0.0)
    return torch.stack([lp, mean_shifted - log_total, var])


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars ("Loading weights") inside the block: privmeter shows
    its own progress, and ``--no-progress`` must mean none."""
    from transformers.utils import logging as _hf_logging

    hf_logging: Any = _hf_logging
    was = hf_logging.is_progress_bar_enabled()
    if was:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub name ``org/model``."""
    return (
        os.path.isabs(name) or name.startswith((".", "~")) or "\\" in name
        or name.count("/") > 1 or name.endswith("/")
    )
