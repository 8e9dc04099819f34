"""Fine-tune a causal language model on text subsets: reference LMs, full fine-tuning or LoRA.

:class:`LMTrainer` is the :class:`~privmeter.training.Trainer` for language models: it loads a
local base model (a folder with the config, the weights and the tokenizer, as written by
``save_pretrained``), fine-tunes it on the selected texts with the causal-LM loss, and returns
the trained weights as a CPU state dict: every parameter for full fine-tuning (tied duplicates
such as GPT-2's ``lm_head.weight`` left out), only the adapter for LoRA (Hu et al., ICLR 2022,
``hu2022``). :func:`~privmeter.training.train_models` stores those in the content-addressed
cache (safetensors), so reference models of LiRA and RMIA are trained once and reloaded.

:func:`build_tiny_causal_lm` writes a small GPT-2-style model (Radford et al. 2019,
``radford2019``) with a byte-level BPE tokenizer trained on a corpus, for demos and tests
that must not download anything; :func:`pretrain_causal_lm` teaches such a model the
language of a corpus first, so that a later fine-tuning measures memorisation rather than
learning the format.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from privmeter._progress import tick
from privmeter._validation import check_int, check_optional_int
from privmeter.training._hashing import canonical_json, check_indices, check_seed, derive_seeds
from privmeter.training.torch_trainer import isolated_torch_rng, torch_threads

if TYPE_CHECKING:
    from privmeter.models.hf_lm import HFCausalLM

__all__ = [
    "LMTrainer",
    "LoraSettings",
    "base_fingerprint",
    "build_tiny_causal_lm",
    "pretrain_causal_lm",
]

StateDict = dict[str, torch.Tensor]
DtypeName = Literal["float32", "float16", "bfloat16", "float64"]
ScheduleName = Literal["linear", "constant"]

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}
_SCHEDULES = ("linear", "constant")
#: The end-of-text token of :func:`build_tiny_causal_lm` (GPT-2's: also BOS and padding).
END_OF_TEXT = "<|endoftext|>"
#: Default learning rates: 5e-5 for full fine-tuning (the usual GPT-2 value), 2e-4 for LoRA
#: (Hu et al. 2022 used 2e-4 for GPT-2 medium).
DEFAULT_LR_FULL = 5e-5
DEFAULT_LR_LORA = 2e-4


# --------------------------------------------------------------------------- base folders
@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No transformers progress bars (loading / writing shards) inside the block."""
    from transformers.utils import logging as _hf_logging

    hf_logging: Any = _hf_logging
    was = hf_logging.is_progress_bar_enabled()
    if was:
        hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*")
            yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _check_base_folder(base: str | os.PathLike[str]) -> Path:
    if not isinstance(base, (str, os.PathLike)):
        raise TypeError(
            f"base must be the path of a local model folder (str or Path), got "
            f"{type(base).__name__}"
        )
    path = Path(base).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"base model folder '{path}' does not exist; give a local folder written by "
            "save_pretrained (config.json, the weights and the tokenizer files)"
        )
    if not path.is_dir():
        raise NotADirectoryError(
            f"base model '{path}' is not a folder; give a local folder written by "
            "save_pretrained (config.json, the weights and the tokenizer files)"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"base model folder '{path}' has no config.json; is it a folder written by "
            "save_pretrained?"
        )
    return path.resolve()


_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        hit = _HASHES.get(key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(functools.partial(fh.read, 1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = digest
    return digest


def base_fingerprint(base: str | os.PathLike[str]) -> str:
    """sha256 over the files of a model folder (relative names and contents), not its path.

    Hidden files and folders (``.cache``, ``.git`` ...) are skipped. Each file's hash is
    remembered per process by (path, size, modification time), so a large base model is read
    once.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text("{}")
    >>> len(base_fingerprint(folder))
    64
    """
    root = _check_base_folder(base)
    h = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for p in files:
        rel = p.relative_to(root).as_posix()
        h.update(f"{rel}\0{_file_sha256(p)}\0".encode())
    return h.hexdigest()


def _check_causal_lm_config(path: Path) -> Any:
    """The folder's config, refused unless transformers maps it to a causal-LM class."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read the model config in '{path}': {first}") from None
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        archs = getattr(config, "architectures", None) or []
        raise ValueError(
            f"the model in '{path}' (model_type {model_type!r}"
            + (f", architectures {archs}" if archs else "")
            + ") is not a causal language model: transformers has no AutoModelForCausalLM "
            "class for it. Give a decoder-only model such as GPT-2, Llama, Mistral or Pythia"
        )
    return config


def _context_size(config: Any) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


#: Loaded base models per process: fingerprint -> (model on CPU, tokenizer). Kept small.
_BASES: OrderedDict[str, tuple[nn.Module, Any]] = OrderedDict()
_BASES_MAX = 2
_BASES_LOCK = threading.Lock()


def _load_base(path: Path, key: str, dtype: torch.dtype) -> tuple[nn.Module, Any]:
    """The base model (CPU, ``dtype``, eval mode) and the tokenizer, cached per process under
    ``key``: shared, never to be modified (:meth:`LMTrainer._fresh_base` deep-copies it)."""
    cache_key = f"{key}|{dtype}"
    with _BASES_LOCK:
        hit = _BASES.get(cache_key)
        if hit is not None:
            _BASES.move_to_end(cache_key)
    if hit is None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"cannot load a tokenizer from '{path}' ({first}); save the tokenizer into "
                "the model folder with tokenizer.save_pretrained(folder)"
            ) from None
        with _quiet_transformers():
            model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        model.eval()
        n_emb = model.get_input_embeddings().num_embeddings
        if len(tokenizer) > n_emb:
            raise ValueError(
                f"the tokenizer in '{path}' has {len(tokenizer)} tokens but the model's "
                f"embedding has {n_emb} rows: they do not belong together (resize the "
                "embeddings with model.resize_token_embeddings(len(tokenizer)) and save again)"
            )
        hit = (model, tokenizer)
        with _BASES_LOCK:
            _BASES[cache_key] = hit
            while len(_BASES) > _BASES_MAX:
                _BASES.popitem(last=False)
    return hit


def _tied_names(model: nn.Module) -> set[str]:
    """State-dict names that share storage with an earlier name (tied weights)."""
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    tied: set[str] = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if ident in seen:
            tied.add(name)
        seen.add(ident)
    return tied


# ----------------------------------------------------------------------------- LoRA
@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (Hu et al., ICLR 2022, ``hu2022``), applied with ``peft``.

    Parameters
    ----------
    r : int
        Rank of the update ``B A`` (at least 1).
    alpha : float
        Scaling: the update is multiplied by ``alpha / r``.
    dropout : float
        Dropout on the adapter's input, in ``[0, 1)``.
    target_modules : sequence of str, optional
        Names (suffixes) of the modules to adapt. ``None``: peft's default for the
        architecture (``c_attn`` for GPT-2, ``q_proj``/``v_proj`` for Llama ...), or every
        linear / ``Conv1D`` projection except the output head where peft has none.

    Examples
    --------
    >>> LoraSettings(r=4, target_modules=["c_attn", "c_proj"]).target_modules
    ('c_attn', 'c_proj')
    >>> LoraSettings(r=0)
    Traceback (most recent call last):
    ...
    ValueError: LoraSettings.r must be an integer >= 1, got 0
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        try:
            check_int("r", self.r, minimum=1)
        except ValueError:
            raise ValueError(f"LoraSettings.r must be an integer >= 1, got {self.r!r}") from None
        object.__setattr__(self, "r", int(self.r))
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) \
                or not math.isfinite(float(self.alpha)) or float(self.alpha) <= 0:
            raise ValueError(
                f"LoraSettings.alpha must be a positive finite number, got {self.alpha!r}"
            )
        object.__setattr__(self, "alpha", float(self.alpha))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float, np.number)) \
                or not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"LoraSettings.dropout must lie in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", float(self.dropout))
        targets = self.target_modules
        if targets is not None:
            if isinstance(targets, str):
                targets = (targets,)
            targets = tuple(targets)
            if not targets or not all(isinstance(t, str) and t.strip() for t in targets):
                raise ValueError(
                    "LoraSettings.target_modules must be None or a non-empty list of module "
                    f"names, got {self.target_modules!r}"
                )
            object.__setattr__(self, "target_modules", targets)

    @classmethod
    def coerce(cls, value: LoraSettings | Mapping[str, Any] | None) -> LoraSettings | None:
        """``None``, a :class:`LoraSettings`, or one from a mapping (e.g. a config section)."""
        if value is None or isinstance(value, LoraSettings):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(
                    f"unknown LoRA setting(s) {unknown}; expected some of {sorted(known)}"
                )
            return cls(**dict(value))
        raise TypeError(
            f"lora must be None, a LoraSettings or a mapping, got {type(value).__name__}"
        )

    def resolve_targets(self, model: nn.Module) -> tuple[str, ...]:
        """The module names to adapt in ``model`` (see ``target_modules``)."""
        if self.target_modules is not None:
            return self.target_modules
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

        model_type = getattr(getattr(model, "config", None), "model_type", None)
        default = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type or "")
        if default:
            return tuple(default)
        from transformers.pytorch_utils import Conv1D

        get_out = getattr(model, "get_output_embeddings", None)
        head = get_out() if callable(get_out) else None
        names = sorted({
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, Conv1D)) and module is not head
        })
        if not names:
            raise ValueError(
                f"found no linear or Conv1D layer to adapt with LoRA in {type(model).__name__}; "
                "name them with LoraSettings(target_modules=[...])"
            )
        return tuple(names)

    def peft_model(self, model: nn.Module) -> Any:
        """``model`` wrapped by ``peft.get_peft_model`` with these settings (freshly initialised
        adapters from torch's global RNG, the base weights frozen)."""
        from peft import LoraConfig, get_peft_model
        from transformers.pytorch_utils import Conv1D

        targets = self.resolve_targets(model)
        wanted = set(targets)
        kinds = [
            isinstance(m, Conv1D) for name, m in model.named_modules()
            if name.rsplit(".", 1)[-1] in wanted
        ]
        if not kinds:
            raise ValueError(
                f"LoRA target modules {list(targets)} match no module of "
                f"{type(model).__name__}; its leaf modules include "
                f"{sorted({n.rsplit('.', 1)[-1] for n, _ in model.named_modules() if n})[:12]}"
            )
        options: dict[str, Any] = {"lora_alpha": self.alpha}  # peft accepts a float alpha
        config = LoraConfig(
            r=self.r, lora_dropout=self.dropout, target_modules=list(targets), bias="none",
            task_type="CAUSAL_LM", fan_in_fan_out=bool(kinds) and all(kinds), **options,
        )
        with _quiet_transformers(), warnings.catch_warnings():
            # peft corrects fan_in_fan_out per module for a mix of Linear and Conv1D layers
            warnings.filterwarnings("ignore", message=r".*fan_in_fan_out.*")
            return get_peft_model(model, config)


# --------------------------------------------------------------------------- the trainer
def _texts(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(
            f"x must be a 1-D array of texts (one string per row), got shape {arr.shape}"
        )
    return arr


@dataclass(frozen=True)
class LMTrainer:
    """Fine-tune a local causal LM on a subset of texts (one seed -> one state dict).

    Each :meth:`fit` starts from a private copy of the base model (loaded from ``base`` once
    per process), minimises the mean next-token cross-entropy over the texts' tokens (each
    text tokenised as the tokenizer does by default, truncated to ``max_length`` tokens,
    padded on the right; padding never enters the loss) with AdamW, and returns the weights.
    The seed is split into an adapter-initialisation seed, a batch-order seed (a private
    :class:`torch.Generator` draws a fresh permutation each epoch) and a dropout seed; torch's
    global RNG is seeded only inside :func:`torch.random.fork_rng`, so two fits with the same
    seed give bit-identical weights on the CPU (with the same ``num_threads``).

    Parameters
    ----------
    base : str or Path
        A local model folder written by ``save_pretrained``: ``config.json``, the weights and
        the tokenizer. Its content (not its path) is part of the cache key.
    lora : LoraSettings or mapping, optional
        Train a LoRA adapter (Hu et al., ICLR 2022, ``hu2022``) instead of every weight.
    epochs : int
    learning_rate : float, optional
        Peak AdamW learning rate. Default 5e-5 for full fine-tuning, 2e-4 with LoRA (tiny
        models trained from scratch want about 1e-3 and more).
    batch_size : int
    max_length : int
        Tokens per text at most (longer texts are truncated); at most the model's context.
    weight_decay : float
        AdamW's decoupled weight decay.
    warmup_steps : int
        Linear warm-up from 0 to ``learning_rate`` over these optimizer steps.
    schedule : {"linear", "constant"}
        After warm-up: linear decay to 0 at the last step (transformers' default), or constant.
    max_grad_norm : float, optional
        Clip the gradient's global norm (default 1.0, as transformers' Trainer); None: no clip.
    num_threads : int or None
        torch CPU threads while training (restored afterwards). The default 1 makes results
        bit-identical in-process and in worker processes; None keeps the process's setting.
    device : str
        Where to train ("cpu", "cuda", "cuda:1", "mps"); results are always on the CPU.
    dtype : {"float32", "bfloat16", "float16", "float64"}, optional
        Weights' dtype during training (default float32, whatever the checkpoint holds).
    add_bos : bool, optional
        As in :class:`privmeter.models.HFCausalLM` (and passed on to it by :meth:`build`):
        ``None``, the tokenizer's own special tokens; ``True``, ``[BOS] + tokens`` (the first
        token is trained too); ``False``, no special tokens.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> texts = np.array([f"record {i}: the sky is blue" for i in range(16)], dtype=object)
    >>> base = build_tiny_causal_lm(tempfile.mkdtemp(), texts, vocab_size=300, n_embd=32)
    >>> trainer = LMTrainer(base, lora=LoraSettings(r=2), epochs=1, batch_size=4)
    >>> state = trainer.fit(texts, None, np.arange(8), seed=0)
    >>> all("lora_" in k for k in state), trainer.steps(8)
    (True, 2)
    """

    base: str | os.PathLike[str]
    lora: LoraSettings | None = None
    epochs: int = 1
    learning_rate: float | None = None
    batch_size: int = 8
    max_length: int = 128
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: ScheduleName = "linear"
    max_grad_norm: float | None = 1.0
    num_threads: int | None = 1
    device: str = "cpu"
    dtype: DtypeName | None = None
    add_bos: bool | None = None

    #: What :meth:`fit` returns, for the store: a ``dict[str, Tensor]``.
    result_kind: ClassVar[str] = "state_dict"

    def __post_init__(self) -> None:
        path = _check_base_folder(self.base)
        object.__setattr__(self, "base", str(path))
        object.__setattr__(self, "lora", LoraSettings.coerce(self.lora))
        for name in ("epochs", "batch_size"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=1))
        object.__setattr__(self, "max_length", check_int("max_length", self.max_length,
                                                         minimum=2))
        object.__setattr__(self, "warmup_steps", check_int("warmup_steps", self.warmup_steps,
                                                           minimum=0))
        object.__setattr__(self, "num_threads", check_optional_int("num_threads",
                                                                   self.num_threads, minimum=1))
        lr = self.learning_rate
        if lr is not None:
            if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) \
                    or not math.isfinite(float(lr)) or float(lr) <= 0:
                raise ValueError(f"learning_rate must be a positive finite number, got {lr!r}")
            object.__setattr__(self, "learning_rate", float(lr))
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, (int, float, np.number)) \
                or not math.isfinite(float(wd)) or float(wd) < 0:
            raise ValueError(f"weight_decay must be a non-negative finite number, got {wd!r}")
        object.__setattr__(self, "weight_decay", float(wd))
        clip = self.max_grad_norm
        if clip is not None:
            if isinstance(clip, bool) or not isinstance(clip, (int, float, np.number)) \
                    or not math.isfinite(float(clip)) or float(clip) <= 0:
                raise ValueError(
                    f"max_grad_norm must be None or a positive finite number, got {clip!r}"
                )
            object.__setattr__(self, "max_grad_norm", float(clip))
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {_SCHEDULES}")
        if self.add_bos is not None and not isinstance(self.add_bos, bool):
            raise TypeError(f"add_bos must be None, True or False, got {self.add_bos!r}")
        if self.dtype is not None and self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {tuple(_DTYPES)}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"malformed device {self.device!r}: {exc}") from None
        config = _check_causal_lm_config(path)
        context = _context_size(config)
        if context is not None and self.max_length > context:
            raise ValueError(
                f"max_length={self.max_length} exceeds the context of the model in '{path}' "
                f"({context} positions); use max_length <= {context}"
            )

    # ----------------------------------------------------------------- identity
    @property
    def lr(self) -> float:
        """The learning rate in use (``learning_rate`` or the default for the method)."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LR_LORA if self.lora is not None else DEFAULT_LR_FULL

    @property
    def torch_dtype(self) -> torch.dtype:
        """The training dtype as a :class:`torch.dtype`."""
        return _DTYPES[self.dtype or "float32"]

    @property
    def torch_device(self) -> torch.device:
        """The training device as a :class:`torch.device`."""
        return torch.device(self.device)

    @functools.cached_property
    def _base_sha256(self) -> str:
        return base_fingerprint(self.base)

    @functools.cached_property
    def _fingerprint(self) -> str:
        import transformers

        config: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self)
            if f.name not in ("base", "learning_rate")
        }
        config["learning_rate"] = self.lr
        config["dtype"] = self.dtype or "float32"
        config["lora"] = None if self.lora is None else dataclasses.asdict(self.lora)
        versions = {
            "torch": torch.__version__.split("+")[0],
            "transformers": transformers.__version__,
        }
        if self.lora is not None:
            import peft

            versions["peft"] = peft.__version__
        return canonical_json({
            "trainer": f"{type(self).__module__}.{type(self).__qualname__}",
            "config": config,
            "base_sha256": self._base_sha256,
            "versions": versions,
        })

    def fingerprint(self) -> str:
        """Canonical JSON identifying this configuration (part of every cache key).

        Covers every option (with the learning rate actually used), a sha256 of the base
        folder's files (so a changed base model gives new cache keys; its path does not
        matter) and the versions of torch, transformers and (for LoRA) peft.
        """
        return self._fingerprint

    # ------------------------------------------------------------------ models
    def _fresh_base(self) -> tuple[nn.Module, Any]:
        """A private deep copy of the base model (no weights shared between fits) and the
        shared tokenizer."""
        model, tokenizer = _load_base(Path(self.base), self._base_sha256, self.torch_dtype)
        return copy.deepcopy(model), tokenizer

    def tokenizer(self) -> Any:
        """The base folder's tokenizer (shared; do not modify it)."""
        return _load_base(Path(self.base), self._base_sha256, self.torch_dtype)[1]

    def init_model(self, seed: int) -> nn.Module:
        """The model :meth:`fit` starts from for this seed: a copy of the base model, with
        freshly initialised (zero-effect) LoRA adapters when ``lora`` is set; on the device,
        in eval mode."""
        init_seed = derive_seeds(check_seed(seed), 3)[0]
        model, _ = self._fresh_base()
        if self.lora is not None:
            with isolated_torch_rng(torch.device("cpu"), init_seed):
                model = self.lora.peft_model(model)
        return model.to(self.torch_device).eval()

    def build_module(self, state: Mapping[str, torch.Tensor]) -> nn.Module:
        """The fine-tuned ``transformers`` model of a :meth:`fit` result (eval mode, on the
        device; a LoRA adapter is merged into the base weights)."""
        if not isinstance(state, Mapping) or not state:
            raise ValueError(
                f"state must be a non-empty dict of tensors returned by LMTrainer.fit, got "
                f"{type(state).__name__}" + (" (empty)" if isinstance(state, Mapping) else "")
            )
        model, _ = self._fresh_base()
        if self.lora is None:
            expected = set(model.state_dict()) - _tied_names(model)
            got = set(state)
            if got != expected:
                missing, extra = sorted(expected - got), sorted(got - expected)
                raise ValueError(
                    "state does not fit the base model (a LoRA state for a full fine-tuning "
                    "trainer, or another model?): "
                    + (f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''} " if missing
                       else "")
                    + (f"unexpected {extra[:3]}{' ...' if len(extra) > 3 else ''}" if extra
                       else "")
                )
            model.load_state_dict(dict(state), strict=False)  # tied names follow their source
        else:
            from peft import set_peft_model_state_dict

            with torch.random.fork_rng(devices=[]):
                peft_model = self.lora.peft_model(model)
            adapter = {k for k in peft_model.state_dict() if "lora_" in k}
            got = set(state)
            if not got or not all("lora_" in k for k in got):
                raise ValueError(
                    "state is not a LoRA adapter (its keys have no 'lora_' part, e.g. "
                    f"{sorted(got)[:2]}): was it trained with lora=None?"
                )
            result = set_peft_model_state_dict(peft_model, dict(state))
            unexpected = list(getattr(result, "unexpected_keys", []) or [])
            missing = [k for k in getattr(result, "missing_keys", []) or [] if k in adapter]
            if unexpected or missing:
                raise ValueError(
                    "LoRA state does not fit these LoraSettings and base model: "
                    + (f"unexpected {unexpected[:3]} " if unexpected else "")
                    + (f"missing {missing[:3]}" if missing else "")
                )
            model = peft_model.merge_and_unload()
        return model.to(self.torch_device).eval()

    def build(self, state: Mapping[str, torch.Tensor], **options: Any) -> HFCausalLM:
        """The fine-tuned model as a :class:`privmeter.models.HFCausalLM`.

        ``options`` go to ``HFCausalLM`` (``max_length``, ``stride``, ``batch_size``,
        ``add_bos`` ...); ``device``, ``add_bos`` and ``max_length`` default to the
        trainer's, so that texts are scored as they were trained (tokens beyond
        ``max_length`` were never trained on; pass ``max_length=None`` and a ``stride`` to
        score long texts whole).
        """
        try:
            from privmeter.models.hf_lm import HFCausalLM
        except ImportError as exc:  # pragma: no cover - while the adapter is being written
            raise ImportError(
                f"LMTrainer.build needs privmeter.models.hf_lm.HFCausalLM ({exc}); use "
                "build_module(state) for the bare transformers model"
            ) from exc
        module = self.build_module(state)
        options.setdefault("device", self.device)
        options.setdefault("add_bos", self.add_bos)
        options.setdefault("max_length", self.max_length)
        return HFCausalLM(module, self.tokenizer(), **options)

    # ------------------------------------------------------------------- data
    def encode(self, texts: Sequence[str], *, rows: Sequence[int] | None = None) -> list[list[int]]:
        """Token ids of each text as training sees them (special tokens as ``add_bos`` says,
        truncated to ``max_length``). Empty or whitespace-only texts are refused, naming their
        row."""
        tokenizer = self.tokenizer()
        names = list(rows) if rows is not None else list(range(len(texts)))
        for row, text in zip(names, texts, strict=True):
            if not isinstance(text, str):
                raise TypeError(f"x[{row}] is a {type(text).__name__}, not a text (str)")
            if not text.strip():
                raise ValueError(
                    f"x[{row}] is empty or whitespace-only; remove it from the data (there is "
                    "nothing to learn or score)"
                )
        encoded = tokenizer(list(texts), add_special_tokens=self.add_bos is None,
                            truncation=False, verbose=False)
        ids: list[list[int]] = [list(map(int, t)) for t in encoded["input_ids"]]
        if self.add_bos:
            bos = getattr(tokenizer, "bos_token_id", None)
            if not isinstance(bos, int):
                raise ValueError(
                    f"add_bos=True but the tokenizer in '{self.base}' defines no BOS token "
                    "(bos_token_id); use add_bos=None or False"
                )
            ids = [[bos, *seq] for seq in ids]
        ids = [seq[: self.max_length] for seq in ids]
        vocab = len(tokenizer)
        for row, seq in zip(names, ids, strict=True):
            if seq and max(seq) >= vocab:  # pragma: no cover - a broken tokenizer
                raise ValueError(f"x[{row}] has token id {max(seq)} >= the vocabulary {vocab}")
        return ids

    def _collate(
        self, seqs: Sequence[Sequence[int]], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            t = torch.tensor(list(s), dtype=torch.long)
            ids[i, : len(s)] = t
            mask[i, : len(s)] = 1
            labels[i, : len(s)] = t
        return ids.to(device), mask.to(device), labels.to(device)

    def steps(self, n_points: int) -> int:
        """Optimizer steps of one :meth:`fit` on ``n_points`` texts (the progress units)."""
        return self.epochs * -(-int(n_points) // self.batch_size)

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based) of ``total``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / (self.warmup_steps + 1)
        if self.schedule == "constant":
            return self.lr
        remaining = max(1, total - self.warmup_steps)
        return self.lr * max(0.0, 1.0 - (step - self.warmup_steps) / remaining)

    # ------------------------------------------------------------------- train
    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> StateDict:
        """Fine-tune on the texts ``x[indices]`` and return the trained weights (on the CPU).

        Parameters
        ----------
        x : array_like of str
            All texts (1-D); ``indices`` selects the training set.
        y : ignored
            Labels of the data pool (unused by a language model).
        indices : array_like of int
            Rows to train on; a row listed ``k`` times is trained on ``k`` times per epoch
            (canary repetitions).
        seed : int
            Non-negative; the same seed gives bit-identical weights on the CPU.

        Returns
        -------
        dict of str to torch.Tensor
            Full fine-tuning: the model's state dict without tied duplicates (GPT-2's
            ``lm_head.weight``). LoRA: only the adapter (``peft.get_peft_model_state_dict``).

        Notes
        -----
        The loss of a batch is the mean over its tokens (padding excluded), as in
        transformers. Each optimizer step reports one unit of progress.
        """
        seed = check_seed(seed)
        texts = _texts(x)
        idx = check_indices(indices, texts.shape[0])
        unique, inverse = np.unique(idx, return_inverse=True)
        encoded = self.encode([texts[i] for i in unique], rows=unique.tolist())
        seqs = [encoded[j] for j in inverse.tolist()]
        init_seed, order_seed, noise_seed = derive_seeds(seed, 3)
        device = self.torch_device
        with torch_threads(self.num_threads), isolated_torch_rng(device, init_seed):
            model, _ = self._fresh_base()
            if self.lora is not None:
                model = self.lora.peft_model(model)
            model = model.to(device)
            torch.manual_seed(noise_seed)
            if device.type == "cuda":
                torch.cuda.manual_seed(noise_seed)
            model.train()
            params = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
            gen = torch.Generator().manual_seed(order_seed)
            n, bs = len(seqs), self.batch_size
            total = self.steps(n)
            step = 0
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=gen).tolist()
                for start in range(0, n, bs):
                    batch = [seqs[i] for i in order[start : start + bs]]
                    ids, mask, labels = self._collate(batch, device)
                    logits = model(input_ids=ids, attention_mask=mask).logits
                    loss = causal_lm_loss(logits, labels)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    if self.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                    for group in opt.param_groups:
                        group["lr"] = self.lr_at(step, total)
                    opt.step()
                    step += 1
                    tick(1)
            return self._result(model)

    def _result(self, model: nn.Module) -> StateDict:
        if self.lora is not None:
            from peft import get_peft_model_state_dict

            state = get_peft_model_state_dict(model)
        else:
            tied = _tied_names(model)
            state = {k: v for k, v in model.state_dict().items() if k not in tied}
        return {k: v.detach().to("cpu").clone() for k, v in state.items()}


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy: ``logits[:, t]`` predicts ``labels[:, t + 1]``; labels of
    -100 (padding) are ignored. A batch without any scored token gives 0 (no gradient)."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    total = torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
        ignore_index=-100, reduction="sum",
    )
    count = (shift_labels != -100).sum().clamp(min=1)
    return total / count


# ------------------------------------------------------------------- tiny base models
def _corpus(corpus: Iterable[str], what: str = "corpus") -> list[str]:
    if isinstance(corpus, str):
        raise TypeError(f"{what} must be a sequence of texts, got one str")
    texts = [t for t in corpus]
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"{what}[{bad}] is a {type(texts[bad]).__name__}, not a str")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError(f"{what} holds no non-empty text")
    return texts


def build_tiny_causal_lm(
    folder: str | os.PathLike[str],
    corpus: Iterable[str],
    *,
    vocab_size: int = 512,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 128,
    seed: int = 0,
) -> Path:
    """Write a small randomly initialised GPT-2 and a byte-level BPE tokenizer to ``folder``.

    The tokenizer is trained on ``corpus`` with the ``tokenizers`` library (GPT-2's byte-level
    pre-tokenizer, so any text can be encoded) and has one special token,
    ``<|endoftext|>``, used as BOS, EOS, padding and unknown token as in GPT-2 (Radford et
    al. 2019, ``radford2019``). The model is ``GPT2LMHeadModel(GPT2Config(...))`` initialised
    under ``torch.manual_seed(seed)``. Both are saved with ``save_pretrained`` (safetensors),
    so ``AutoModelForCausalLM.from_pretrained(folder)`` and
    ``AutoTokenizer.from_pretrained(folder)`` load them back. The same corpus and seed give
    the same files.

    Parameters
    ----------
    folder : str or Path
        Created if missing; existing model files in it are overwritten.
    corpus : iterable of str
        Texts to learn the BPE merges from (empty texts are skipped).
    vocab_size : int
        Requested vocabulary size (at least 257: the 256 byte symbols and the special token);
        a small corpus may give fewer tokens, and the model gets exactly the tokenizer's size.
    n_layer, n_embd, n_head, n_positions :
        GPT-2 shape (``n_embd`` must be a multiple of ``n_head``).
    seed : int
        Initialisation seed.

    Returns
    -------
    Path
        ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> from transformers import AutoModelForCausalLM
    >>> path = build_tiny_causal_lm(tempfile.mkdtemp(), ["hello world"] * 4, vocab_size=300,
    ...                             n_embd=32)
    >>> AutoModelForCausalLM.from_pretrained(path).config.n_layer
    2
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = _corpus(corpus)
    vocab_size = check_int("vocab_size", vocab_size, minimum=257)
    n_layer = check_int("n_layer", n_layer, minimum=1)
    n_embd = check_int("n_embd", n_embd, minimum=1)
    n_head = check_int("n_head", n_head, minimum=1)
    n_positions = check_int("n_positions", n_positions, minimum=2)
    seed = check_seed(seed)
    if n_embd % n_head:
        raise ValueError(f"n_embd={n_embd} must be a multiple of n_head={n_head}")
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"'{out}' exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe_trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[END_OF_TEXT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer=bpe_trainer)
    tokenizer: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT, pad_token=END_OF_TEXT, model_max_length=n_positions,
    )
    eot = int(tokenizer.convert_tokens_to_ids(END_OF_TEXT))
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
        n_head=n_head, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = GPT2LMHeadModel(config)
    model.eval()
    with _quiet_transformers():
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    return out


def pretrain_causal_lm(
    folder: str | os.PathLike[str],
    corpus: Sequence[str],
    *,
    epochs: int = 1,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    max_length: int | None = None,
    seed: int = 0,
    num_threads: int | None = None,
) -> Path:
    """Train every weight of the model in ``folder`` on ``corpus`` and save it back in place.

    For a demo whose base model should already know the language of the data (e.g. from
    :func:`build_tiny_causal_lm` and a public corpus disjoint from the audited texts), so
    that fine-tuning on the members measures memorisation. Uses :class:`LMTrainer` (full
    fine-tuning, constant learning rate after no warm-up) and ``save_pretrained``
    (safetensors); the tokenizer files are left as they are.

    Examples
    --------
    >>> import tempfile
    >>> texts = [f"line {i} of the corpus" for i in range(8)]
    >>> path = build_tiny_causal_lm(tempfile.mkdtemp(), texts, vocab_size=300, n_embd=32)
    >>> pretrain_causal_lm(path, texts, epochs=1) == path
    True
    """
    texts = np.asarray(_corpus(corpus), dtype=object)
    path = _check_base_folder(folder)
    context = _context_size(_check_causal_lm_config(path))
    length = max_length if max_length is not None else min(context or 128, 1024)
    trainer = LMTrainer(
        path, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        max_length=length, schedule="constant", num_threads=num_threads,
    )
    state = trainer.fit(texts, None, np.arange(texts.shape[0]), seed=seed)
    model: Any = trainer.build_module(state).to("cpu")
    with _quiet_transformers():
        model.save_pretrained(str(path))
    return Path(folder).expanduser()
