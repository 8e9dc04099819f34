"""Canonical JSON, content fingerprints and seed derivation shared by trainers and the store."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_indices as _check_indices
from privmeter._validation import check_seed as check_seed
from privmeter._version import __version__

__all__ = [
    "canonical_json",
    "check_indices",
    "data_fingerprint",
    "derive_seeds",
    "indices_fingerprint",
    "library_version",
    "sha256_hex",
]


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes (a string is UTF-8 encoded first)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def library_version() -> str:
    """privmeter's version (from the leaf :mod:`privmeter._version`)."""
    return __version__


def callable_identity(fn: Callable[..., Any]) -> dict[str, Any]:
    """A JSON-able description of a callable: its qualified name, arguments, and source.

    ``functools.partial`` objects are described by their function and arguments. The source
    code (when ``inspect`` can find it) is hashed so that an edited function gets a new
    identity.
    """
    if isinstance(fn, functools.partial):
        return {
            "partial": callable_identity(fn.func),
            "args": _to_jsonable(list(fn.args)),
            "kwargs": _to_jsonable(dict(fn.keywords)),
        }
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    identity: dict[str, Any] = {"callable": f"{module}.{qualname}"}
    try:
        source = inspect.getsource(fn if inspect.isroutine(fn) or inspect.isclass(fn) else type(fn))
    except (OSError, TypeError):
        source = None
    if source is not None:
        identity["source_sha256"] = sha256_hex(source)
    if not (inspect.isroutine(fn) or inspect.isclass(fn)):
        # A callable object: its attributes are part of what it does.
        state = getattr(fn, "__dict__", None)
        if state:
            identity["state"] = _to_jsonable(dict(state))
    return identity


def _to_jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if math.isfinite(value):
            return value
        return {"float": repr(value)}
    if isinstance(obj, enum.Enum):
        return {"enum": f"{type(obj).__module__}.{type(obj).__qualname__}.{obj.name}"}
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        if arr.dtype == object:
            return {"object_array": [_to_jsonable(v) for v in arr.ravel().tolist()],
                    "shape": list(arr.shape)}
        return {"array_sha256": sha256_hex(arr.tobytes()), "shape": list(arr.shape),
                "dtype": arr.dtype.str}
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_to_jsonable(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return {"dataclass": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "fields": _to_jsonable(fields)}
    if hasattr(obj, "get_params") and callable(obj.get_params):
        # scikit-learn estimators (and anything following their protocol).
        return {"estimator": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "params": _to_jsonable(obj.get_params(deep=False))}
    if callable(obj):
        return callable_identity(obj)
    text = repr(obj)
    if " at 0x" in text:
        raise ValueError(
            f"cannot fingerprint {text}: its repr holds a memory address, so it would give a "
            "different cache key in every run; use a value with a stable repr"
        )
    return {"repr": f"{type(obj).__module__}.{type(obj).__qualname__}", "value": text}


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) of configs, arrays, estimators, callables.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(_to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _hash_text_array(h: Any, arr: NDArray[Any]) -> None:
    """A 1-D object array of ``str``: each text's UTF-8 length (int64) then all the bytes."""
    encoded: list[bytes] = []
    for i, value in enumerate(arr.tolist()):
        if not isinstance(value, str):
            raise ValueError(
                "cannot fingerprint an array of Python objects (dtype=object) unless every "
                f"element is a str; element {i} is a {type(value).__name__}"
            )
        encoded.append(value.encode("utf-8", errors="surrogatepass"))
    lengths = np.fromiter((len(b) for b in encoded), dtype="<i8", count=len(encoded))
    h.update(f"str|{list(arr.shape)}|".encode())
    h.update(lengths.tobytes())
    h.update(b"".join(encoded))


def _hash_array(h: Any, arr: NDArray[Any]) -> None:
    if arr.dtype == object:
        if arr.ndim != 1:
            raise ValueError(
                "cannot fingerprint an array of Python objects (dtype=object) other than a "
                f"1-D array of str; got shape {arr.shape}"
            )
        _hash_text_array(h, arr)
        return
    contiguous = np.ascontiguousarray(arr)
    h.update(f"{contiguous.dtype.str}|{list(contiguous.shape)}|".encode())
    try:
        h.update(memoryview(contiguous).cast("B"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        h.update(contiguous.tobytes())


def data_fingerprint(*arrays: Any) -> str:
    """sha256 of the arrays' bytes, shapes and dtypes (torch tensors are read via numpy).

    A 1-D object array of ``str`` (the ``x`` of a text dataset) is hashed as its texts'
    UTF-8 bytes, each preceded by its length, so that ``["ab", "c"]`` and ``["a", "bc"]``
    differ; numeric arrays hash as before.

    Examples
    --------
    >>> import numpy as np
    >>> a = data_fingerprint(np.zeros(3), np.arange(3))
    >>> a == data_fingerprint(np.zeros(3), np.arange(3)), a == data_fingerprint(np.ones(3))
    (True, False)
    >>> t = data_fingerprint(np.array(["ab", "c"], dtype=object))
    >>> t == data_fingerprint(np.array(["a", "bc"], dtype=object))
    False
    """
    h = hashlib.sha256()
    for arr in arrays:
        h.update(b"#array|")
        _hash_array(h, as_numpy(arr))
    return h.hexdigest()


def indices_fingerprint(indices: NDArray[np.integer[Any]]) -> str:
    """sha256 of a training index set (as int64, in the given order)."""
    return sha256_hex(np.ascontiguousarray(indices, dtype=np.int64).tobytes())


def as_numpy(arr: Any) -> NDArray[Any]:
    """A numpy view of an array or a (CPU) copy of a torch tensor."""
    if type(arr).__module__.startswith("torch"):
        return np.asarray(arr.detach().cpu().numpy())
    return np.asarray(arr)




def derive_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent 63-bit seeds derived from one seed with :class:`numpy.random.SeedSequence`.

    Examples
    --------
    >>> derive_seeds(0, 2) == derive_seeds(0, 2), derive_seeds(0, 2) == derive_seeds(1, 2)
    (True, False)
    """
    state = np.random.SeedSequence(check_seed(seed)).generate_state(n, dtype=np.uint64)
    return [int(s) & 0x7FFF_FFFF_FFFF_FFFF for s in state]


def spawn_seeds(seed: int, n: int) -> list[int]:
    """Seeds for ``n`` parallel jobs: 63-bit states of ``SeedSequence(seed).spawn(n)``."""
    children = np.random.SeedSequence(check_seed(seed)).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint64)[0]) & 0x7FFF_FFFF_FFFF_FFFF for c in children]


def check_indices(indices: ArrayLike, n_points: int, *, name: str = "indices") -> NDArray[np.int64]:
    """Validate a training index set: 1-D, integer, non-empty, within ``[0, n_points)``."""
    return _check_indices(name, as_numpy(indices), n_points)
