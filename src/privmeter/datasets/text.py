"""Text data: the :class:`TextDataset` type, loaders for ``.txt``, ``.jsonl`` and CSV text
columns, and user-given member / non-member splits.

A :class:`TextDataset` is a list of texts (one training record each: a document, a ticket,
a note) with unique ids and, optionally, class labels. Without labels it is the data of a
causal language model (``task == "language_model"``, ``y`` all zeros); with labels it is a
text classification dataset (``task == "classification"``, ``y`` class codes as in
:class:`~privmeter.datasets.Dataset`).

The loaders never drop a record silently: blank lines of a line-per-record ``.txt`` file are
skipped with a warning that counts them (they are separators, not records), and an empty
record in a JSONL or CSV file is an error naming its line. Every error names the file and,
where it applies, the line (and, for bytes that are not UTF-8, the byte offset).

Examples
--------
>>> from privmeter.datasets import TextDataset
>>> ds = TextDataset(["my card was charged twice", "the rash is gone"], ids=["t1", "t2"])
>>> ds.task, ds.n_classes, ds.ids, ds.y.tolist()
('language_model', None, ('t1', 't2'), [0, 0])
>>> ds.x[1]
'the rash is gone'
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._names import _did_you_mean
from privmeter._validation import subset_indices
from privmeter.datasets.dataset import PathLike, _as_class_codes, _encode_labels, _listing
from privmeter.datasets.files import _existing_file

__all__ = [
    "TEXT_SOURCES",
    "TextDataset",
    "load_csv_text",
    "load_jsonl",
    "load_member_split",
    "load_text",
    "load_text_file",
    "member_split",
]

#: The ``source`` values of :func:`load_text` (the config's ``data.source`` for text).
TEXT_SOURCES = ("text", "jsonl", "csv_text")

TextTask = Literal["language_model", "classification"]

_SHOWN = 5  # rows / texts shown in an error message


def _rows_text(rows: Sequence[int], what: str = "rows") -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOWN])
    more = f" ... ({len(rows)} in all)" if len(rows) > _SHOWN else ""
    return f"{what} {shown}{more}"


def _preview(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


# --------------------------------------------------------------------------------------------
# TextDataset
# --------------------------------------------------------------------------------------------


class TextDataset:
    """Texts (one record each), unique ids and optional class labels, validated once.

    Parameters
    ----------
    texts : sequence of str
        The records. Every element must be a ``str`` (not bytes, not None) holding at least
        one non-whitespace character; texts are kept verbatim (no stripping).
    labels : sequence of int or of str, optional
        Class labels, one per text: the dataset is then a classification dataset. Integer
        labels are class codes ``0..C-1`` (as for :class:`~privmeter.datasets.Dataset`);
        text labels are mapped to codes (in the order of ``class_names`` when given, else
        numeric order when all are numbers, else sorted text). Without labels the dataset is
        a language-model dataset and ``y`` is all zeros.
    ids : sequence of str or int, optional
        One unique id per text (ints are converted to ``str``). Default: the row numbers
        ``"0"``, ``"1"``, ... (the loaders use the records' line numbers).
    name : str
        A short name for reports. Default ``"text"``.
    class_names : sequence of str, optional
        One name per class (classification only).

    Attributes
    ----------
    x : ndarray of object, shape (n,)
        The texts, a read-only 1-D object array of ``str``.
    y : ndarray of int64, shape (n,)
        Class codes, or zeros for a language-model dataset (read-only).
    task : {"language_model", "classification"}
    n_classes : int or None
        ``None`` for a language-model dataset.
    ids : tuple of str
    name : str
    class_names : tuple of str or None
    feature_names, image_shape : None
        Always ``None`` (present so that code written for ``Dataset`` can ask).

    Raises
    ------
    ValueError
        If a text is not a ``str`` (naming the row and the type), empty or whitespace-only
        texts (naming the rows and counting them), text that cannot be encoded as UTF-8 (a
        lone surrogate), labels or ids of the wrong length, duplicate ids (naming them),
        labels out of range or ``class_names`` that do not match.

    Examples
    --------
    >>> from privmeter.datasets import TextDataset
    >>> ds = TextDataset(["refund please", "chest pain", "card lost"],
    ...                  labels=["bank", "clinical", "bank"])
    >>> ds.task, ds.n_classes, ds.class_names, ds.y.tolist()
    ('classification', 2, ('bank', 'clinical'), [0, 1, 0])
    >>> sub = ds.subset([2, 0])
    >>> list(sub.x), sub.ids
    (['card lost', 'refund please'], ('2', '0'))
    >>> TextDataset(["ok", "  "])
    Traceback (most recent call last):
    ...
    ValueError: 1 text is empty or whitespace-only: row 1
    """

    __slots__ = ("_class_names", "_ids", "_n_classes", "_name", "_task", "_x", "_y")
    _x: NDArray[Any]
    _y: NDArray[np.int64]
    _task: TextTask
    _n_classes: int | None
    _ids: tuple[str, ...]
    _name: str
    _class_names: tuple[str, ...] | None

    def __init__(
        self,
        texts: Sequence[str] | NDArray[Any],
        *,
        labels: Sequence[int] | Sequence[str] | NDArray[Any] | None = None,
        ids: Sequence[str] | Sequence[int] | None = None,
        name: str = "text",
        class_names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(texts, (str, bytes)):
            raise ValueError("texts must be a sequence of strings, not one string")
        if isinstance(texts, np.ndarray) and texts.ndim != 1:
            raise ValueError(f"texts must be one-dimensional, got an array of shape {texts.shape}")
        try:
            values = list(texts)
        except TypeError:
            raise ValueError(
                f"texts must be a sequence of strings, got {type(texts).__name__}"
            ) from None
        n = len(values)
        x = np.empty(n, dtype=object)
        for i, t in enumerate(values):
            if not isinstance(t, str):
                raise ValueError(
                    f"texts must be str; row {i} is a {type(t).__name__} ({_preview(repr(t))})"
                )
            x[i] = str(t)  # a str subclass becomes a plain str
        blank = [i for i, t in enumerate(values) if not t.strip()]
        if blank:
            count = f"{len(blank)} text{'s are' if len(blank) > 1 else ' is'}"
            raise ValueError(
                f"{count} empty or whitespace-only: "
                f"{_rows_text(blank, 'row' if len(blank) == 1 else 'rows')}"
            )
        for i, t in enumerate(values):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(
                    f"row {i} is not valid Unicode text (a lone surrogate at character "
                    f"{err.start}); it cannot be encoded as UTF-8"
                ) from None

        if ids is None:
            id_tuple = tuple(str(i) for i in range(n))
        else:
            if isinstance(ids, (str, bytes)):
                raise ValueError("ids must be a sequence of ids, not one string")
            id_list = list(ids)
            if len(id_list) != n:
                raise ValueError(f"got {len(id_list)} ids for {n} texts")
            for i, v in enumerate(id_list):
                if isinstance(v, bool) or not isinstance(v, (str, int, np.integer)):
                    raise ValueError(f"ids must be str or int; id {i} is {v!r}")
            id_tuple = tuple(str(v) for v in id_list)
            if len(set(id_tuple)) != n:
                seen: set[str] = set()
                dup: list[str] = []
                for v in id_tuple:
                    if v in seen and v not in dup:
                        dup.append(v)
                    seen.add(v)
                n_dup = n - len(set(id_tuple))
                raise ValueError(
                    f"ids must be unique; {n_dup} repeat an earlier id: "
                    f"{', '.join(repr(d) for d in dup[:_SHOWN])}"
                    f"{' ...' if len(dup) > _SHOWN else ''}"
                )

        names: tuple[str, ...] | None = None
        if class_names is not None:
            if labels is None:
                raise ValueError("class_names are for a labelled (classification) dataset")
            if isinstance(class_names, str):
                raise ValueError("class_names must be a sequence of names, not one string")
            names = tuple(str(s) for s in class_names)
            if len(set(names)) != len(names):
                raise ValueError(f"class_names must be distinct, got {names}")
        task: TextTask
        n_classes: int | None
        if labels is None:
            task, n_classes = "language_model", None
            y = np.zeros(n, dtype=np.int64)
        else:
            task = "classification"
            y, names = _text_labels(labels, n, names)
            n_classes = len(names) if names is not None else (int(y.max()) + 1 if n else 0)
        x.setflags(write=False)
        y.setflags(write=False)
        for attr, value in (
            ("_x", x), ("_y", y), ("_task", task), ("_n_classes", n_classes),
            ("_ids", id_tuple), ("_class_names", names), ("_name", str(name)),
        ):
            object.__setattr__(self, attr, value)

    # ------------------------------------------------------------------ attributes
    @property
    def x(self) -> NDArray[Any]:
        """The texts: a read-only 1-D object array of ``str``."""
        return self._x

    @property
    def y(self) -> NDArray[np.int64]:
        """Class codes (classification) or zeros (language model), int64, read-only."""
        return self._y

    @property
    def task(self) -> TextTask:
        """``"language_model"`` without labels, ``"classification"`` with labels."""
        return self._task

    @property
    def n_classes(self) -> int | None:
        """Number of classes, ``None`` for a language-model dataset."""
        return self._n_classes

    @property
    def ids(self) -> tuple[str, ...]:
        """One unique id per text."""
        return self._ids

    @property
    def name(self) -> str:
        """Short name for reports."""
        return self._name

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """One name per class, when known."""
        return self._class_names

    @property
    def feature_names(self) -> None:
        """Always ``None``: texts have no named features."""
        return None

    @property
    def image_shape(self) -> None:
        """Always ``None``: texts are not images."""
        return None

    @property
    def texts(self) -> list[str]:
        """The texts as a new list of ``str``."""
        return [str(t) for t in self._x.tolist()]

    def __setattr__(self, key: str, value: Any) -> None:
        if hasattr(self, "_name"):  # set once in __init__
            raise AttributeError(f"TextDataset is immutable; cannot set {key!r}")
        object.__setattr__(self, key, value)

    def __len__(self) -> int:
        return int(self._x.shape[0])

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.task == "classification" else ""
        return f"TextDataset(name={self.name!r}, n={len(self)}, task={self.task!r}{classes})"

    # --------------------------------------------------------------------- methods
    def fingerprint(self) -> str:
        """Hex sha256 of the content: the texts' UTF-8 bytes and ``y``.

        Equal to :func:`privmeter.training._hashing.data_fingerprint` of ``(x, y)``, so the
        trainers' cache keys and this fingerprint agree. Names and ids are not part of it.

        Examples
        --------
        >>> from privmeter.datasets import TextDataset
        >>> a = TextDataset(["one", "two"], name="a")
        >>> b = TextDataset(["one", "two"], ids=["x", "y"], name="b")
        >>> a.fingerprint() == b.fingerprint(), len(a.fingerprint())
        (True, 64)
        >>> a.fingerprint() == TextDataset(["two", "one"]).fingerprint()
        False
        """
        from privmeter.training._hashing import data_fingerprint

        return data_fingerprint(self._x, self._y)

    def subset(self, indices: ArrayLike) -> TextDataset:
        """The texts at ``indices`` (integer indices or a boolean mask), metadata kept.

        Parameters
        ----------
        indices : array_like of int or bool
            Row indices in ``[0, len(self))`` or a boolean mask of length ``len(self)``.
            Repeats are allowed (a repeated record); the ids of the second, third... copy
            of a row get a ``"#2"``, ``"#3"``... suffix so that ids stay unique.

        Raises
        ------
        IndexError
            If an index is out of range (negative indices are refused too).
        ValueError
            If the mask has the wrong length or the indices are not integers.

        Examples
        --------
        >>> from privmeter.datasets import TextDataset
        >>> TextDataset(["a", "b"], ids=["u", "v"]).subset([1, 1, 0]).ids
        ('v', 'v#2', 'u')
        """
        idx = subset_indices(indices, len(self), what="texts")
        counts: dict[int, int] = {}
        ids: list[str] = []
        for i in idx.tolist():
            k = counts.get(i, 0) + 1
            counts[i] = k
            ids.append(self._ids[i] if k == 1 else f"{self._ids[i]}#{k}")
        return self._derived(self._x[idx], self._y[idx], tuple(ids), self._name)

    def _derived(
        self, x: NDArray[Any], y: NDArray[np.int64], ids: tuple[str, ...], name: str
    ) -> TextDataset:
        """A dataset of already-validated rows (no re-validation of the texts)."""
        out = object.__new__(TextDataset)
        x = np.array(x, dtype=object)
        y = np.array(y, dtype=np.int64)
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")  # pragma: no cover - callers guarantee it
        x.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(out, "_x", x)
        object.__setattr__(out, "_y", y)
        object.__setattr__(out, "_task", self._task)
        object.__setattr__(out, "_n_classes", self._n_classes)
        object.__setattr__(out, "_ids", ids)
        object.__setattr__(out, "_class_names", self._class_names)
        object.__setattr__(out, "_name", name)
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: name, size, task, classes, lengths in characters.

        Examples
        --------
        >>> from privmeter.datasets import TextDataset
        >>> s = TextDataset(["abc", "abcdefg", "a"]).summary()
        >>> s["n"], s["mean_chars"], s["median_chars"], s["max_chars"], s["n_classes"]
        (3, 3.6666666666666665, 3.0, 7, None)
        """
        lengths = np.fromiter((len(t) for t in self._x.tolist()), dtype=np.int64, count=len(self))
        n = len(self)
        return {
            "name": self.name,
            "n": n,
            "task": self.task,
            "n_classes": self.n_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "mean_chars": float(lengths.mean()) if n else 0.0,
            "median_chars": float(np.median(lengths)) if n else 0.0,
            "min_chars": int(lengths.min()) if n else 0,
            "max_chars": int(lengths.max()) if n else 0,
            "total_chars": int(lengths.sum()),
            "fingerprint": self.fingerprint(),
        }


def _text_labels(
    labels: Any, n: int, names: tuple[str, ...] | None
) -> tuple[NDArray[np.int64], tuple[str, ...] | None]:
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be a sequence of labels, not one string")
    values = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if len(values) != n:
        raise ValueError(f"got {len(values)} labels for {n} texts")
    if values and all(isinstance(v, str) for v in values):
        if names is None:
            codes, found = _encode_labels(values)
            return np.ascontiguousarray(codes), found
        code_of = {c: i for i, c in enumerate(names)}
        unknown = [i for i, v in enumerate(values) if v not in code_of]
        if unknown:
            raise ValueError(
                f"label {values[unknown[0]]!r} (row {unknown[0]}) is not one of the class_names "
                f"{names}{_did_you_mean(values[unknown[0]], names)}"
            )
        return np.array([code_of[v] for v in values], dtype=np.int64), names
    if any(isinstance(v, str) for v in values):
        i = next(i for i, v in enumerate(values) if not isinstance(v, str))
        raise ValueError(
            f"labels mix text and other values; row {i} is {values[i]!r}: give all labels as "
            "str or all as integer class codes"
        )
    y = _as_class_codes(np.asarray(values)) if values else np.zeros(0, dtype=np.int64)
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise ValueError(f"class codes must be >= 0; row {i} has label {int(y[i])}")
    if names is not None and y.size and y.max() >= len(names):
        i = int(np.argmax(y))
        raise ValueError(
            f"row {i} has class code {int(y[i])} but there are {len(names)} class_names"
        )
    return np.ascontiguousarray(y, dtype=np.int64), names


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def _read_utf8(p: Path) -> str:
    """The file's text (UTF-8, a leading byte-order mark dropped); bad bytes name the line."""
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        line_start = data.rfind(b"\n", 0, err.start) + 1
        bad = data[err.start : err.start + 4]
        raise ValueError(
            f"{p}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x} at byte offset "
            f"{err.start} of the file, byte {err.start - line_start + 1} of the line: "
            f"{err.reason}; the bytes there are {bad!r}). Re-save the file as UTF-8."
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n``, ``\\r\\n`` or ``\\r`` only (not on other Unicode breaks)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return lines


def _build(
    p: Path,
    texts: list[str],
    ids: list[str],
    labels: list[str] | None,
    name: str | None,
) -> TextDataset:
    if not texts:
        raise ValueError(f"{p}: the file holds no records")
    try:
        return TextDataset(texts, labels=labels, ids=ids, name=p.stem if name is None else name)
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from None


def load_text_file(
    path: PathLike,
    *,
    mode: Literal["line", "blank_line"] = "line",
    name: str | None = None,
) -> TextDataset:
    """Read a UTF-8 ``.txt`` file: one record per line, or records separated by blank lines.

    Parameters
    ----------
    path : str or path-like
        The text file (UTF-8; a leading byte-order mark is dropped; ``\\n``, ``\\r\\n`` and
        ``\\r`` line ends are accepted).
    mode : {"line", "blank_line"}
        ``"line"``: every line is a record; blank (empty or whitespace-only) lines are
        skipped with a :class:`UserWarning` that counts them and names the first ones.
        ``"blank_line"``: records are runs of non-blank lines (joined with ``"\\n"``)
        separated by one or more blank lines, as in paragraphs.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    TextDataset
        A language-model dataset; the ids are the (1-based) line numbers where the records
        start, so that an id points back into the file. Lines are kept verbatim (no
        stripping beyond the line end).

    Raises
    ------
    FileNotFoundError
        If the file does not exist (naming it).
    ValueError
        Bytes that are not UTF-8 (naming the line and the byte offset), a file without any
        record, an unknown ``mode``.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_text_file
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> _ = open(path, "w").write("first note\\nsecond line\\n\\nthird note\\n")
    >>> ds = load_text_file(path, mode="blank_line")
    >>> ds.texts, ds.ids
    (['first note\\nsecond line', 'third note'], ('1', '4'))
    """
    if mode not in ("line", "blank_line"):
        raise ValueError(
            f"mode must be 'line' or 'blank_line', got {mode!r}"
            f"{_did_you_mean(str(mode), ['line', 'blank_line'])}"
        )
    p = _existing_file(path, "text file")
    lines = _lines(_read_utf8(p))
    texts: list[str] = []
    ids: list[str] = []
    if mode == "line":
        skipped: list[int] = []
        for i, line in enumerate(lines, start=1):
            if line.strip():
                texts.append(line)
                ids.append(str(i))
            else:
                skipped.append(i)
        if skipped and texts:
            warnings.warn(
                f"{p}: skipped {len(skipped)} blank line{'s' if len(skipped) > 1 else ''} "
                f"({_rows_text(skipped, 'line' if len(skipped) == 1 else 'lines')}); every "
                f"other line is one record ({len(texts)} records). Use mode='blank_line' for "
                "records separated by blank lines.",
                UserWarning,
                stacklevel=2,
            )
    else:
        current: list[str] = []
        start = 0
        for i, line in enumerate([*lines, ""], start=1):
            if line.strip():
                if not current:
                    start = i
                current.append(line)
            elif current:
                texts.append("\n".join(current))
                ids.append(str(start))
                current = []
    return _build(p, texts, ids, None, name)


def _label_text(value: Any, where: str, field: str) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where}: empty label in {field!r}")
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise ValueError(f"{where}: label {field!r} must be a string or a number, got {value!r}")


def load_jsonl(
    path: PathLike,
    *,
    field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    name: str | None = None,
) -> TextDataset:
    """Read a JSON Lines file: one JSON object per line, the text in ``field``.

    Parameters
    ----------
    path : str or path-like
        The ``.jsonl`` file (UTF-8). Blank lines are not records and are ignored.
    field : str
        Key of the text in every object. Default ``"text"``.
    id_field : str, optional
        Key of a unique id (string or integer). Default: the line numbers.
    label_field : str, optional
        Key of a class label (string or number): the dataset is then a classification
        dataset with the labels' distinct values as ``class_names``.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    TextDataset

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file and the line: bytes that are not UTF-8 (with the byte offset), a
        line that is not valid JSON or not an object, a missing key (listing the keys the
        object has), a text that is not a string, an empty or whitespace-only text, ids
        that repeat, a file without records.

    Examples
    --------
    >>> import tempfile, os, json
    >>> from privmeter.datasets import load_jsonl
    >>> path = os.path.join(tempfile.mkdtemp(), "tickets.jsonl")
    >>> rows = [{"id": "a7", "body": "refund my order", "team": "billing"},
    ...         {"id": "b2", "body": "app crashes on login", "team": "tech"}]
    >>> _ = open(path, "w").write("\\n".join(json.dumps(r) for r in rows) + "\\n")
    >>> ds = load_jsonl(path, field="body", id_field="id", label_field="team")
    >>> ds.texts, ds.ids, ds.class_names
    (['refund my order', 'app crashes on login'], ('a7', 'b2'), ('billing', 'tech'))
    """
    for key_name, key in (("field", field), ("id_field", id_field), ("label_field", label_field)):
        if key is not None and not isinstance(key, str):
            raise ValueError(f"{key_name} must be a string, got {key!r}")
    p = _existing_file(path, "JSONL file")
    texts: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    for i, line in enumerate(_lines(_read_utf8(p)), start=1):
        if not line.strip():
            continue
        where = f"{p}, line {i}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{where}: not valid JSON ({err.msg} at column {err.colno}): {_preview(line)}"
            ) from None
        if not isinstance(obj, dict):
            raise ValueError(
                f"{where}: expected a JSON object ({{...}}), got a {type(obj).__name__}"
            )
        keys = [str(k) for k in obj]
        for key in (field, id_field, label_field):
            if key is not None and key not in obj:
                raise ValueError(
                    f"{where}: no key {key!r}{_did_you_mean(key, keys)} Keys on this line: "
                    f"{_listing(keys) or '(none)'}"
                )
        text = obj[field]
        if not isinstance(text, str):
            raise ValueError(
                f"{where}: {field!r} must be a string, got {type(text).__name__} "
                f"{_preview(repr(text))}"
            )
        if not text.strip():
            raise ValueError(f"{where}: the text in {field!r} is empty or whitespace-only")
        texts.append(text)
        if id_field is not None:
            value = obj[id_field]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ValueError(
                    f"{where}: id {id_field!r} must be a string or an integer, got {value!r}"
                )
            ids.append(str(value))
        else:
            ids.append(str(i))
        if label_field is not None:
            labels.append(_label_text(obj[label_field], where, label_field))
    return _build(p, texts, ids, labels if label_field is not None else None, name)


def load_csv_text(
    path: PathLike,
    *,
    column: str,
    id_column: str | None = None,
    label_column: str | None = None,
    delimiter: str = ",",
    name: str | None = None,
) -> TextDataset:
    """Read one text column of a CSV file with a header row (quoted fields may span lines).

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8; a leading byte-order mark is dropped).
    column : str
        Header name of the text column.
    id_column : str, optional
        Header name of a unique id column. Default: the line numbers where records start.
    label_column : str, optional
        Header name of a class label column (a classification dataset).
    delimiter : str
        Field separator (``"\\t"`` for TSV).
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    TextDataset

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file and, where it applies, the line: bytes that are not UTF-8, an empty
        file, a missing column (listing the columns), a row with the wrong number of fields,
        an empty text or label, repeated ids, malformed CSV.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_csv_text
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.csv")
    >>> _ = open(path, "w").write('id,note\\n7,"Patient reports\\nmild fever"\\n9,No change\\n')
    >>> ds = load_csv_text(path, column="note", id_column="id")
    >>> ds.texts, ds.ids
    (['Patient reports\\nmild fever', 'No change'], ('7', '9'))
    """
    for key_name, key in (
        ("column", column), ("id_column", id_column), ("label_column", label_column)
    ):
        if key is not None and not isinstance(key, str):
            raise ValueError(f"{key_name} must be a string, got {key!r}")
    p = _existing_file(path, "CSV file")
    reader = csv.reader(io.StringIO(_read_utf8(p), newline=""), delimiter=delimiter)
    texts: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    try:
        header: list[str] | None = None
        for row in reader:
            if row and any(cell.strip() for cell in row):
                header = row
                break
        if header is None:
            raise ValueError(f"{p}: the file is empty (expected a header row)")

        def index(col: str, what: str) -> int:
            matches = [j for j, h in enumerate(header) if h == col]
            if not matches:
                raise ValueError(
                    f"{p}: no {what} {col!r}{_did_you_mean(col, header)} Columns: "
                    f"{_listing(header)}"
                )
            if len(matches) > 1:
                raise ValueError(f"{p}: the header has {len(matches)} columns named {col!r}")
            return matches[0]

        text_j = index(column, "text column")
        id_j = None if id_column is None else index(id_column, "id column")
        label_j = None if label_column is None else index(label_column, "label column")
        n_fields = len(header)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row:
                continue  # a blank line between rows is not a record
            if len(row) != n_fields:
                raise ValueError(
                    f"{p}, line {line}: {len(row)} fields, but the header has {n_fields}"
                )
            text = row[text_j]
            if not text.strip():
                raise ValueError(f"{p}, line {line}: empty text in column {column!r}")
            texts.append(text)
            if id_j is not None:
                if not row[id_j].strip():
                    raise ValueError(f"{p}, line {line}: empty id in column {id_column!r}")
                ids.append(row[id_j])
            else:
                ids.append(str(line))
            if label_j is not None:
                labels.append(
                    _label_text(row[label_j].strip(), f"{p}, line {line}", str(label_column))
                )
    except csv.Error as err:
        raise ValueError(f"{p}, line {reader.line_num}: malformed CSV ({err})") from None
    return _build(p, texts, ids, labels if label_column is not None else None, name)


def load_text(
    source: str,
    path: PathLike,
    *,
    field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    mode: Literal["line", "blank_line"] = "line",
    name: str | None = None,
) -> TextDataset:
    """Read text records with the loader named by ``source`` (the config's ``data`` block).

    Parameters
    ----------
    source : {"text", "jsonl", "csv_text"}
        ``"text"``: :func:`load_text_file` (``mode`` applies, ``field`` must be None);
        ``"jsonl"``: :func:`load_jsonl` (``field`` default ``"text"``);
        ``"csv_text"``: :func:`load_csv_text` (``field`` is the text column, required).
    path : str or path-like
        The file.
    field, id_field, label_field : str, optional
        The text, id and label key (JSONL) or column (CSV).
    mode : {"line", "blank_line"}
        Record separation of a ``.txt`` file.
    name : str, optional
        Dataset name (default: the file name without extension).

    Raises
    ------
    ValueError
        For an unknown ``source`` (suggesting the closest), an option that the source does
        not take, and every error of the loader.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_text
    >>> path = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(path, "w").write('{"text": "hello there"}\\n')
    >>> load_text("jsonl", path).texts
    ['hello there']
    >>> load_text("json", path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown text source 'json'; did you mean 'jsonl'? Text sources: ...
    """
    if source not in TEXT_SOURCES:
        raise ValueError(
            f"unknown text source {source!r}{_did_you_mean(str(source), TEXT_SOURCES)} "
            f"Text sources: {_listing(TEXT_SOURCES)}"
        )
    if source == "text":
        given = [k for k, v in (("field", field), ("id_field", id_field),
                                ("label_field", label_field)) if v is not None]
        if given:
            raise ValueError(
                f"source 'text' (a .txt file) has no {given[0]}: records are lines or "
                "paragraphs, ids are line numbers; use source 'jsonl' or 'csv_text' for fields"
            )
        return load_text_file(path, mode=mode, name=name)
    if mode != "line":
        raise ValueError(f"mode={mode!r} is for source 'text' only, not {source!r}")
    if source == "jsonl":
        return load_jsonl(
            path, field="text" if field is None else field, id_field=id_field,
            label_field=label_field, name=name,
        )
    if field is None:
        raise ValueError("source 'csv_text' needs field: the header name of the text column")
    return load_csv_text(
        path, column=field, id_column=id_field, label_column=label_field, name=name
    )


# --------------------------------------------------------------------------------------------
# Members and non-members given by the user
# --------------------------------------------------------------------------------------------


def member_split(
    members: TextDataset, non_members: TextDataset, *, name: str | None = None
) -> tuple[TextDataset, NDArray[np.int64]]:
    """One dataset of the members then the non-members, and the members' row indices.

    For a model the user already has, trained on ``members`` and not on ``non_members``.

    Parameters
    ----------
    members, non_members : TextDataset
        Both language-model datasets, or both labelled (labels are then matched by class
        name). A text may repeat within one set (a repeated record).
    name : str, optional
        Name of the combined dataset (default: ``"<members.name>+<non_members.name>"``, or
        the common name).

    Returns
    -------
    dataset : TextDataset
        ``len(members) + len(non_members)`` rows, members first. The ids are kept when they
        are unique across both sets; otherwise they are prefixed ``"member/"`` and
        ``"non_member/"``.
    member_indices : ndarray of int64
        ``0 .. len(members) - 1``.

    Raises
    ------
    ValueError
        If a set is empty, one set is labelled and the other not, or the same text is among
        both the members and the non-members (membership is then undefined): the message
        counts such texts and shows the first few.

    Examples
    --------
    >>> from privmeter.datasets import TextDataset, member_split
    >>> ds, idx = member_split(TextDataset(["seen a", "seen b"]), TextDataset(["unseen"]))
    >>> ds.texts, idx.tolist(), ds.ids
    (['seen a', 'seen b', 'unseen'], [0, 1], ('member/0', 'member/1', 'non_member/0'))
    >>> member_split(TextDataset(["x", "y"]), TextDataset(["y"]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 1 text is among both the members and the non-members, ... sets: 'y'
    """
    for arg, value in (("members", members), ("non_members", non_members)):
        if not isinstance(value, TextDataset):
            raise ValueError(f"{arg} must be a TextDataset, got {type(value).__name__}")
        if len(value) == 0:
            raise ValueError(f"{arg} is empty")
    if members.task != non_members.task:
        raise ValueError(
            f"members are a {members.task} dataset but non_members a {non_members.task} one; "
            "give labels to both or to neither"
        )
    member_texts = set(members.texts)
    both: list[str] = []
    for t in non_members.texts:
        if t in member_texts and t not in both:
            both.append(t)
    if both:
        count = f"{len(both)} text{'s are' if len(both) > 1 else ' is'}"
        shown = "; ".join(_preview(t) for t in both[:3]) + (" ..." if len(both) > 3 else "")
        raise ValueError(
            f"{count} among both the members and the non-members, so "
            f"{'their' if len(both) > 1 else 'its'} membership is undefined; remove "
            f"{'them' if len(both) > 1 else 'it'} from one of the sets: {shown}"
        )
    ids: Iterable[str] = (*members.ids, *non_members.ids)
    ids = tuple(ids)
    if len(set(ids)) != len(ids):
        ids = tuple(f"member/{i}" for i in members.ids) + tuple(
            f"non_member/{i}" for i in non_members.ids
        )
    if name is None:
        name = (
            members.name if members.name == non_members.name
            else f"{members.name}+{non_members.name}"
        )
    texts = [*members.texts, *non_members.texts]
    labels: list[str] | None = None
    if members.task == "classification":
        labels = [*_label_names(members), *_label_names(non_members)]
    combined = TextDataset(texts, labels=labels, ids=ids, name=name)
    return combined, np.arange(len(members), dtype=np.int64)


def _label_names(ds: TextDataset) -> list[str]:
    names = ds.class_names
    codes = ds.y.tolist()
    if names is None:
        return [str(c) for c in codes]
    return [names[c] for c in codes]


def load_member_split(
    members_path: PathLike,
    non_members_path: PathLike,
    *,
    source: str,
    field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    mode: Literal["line", "blank_line"] = "line",
    name: str | None = None,
) -> tuple[TextDataset, NDArray[np.int64]]:
    """:func:`load_text` both files, then :func:`member_split` them.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_member_split
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "in.txt"), "w").write("trained on this\\nand this\\n")
    >>> _ = open(os.path.join(folder, "out.txt"), "w").write("never seen\\n")
    >>> ds, members = load_member_split(os.path.join(folder, "in.txt"),
    ...                                 os.path.join(folder, "out.txt"), source="text")
    >>> len(ds), members.tolist()
    (3, [0, 1])
    """
    options: dict[str, Any] = {
        "field": field, "id_field": id_field, "label_field": label_field, "mode": mode,
    }
    members = load_text(source, members_path, **options)
    non_members = load_text(source, non_members_path, **options)
    return member_split(members, non_members, name=name)
