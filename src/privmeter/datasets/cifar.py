"""CIFAR-10 / CIFAR-100 python batches, read with :class:`RestrictedUnpickler`.

The unpickler only rebuilds numpy arrays and plain containers; any other global in a batch
raises :class:`pickle.UnpicklingError` naming it, before anything is called.
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.typing import NDArray

from privmeter.datasets.dataset import Dataset, PathLike, _listing
from privmeter.datasets.files import _text

# --- restricted unpickling ------------------------------------------------------------------


def _numpy_global(modules: tuple[str, ...], attr: str) -> Any:
    for module in modules:
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {attr!r} in {modules}")  # pragma: no cover


_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")

# (module, name) -> how to get the object. numpy arrays pickle as
# ``_reconstruct(ndarray, ...)`` + ``dtype`` (protocols 0-4), ``_frombuffer`` (protocol 5)
# and, under protocols 0-2 in Python 3, their bytes go through ``_codecs.encode``.
_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_global(_MULTIARRAY, "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_global(_MULTIARRAY, "_reconstruct"),
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.numeric", "_frombuffer"): lambda: _numpy_global(_NUMERIC, "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): lambda: _numpy_global(_NUMERIC, "_frombuffer"),
    ("_codecs", "encode"): lambda: _latin1_encode,
}


def _latin1_encode(obj: str, encoding: str = "latin1") -> bytes:
    """What pickle protocols 0-2 need to rebuild ``bytes``; only text codecs are allowed."""
    if not isinstance(obj, str) or encoding.replace("-", "").lower() not in ("latin1", "utf8"):
        raise pickle.UnpicklingError(f"forbidden _codecs.encode call with encoding {encoding!r}")
    return obj.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays and plain Python containers.

    ``find_class`` allows numpy's array reconstruction (``numpy.core.multiarray._reconstruct``
    or ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, plus
    ``_frombuffer`` for protocol-5 pickles and latin-1 ``_codecs.encode`` for protocol-2
    pickles written by Python 3). Any other global raises :class:`pickle.UnpicklingError`
    naming it, before anything is called. Dicts, lists, strings, bytes and numbers need no
    global and load as usual.

    Examples
    --------
    >>> import io, pickle, numpy as np
    >>> from privmeter.datasets import RestrictedUnpickler
    >>> blob = pickle.dumps({b"data": np.arange(3, dtype=np.uint8)})
    >>> RestrictedUnpickler(io.BytesIO(blob)).load()[b"data"].tolist()
    [0, 1, 2]
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(print))).load()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: forbidden global 'builtins.print' ...
    """

    def __init__(self, file: BinaryIO, *, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed numpy global; raise ``UnpicklingError`` for anything else."""
        getter = _ALLOWED_GLOBALS.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"forbidden global '{module}.{name}' in pickle: only numpy arrays may be "
                "loaded from data files"
            )
        return getter()

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids are never resolved."""
        raise pickle.UnpicklingError("forbidden persistent id in pickle")


def _load_pickle(p: Path) -> Any:
    try:
        with p.open("rb") as fh:
            return RestrictedUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(f"{p}: {err}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise ValueError(f"{p}: not a readable pickle of numpy arrays ({err!r})") from None


def _get(batch: dict[Any, Any], key: str) -> Any:
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


_CIFAR = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ("train",),
        "test": ("test",),
        "meta": "meta",
    },
}


def load_cifar(
    path: PathLike,
    variant: Literal["cifar10", "cifar100"] = "cifar10",
    split: Literal["train", "test"] = "train",
    *,
    label_type: Literal["fine", "coarse"] = "fine",
) -> Dataset:
    """Read the CIFAR-10 / CIFAR-100 python batches (safely: numpy arrays only).

    Parameters
    ----------
    path : str or path-like
        The folder holding the batches (``cifar-10-batches-py`` / ``cifar-100-python``, as
        extracted from the official archives), or the folder that contains it.
    variant : {"cifar10", "cifar100"}
        CIFAR-10 reads ``data_batch_1`` .. ``data_batch_5`` (train) or ``test_batch`` and
        ``batches.meta``; CIFAR-100 reads ``train`` or ``test`` and ``meta``.
    split : {"train", "test"}
    label_type : {"fine", "coarse"}
        CIFAR-100 only: the 100 fine labels or the 20 coarse ones.

    Returns
    -------
    Dataset
        Images of shape (n, 3, 32, 32), float32 in [0, 1]; ``class_names`` from the meta file
        (``None`` if it is absent); ``name`` like ``"cifar10-train"``.

    Raises
    ------
    FileNotFoundError
        If the folder or a batch file is missing (naming the files expected).
    pickle.UnpicklingError
        If a batch pickle references anything but numpy array reconstruction (e.g. a
        malicious ``os.system``): nothing from it is called.
    ValueError
        If a batch does not hold the expected dict (``b"data"`` uint8 (n, 3072) and the
        labels).

    Examples
    --------
    >>> from privmeter.datasets import load_cifar
    >>> train = load_cifar("~/data/cifar-10-batches-py")  # doctest: +SKIP
    >>> train.x.shape, train.class_names[:2]  # doctest: +SKIP
    ((50000, 3, 32, 32), ('airplane', 'automobile'))
    """
    if variant not in _CIFAR:
        raise ValueError(f"variant must be 'cifar10' or 'cifar100', got {variant!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if label_type not in ("fine", "coarse"):
        raise ValueError(f"label_type must be 'fine' or 'coarse', got {label_type!r}")
    spec = _CIFAR[variant]
    root = Path(os.fspath(path)).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{variant} folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(
            f"{root} is a file; pass the folder that holds the {variant} batches "
            f"({', '.join(spec[split])})"
        )
    files: tuple[str, ...] = tuple(spec[split])
    folder = root
    if not (root / files[0]).exists() and (root / str(spec["folder"])).is_dir():
        folder = root / str(spec["folder"])
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        present = sorted(e.name for e in folder.iterdir())
        raise FileNotFoundError(
            f"{folder}: missing {variant} {split} batch files {', '.join(missing)} (found: "
            f"{_listing(present) or 'nothing'})"
        )
    if variant == "cifar10":
        label_key, names_key, n_classes = "labels", "label_names", 10
    elif label_type == "fine":
        label_key, names_key, n_classes = "fine_labels", "fine_label_names", 100
    else:
        label_key, names_key, n_classes = "coarse_labels", "coarse_label_names", 20

    data_parts: list[NDArray[np.uint8]] = []
    label_parts: list[NDArray[np.int64]] = []
    for fname in files:
        fp = folder / fname
        batch = _load_pickle(fp)
        if not isinstance(batch, dict):
            raise ValueError(f"{fp}: expected a dict batch, found {type(batch).__name__}")
        data = _get(batch, "data")
        labels = _get(batch, label_key)
        if data is None or labels is None:
            keys = [_text(k) for k in batch]
            raise ValueError(
                f"{fp}: a {variant} batch needs keys 'data' and {label_key!r}; found "
                f"{_listing(keys)}"
            )
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or (data.shape[1] != 3 * 32 * 32)
        ):
            desc = (
                f"{data.dtype} array of shape {data.shape}"
                if isinstance(data, np.ndarray)
                else type(data).__name__
            )
            raise ValueError(f"{fp}: 'data' must be a uint8 array of shape (n, 3072), got {desc}")
        try:
            lab = np.asarray(labels)
            if lab.dtype.kind not in "iu":
                raise TypeError
            lab = lab.astype(np.int64)
        except (TypeError, ValueError):
            raise ValueError(f"{fp}: {label_key!r} must be a list of integers") from None
        if lab.shape != (data.shape[0],):
            raise ValueError(
                f"{fp}: {data.shape[0]} images but {label_key!r} has shape {lab.shape}"
            )
        out = np.flatnonzero((lab < 0) | (lab >= n_classes))
        if out.size:
            raise ValueError(
                f"{fp}: label {int(lab[out[0]])} at row {int(out[0])} is outside "
                f"[0, {n_classes - 1}]"
            )
        data_parts.append(data)
        label_parts.append(lab)

    class_names: tuple[str, ...] | None = None
    meta_path = folder / str(spec["meta"])
    if meta_path.is_file():
        meta = _load_pickle(meta_path)
        names = _get(meta, names_key) if isinstance(meta, dict) else None
        if names is None:
            raise ValueError(f"{meta_path}: no {names_key!r} in the meta file")
        class_names = tuple(_text(s) for s in names)
        if len(class_names) != n_classes:
            raise ValueError(
                f"{meta_path}: {len(class_names)} {names_key!r} for {n_classes} classes"
            )

    data_all = np.concatenate(data_parts) if len(data_parts) > 1 else data_parts[0]
    x = data_all.reshape(-1, 3, 32, 32).astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)
    y = np.concatenate(label_parts)
    return Dataset(
        x=x,
        y=y,
        n_classes=n_classes,
        class_names=class_names,
        name=f"{variant}-{split}",
        image_shape=(3, 32, 32),
    )


