"""A content-addressed, integrity-checked cache on disk for trained models and signals.

Every entry lives under a key that is the sha256 of everything that determines it (trainer
configuration, data fingerprint, training indices, seed, privmeter version), so a changed
model or dataset can never silently reuse an old result (a pitfall of earlier tools, which
keyed cached signals by a name). Writes are atomic (a temporary file in the same folder, then
:func:`os.replace`), and a sha256 of each payload is stored beside it (``<file>.sha256``, in
``sha256sum`` format) and checked on every read: a corrupted or truncated entry is reported
with a :class:`CacheCorruptionWarning` naming the file, deleted, and recomputed by the caller.

A cache folder is data, and nothing read from it may execute code. Weights are stored with
safetensors (or, when safetensors is missing, with ``torch.save`` and read back with
``torch.load(weights_only=True)``); arrays as ``.npz`` read with ``allow_pickle=False``; fitted
scikit-learn estimators with ``skops.io``, whose loader only builds the types of an explicit
allow-list (skops' own defaults, :data:`TRUSTED_SKLEARN_TYPES` and the store's
``trusted_types``): an entry that needs any other type is refused with an
:class:`UnsafeCacheEntryWarning` and recomputed. Pickles (which run code when loaded) are
written and read only by a store opened with ``trust_pickle=True``; any other store never opens
a ``.pkl`` file.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import re
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from privmeter._io import atomic_write
from privmeter.training._hashing import canonical_json, library_version, sha256_hex

__all__ = [
    "STORE_FORMAT",
    "TRUSTED_SKLEARN_TYPES",
    "CacheCorruptionWarning",
    "Store",
    "UnsafeCacheEntryWarning",
    "make_key",
]

#: Version of the on-disk layout; part of every key.
STORE_FORMAT = 1

EntryKind = Literal["state_dict", "arrays", "object"]

_LOG = logging.getLogger("privmeter.training")
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "state_dict": (".safetensors", ".pt"),
    "arrays": (".npz",),
    "object": (".skops", ".pkl"),
}

_DISTANCES = (
    "BrayCurtis", "Canberra", "Chebyshev", "Dice", "Euclidean", "Hamming", "Haversine",
    "Jaccard", "Kulsinski", "Mahalanobis", "Manhattan", "Matching", "Minkowski",
    "RogersTanimoto", "RussellRao", "SEuclidean", "SokalMichener", "SokalSneath",
)
#: scikit-learn internals (no estimators, so not trusted by skops by default) that fitted
#: estimators hold: trees and tree predictors, MLP optimizers, neighbour trees and their
#: distance metrics (not ``PyFuncDistance``, which wraps a Python function), calibrators.
#: Each is rebuilt from its saved state; none can call an arbitrary function.
TRUSTED_SKLEARN_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    *(f"sklearn.metrics._dist_metrics.{d}Distance{b}" for d in _DISTANCES for b in (32, 64)),
)
_FOLDERS = {"state_dict": "state_dicts", "arrays": "arrays", "object": "objects"}


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its integrity check; it was deleted and will be recomputed."""


class UnsafeCacheEntryWarning(UserWarning):
    """A cache entry could only be loaded by running code (a pickle, or a skops file with
    types outside the allow-list); it was not loaded and will be recomputed."""


def make_key(kind: str, /, **parts: Any) -> str:
    """The cache key (sha256 hex) of an entry described by ``parts``.

    ``parts`` are turned into canonical JSON (sorted keys; arrays by their sha256; estimators
    by their parameters; callables by name and source), together with ``kind``, privmeter's
    version and the store format.

    Examples
    --------
    >>> k = make_key("signals", model="abc", temperature=2.0)
    >>> len(k), k == make_key("signals", temperature=2.0, model="abc")
    (64, True)
    """
    payload = {
        "kind": kind,
        "parts": parts,
        "privmeter": library_version(),
        "store_format": STORE_FORMAT,
    }
    return sha256_hex(canonical_json(payload))


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache keys are 64 lowercase hex characters (a sha256), got {key!r}")
    return key


class Store:
    """A folder of cached results, addressed by content keys (see :func:`make_key`).

    Parameters
    ----------
    root : str or path
        The cache folder (created if missing). It must be writable.
    trust_pickle : bool
        Allow storing and loading pickles, for objects that skops cannot store with trusted
        types only. Unpickling a file runs arbitrary code: only enable this for a folder
        nobody else can write to. Without it, ``.pkl`` files in the folder are never opened.
    trusted_types : sequence of str
        Further fully qualified type names (``"package.module.Class"``) that skops may build
        when loading objects, besides skops' defaults and :data:`TRUSTED_SKLEARN_TYPES`.

    Raises
    ------
    ValueError
        If ``root`` exists and is not a folder.
    PermissionError
        If the folder cannot be created or written to (the message names the folder).

    Examples
    --------
    >>> import tempfile, torch
    >>> store = Store(tempfile.mkdtemp())
    >>> key = make_key("model", seed=0)
    >>> store.get_state_dict(key) is None
    True
    >>> _ = store.put_state_dict(key, {"w": torch.ones(2)})
    >>> store.get_state_dict(key)
    {'w': tensor([1., 1.])}
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        trust_pickle: bool = False,
        trusted_types: Sequence[str] = (),
    ) -> None:
        self.root = Path(root).expanduser()
        if not isinstance(trust_pickle, bool):
            raise TypeError(f"trust_pickle must be True or False, got {trust_pickle!r}")
        self.trust_pickle = trust_pickle
        if isinstance(trusted_types, str) or not all(
            isinstance(t, str) for t in trusted_types
        ):
            raise TypeError(
                f"trusted_types must be a list of type names such as 'pkg.module.Class', got "
                f"{trusted_types!r}"
            )
        self.trusted_types: tuple[str, ...] = tuple(trusted_types)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(
                f"privmeter cache '{self.root}' exists and is not a folder; give a folder path"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".privmeter-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise PermissionError(
                f"privmeter cache folder '{self.root}' is not writable ({reason}); choose "
                "another folder or fix its permissions"
            ) from exc
        _remove_stale_temp_files(self.root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, trust_pickle={self.trust_pickle})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_store, (str(self.root), self.trust_pickle, self.trusted_types))

    # ------------------------------------------------------------------ paths
    def _folder(self, kind: EntryKind, key: str) -> Path:
        return self.root / _FOLDERS[kind] / key[:2]

    def path_of(self, kind: EntryKind, key: str) -> Path | None:
        """The payload file of a complete entry (with its checksum file), or None."""
        folder = self._folder(kind, _check_key(key))
        for suffix in _SUFFIXES[kind]:
            path = folder / f"{key}{suffix}"
            if path.exists() and _sidecar(path).exists():
                return path
        return None

    def contains(self, kind: EntryKind, key: str) -> bool:
        """True if a complete entry exists (its integrity is checked only when it is read)."""
        return self.path_of(kind, key) is not None

    # -------------------------------------------------------------- raw bytes
    def _write(self, path: Path, payload: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Payload first, checksum second: an entry is complete once its checksum exists, so a
        # write interrupted at any point leaves either nothing or an incomplete entry.
        atomic_write(path, payload)
        atomic_write(_sidecar(path), f"{sha256_hex(payload)}  {path.name}\n".encode())
        return path

    def _read(self, kind: EntryKind, key: str) -> tuple[Path, bytes] | None:
        folder = self._folder(kind, _check_key(key))
        for suffix in _SUFFIXES[kind]:
            path = folder / f"{key}{suffix}"
            side = _sidecar(path)
            has_payload, has_side = path.exists(), side.exists()
            if not has_payload and not has_side:
                continue
            if not (has_payload and has_side):
                # An interrupted write (or a deleted payload): nothing trustworthy to read.
                _LOG.debug("removing incomplete cache entry %s", path)
                _unlink(path, side)
                continue
            try:
                expected = side.read_text(encoding="ascii").split()[0].lower()
                payload = path.read_bytes()
            except (OSError, UnicodeDecodeError, IndexError):
                self._corrupted(path, "unreadable payload or checksum file")
                continue
            actual = sha256_hex(payload)
            if actual != expected:
                self._corrupted(
                    path,
                    f"sha256 mismatch: expected {expected[:16]}..., got {actual[:16]}... "
                    f"({len(payload)} bytes)",
                )
                continue
            return path, payload
        return None

    def _corrupted(self, path: Path, reason: str) -> None:
        warnings.warn(
            f"privmeter cache entry '{path}' is corrupted ({reason}); deleting it and "
            "recomputing",
            CacheCorruptionWarning,
            stacklevel=4,
        )
        _unlink(path, _sidecar(path))

    # ------------------------------------------------------------ state dicts
    def put_state_dict(self, key: str, state_dict: Mapping[str, Any]) -> Path:
        """Store model weights (safetensors when available, else ``torch.save``).

        Returns the path of the written file.
        """
        import torch

        folder = self._folder("state_dict", _check_key(key))
        tensors: dict[str, torch.Tensor] = {}
        seen: set[tuple[int, Any]] = set()
        all_tensors = True
        for name, value in state_dict.items():
            if not isinstance(value, torch.Tensor):
                all_tensors = False
                break
            t = value.detach().to("cpu").contiguous()
            ident = (t.untyped_storage().data_ptr(), t.storage_offset())
            if ident in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size():
                t = t.clone()  # safetensors refuses shared or partial storage
            seen.add(ident)
            tensors[name] = t
        try:
            from safetensors.torch import save as st_save
        except ImportError:
            all_tensors = False
        if all_tensors:
            meta = {"privmeter.keys": json.dumps(list(tensors))}
            payload = st_save(tensors, metadata=meta)
            return self._write(folder / f"{key}.safetensors", payload)
        buf = io.BytesIO()
        torch.save(dict(state_dict), buf)
        return self._write(folder / f"{key}.pt", buf.getvalue())

    def get_state_dict(self, key: str) -> dict[str, Any] | None:
        """Load model weights, or None when absent (or corrupted: then warned and deleted)."""
        import torch

        found = self._read("state_dict", key)
        if found is None:
            return None
        path, payload = found
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load as st_load

                loaded: dict[str, Any] = st_load(payload)
                order = _safetensors_metadata(payload).get("privmeter.keys")
                if order is not None:
                    loaded = {k: loaded[k] for k in json.loads(order)}
                return loaded
            result = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
            return dict(result)
        except ImportError:
            raise
        except Exception as exc:
            self._corrupted(path, f"cannot be decoded: {exc}")
            return None

    # ----------------------------------------------------------------- arrays
    def put_arrays(self, key: str, arrays: Mapping[str, NDArray[Any]]) -> Path:
        """Store named numpy arrays (e.g. signals) as ``.npz`` (no pickled objects)."""
        folder = self._folder("arrays", _check_key(key))
        clean: dict[str, NDArray[Any]] = {}
        for name, arr in arrays.items():
            a = np.asarray(arr)
            if a.dtype == object:
                raise ValueError(f"array {name!r} has dtype=object, which would need pickle")
            clean[name] = a
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **clean)  # type: ignore[arg-type]
        return self._write(folder / f"{key}.npz", buf.getvalue())

    def get_arrays(self, key: str) -> dict[str, NDArray[Any]] | None:
        """Load named arrays, or None when absent (or corrupted: then warned and deleted)."""
        found = self._read("arrays", key)
        if found is None:
            return None
        path, payload = found
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception as exc:
            self._corrupted(path, f"cannot be decoded: {exc}")
            return None

    # ---------------------------------------------------------------- objects
    def _allowed_types(self) -> frozenset[str]:
        return frozenset(TRUSTED_SKLEARN_TYPES) | frozenset(self.trusted_types)

    def put_object(self, key: str, obj: Any) -> Path | None:
        """Store an object (a fitted estimator) with skops, or as a pickle if trusted.

        skops is used when every type it would have to build on loading is in the allow-list
        (skops' defaults, :data:`TRUSTED_SKLEARN_TYPES`, ``trusted_types``). Otherwise the
        object is pickled when the store has ``trust_pickle=True``, and not cached at all
        (with an :class:`UnsafeCacheEntryWarning` naming the types) when it has not: it is
        then recomputed on the next run.

        Returns
        -------
        Path or None
            The written file, or None when the object was not cached.
        """
        folder = self._folder("object", _check_key(key))
        problem = ""
        try:
            import skops.io as sio
        except ImportError:
            problem = "skops is not installed (pip install 'privmeter[sklearn]')"
        else:
            payload = sio.dumps(obj)
            unknown = sorted(set(sio.get_untrusted_types(data=payload)) - self._allowed_types())
            if not unknown:
                return self._write(folder / f"{key}.skops", payload)
            problem = f"it holds types outside the skops allow-list: {', '.join(unknown)}"
        if self.trust_pickle:
            return self._write(folder / f"{key}.pkl", pickle.dumps(obj, protocol=5))
        warnings.warn(
            f"not caching a {type(obj).__name__} in '{self.root}': {problem}. Add the types to "
            "Store(..., trusted_types=[...]) if you trust them, or use trust_pickle=True "
            "(--trust-pickles) for a folder only you can write to",
            UnsafeCacheEntryWarning,
            stacklevel=2,
        )
        return None

    def get_object(self, key: str) -> Any | None:
        """Load an object, or None when absent, corrupted or unsafe (then warned).

        A ``.skops`` entry is loaded only if every type it builds is in the allow-list; a
        ``.pkl`` entry only by a store with ``trust_pickle=True``. Any other entry is refused
        with an :class:`UnsafeCacheEntryWarning`, not opened as code, and recomputed by the
        caller (the new entry replaces it).
        """
        folder = self._folder("object", _check_key(key))
        pkl = folder / f"{key}.pkl"
        if not self.trust_pickle and not (folder / f"{key}.skops").exists() and pkl.exists():
            warnings.warn(
                f"refusing to unpickle cache entry '{pkl}': unpickling runs arbitrary code. "
                "Recomputing it instead; pass trust_pickle=True (--trust-pickles) only if "
                "nobody else can write to this folder",
                UnsafeCacheEntryWarning,
                stacklevel=2,
            )
            return None
        found = self._read("object", key)
        if found is None:
            return None
        path, payload = found
        if path.suffix == ".pkl":
            if not self.trust_pickle:  # pragma: no cover - excluded above
                return None
            try:
                return pickle.loads(payload)  # opt-in via trust_pickle
            except Exception as exc:
                self._corrupted(path, f"cannot be unpickled: {exc}")
                return None
        try:
            import skops.io as sio
        except ImportError:
            warnings.warn(
                f"cannot read cache entry '{path}': skops is not installed (pip install "
                "'privmeter[sklearn]'); recomputing it",
                UnsafeCacheEntryWarning,
                stacklevel=2,
            )
            return None
        try:
            needed = sio.get_untrusted_types(data=payload)
        except Exception as exc:
            self._corrupted(path, f"not a readable skops file: {exc}")
            return None
        unknown = sorted(set(needed) - self._allowed_types())
        if unknown:
            warnings.warn(
                f"refusing to load cache entry '{path}': it would build types outside the "
                f"allow-list ({', '.join(unknown)}); someone may have tampered with the cache. "
                "Recomputing it instead",
                UnsafeCacheEntryWarning,
                stacklevel=2,
            )
            return None
        try:
            return sio.loads(payload, trusted=list(needed))
        except Exception as exc:
            self._corrupted(path, f"cannot be decoded: {exc}")
            return None


def _rebuild_store(root: str, trust_pickle: bool, trusted_types: tuple[str, ...] = ()) -> Store:
    return Store(root, trust_pickle=trust_pickle, trusted_types=trusted_types)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


_TMP_RE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]+\.tmp$")
#: A dead writer's temporary file is removed once unmodified for this many seconds (a grace
#: period for writers on other machines sharing the folder, whose pids mean nothing here).
_STALE_TMP_S = 10.0
#: Temporary files and write probes untouched for this long are removed whoever wrote them.
_ABANDONED_TMP_S = 86400.0


def _remove_stale_temp_files(root: Path, *, now: float | None = None) -> list[Path]:
    """Delete temporary files that interrupted writes (e.g. ``kill -9``) left in the cache.

    A ``.<name>.<pid>.<token>.tmp`` file (written by :func:`privmeter._io.atomic_write`) is
    removed when process ``pid`` no longer runs on this machine and the file is older than
    ``_STALE_TMP_S``; a live writer's file (ours, or a concurrent run's) is left alone. Any
    temporary file or ``.privmeter-probe-*`` older than ``_ABANDONED_TMP_S`` is removed too.
    Errors (a file removed meanwhile, permissions) are ignored: this is housekeeping.
    """
    from privmeter.training.executors import _pid_alive

    now = time.time() if now is None else now
    removed: list[Path] = []
    for folder, _, files in os.walk(root):
        for name in files:
            match = _TMP_RE.match(name)
            if match is None and not name.startswith(".privmeter-probe-"):
                continue
            path = Path(folder) / name
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            dead = match is not None and not _pid_alive(int(match.group(1)))
            if age > _ABANDONED_TMP_S or (dead and age > _STALE_TMP_S):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    if removed:
        _LOG.info("removed %d stale temporary file(s) from %s", len(removed), root)
    return removed


def _safetensors_metadata(payload: bytes) -> dict[str, str]:
    n = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}
