"""Loaders for user files: ``.npz``, CSV, and the Purchase-100 / Texas-100 text formats.

Paths are checked to be regular files before anything opens them (:func:`_existing_file`),
so a FIFO or a device cannot hang or flood a loader.
"""

from __future__ import annotations

import csv
import math
import os
import stat
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from privmeter._names import _did_you_mean
from privmeter.datasets.dataset import (
    TASKS,
    Dataset,
    PathLike,
    Task,
    _as_class_codes,
    _check_count,
    _encode_labels,
    _first_rows,
    _listing,
)

# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - doors, whiteouts...


def _existing_file(path: PathLike, what: str) -> Path:
    """``path`` if it is a regular file; never opened here, so a FIFO cannot hang us."""
    p = Path(os.fspath(path)).expanduser()
    try:
        mode = p.stat().st_mode  # follows symlinks: a link to a regular file is fine
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {p}") from None
    except OSError as exc:
        raise ValueError(f"{what} {p} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{what} {p} is a directory, expected a file")
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{what} {p} is {_file_kind(mode)}, not a regular file; refusing to read it"
        )
    return p


def load_npz(
    path: PathLike,
    x_key: str = "x",
    y_key: str = "y",
    *,
    task: Literal["auto", "classification", "regression"] = "auto",
    name: str | None = None,
) -> Dataset:
    """Read features and labels from a numpy ``.npz`` archive (never unpickling anything).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file (``np.savez`` / ``np.savez_compressed``).
    x_key, y_key : str
        Names of the feature and label arrays in the archive.
    task : {"auto", "classification", "regression"}
        ``"auto"``: integer, boolean or text labels are classes, float labels are regression
        targets. Pass ``"classification"`` for class labels stored as floats.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    Dataset
        Non-negative integer labels are kept as they are (``n_classes = max + 1``); other
        labels (text, negative) are mapped to ``0..C-1`` in sorted order, keeping
        ``class_names``. A ``class_names`` (or ``feature_names``) string array in the archive
        is used when present. 4-D ``x`` is taken as images ``(n, C, H, W)``; values are
        converted to float32 unchanged (no scaling).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not an ``.npz`` archive, a key is missing (listing the keys present),
        or an array holds Python objects (which would need unpickling).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from privmeter.datasets import load_npz
    >>> path = os.path.join(tempfile.mkdtemp(), "data.npz")
    >>> np.savez(path, x=np.random.default_rng(0).random((5, 3)), y=np.array([0, 1, 2, 1, 0]))
    >>> ds = load_npz(path)
    >>> ds.x.shape, ds.n_classes, ds.name
    ((5, 3), 3, 'data')
    """
    p = _existing_file(path, "npz file")
    if task not in ("auto", *TASKS):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    try:
        archive = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{p}: not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{p}: expected an .npz archive (np.savez), found a single .npy array")
    with archive:
        keys = list(archive.files)

        def read(key: str, required: bool) -> NDArray[Any] | None:
            if key not in keys:
                if not required:
                    return None
                raise ValueError(
                    f"{p}: no array named {key!r}{_did_you_mean(key, keys)} Arrays in the file: "
                    f"{_listing(keys) or '(none)'}"
                )
            try:
                return np.asarray(archive[key])
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ValueError(f"{p}: cannot read array {key!r} ({err})") from None
            except ValueError as err:
                if "allow_pickle" in str(err) or "Object arrays" in str(err):
                    raise ValueError(
                        f"{p}: array {key!r} holds Python objects (dtype=object); refusing to "
                        "unpickle it. Save numeric (or fixed-width string) arrays instead."
                    ) from None
                raise ValueError(f"{p}: cannot read array {key!r} ({err})") from None

        x = read(x_key, True)
        y = read(y_key, True)
        class_names_arr = read("class_names", False)
        feature_names_arr = read("feature_names", False)
    assert x is not None and y is not None
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{p}: features {x_key!r} must be numeric, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(
            f"{p}: expected {x_key!r} of shape (n, ...) and {y_key!r} of shape (n,); got "
            f"{x.shape} and {y.shape}"
        )
    resolved: Task
    if task == "auto":
        resolved = "regression" if y.dtype.kind == "f" else "classification"
    else:
        resolved = task
    class_names: tuple[str, ...] | None = None
    n_classes: int | None = None
    if resolved == "classification":
        if y.dtype.kind in "US":
            codes, class_names = _encode_labels([_text(v) for v in y.tolist()])
            y = codes
        else:
            try:
                y = _as_class_codes(y)
            except ValueError as err:
                raise ValueError(f"{p}: {err}") from None
            if y.size and y.min() < 0:
                codes, class_names = _encode_labels([str(v) for v in y.tolist()])
                y = codes
        n_classes = len(class_names) if class_names is not None else None
        if class_names is None and class_names_arr is not None:
            class_names = tuple(_text(v) for v in class_names_arr.reshape(-1).tolist())
            n_classes = len(class_names)
    feature_names = None
    if feature_names_arr is not None:
        feature_names = tuple(_text(v) for v in feature_names_arr.reshape(-1).tolist())
    image_shape = tuple(int(s) for s in x.shape[1:]) if x.ndim == 4 else None
    try:
        return Dataset(
            x=x,
            y=y,
            task=resolved,
            n_classes=n_classes,
            feature_names=feature_names,
            class_names=class_names,
            name=p.stem if name is None else name,
            image_shape=image_shape,
        )
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})


def _column_index(header: list[str], column: str, p: Path, what: str) -> int:
    matches = [i for i, h in enumerate(header) if h == column]
    if not matches:
        raise ValueError(
            f"{p}: no {what} {column!r}{_did_you_mean(column, header)} Available columns: "
            f"{_listing(header)}"
        )
    if len(matches) > 1:
        raise ValueError(f"{p}: the header has {len(matches)} columns named {column!r}")
    return matches[0]


def load_csv(
    path: PathLike,
    label_column: str = "label",
    feature_columns: Sequence[str] | None = None,
    delimiter: str = ",",
    *,
    task: Task = "classification",
    name: str | None = None,
) -> Dataset:
    """Read a CSV file with a header row: one label column and numeric feature columns.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, an optional byte-order mark is skipped).
    label_column : str
        Header name of the label column.
    feature_columns : sequence of str, optional
        Header names of the feature columns, in the order wanted (default: every other
        column).
    delimiter : str
        Field separator (e.g. ``"\\t"`` for TSV).
    task : {"classification", "regression"}
        Classification maps labels to ``0..C-1`` (numeric order when every label is a number,
        else sorted text) and keeps the original labels as ``class_names``; regression reads
        labels as numbers.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    Dataset
        ``feature_names`` are the header names verbatim (they are user text, possibly
        markup; escaping is the report's job).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        With the file name and, where it applies, the line and column: an empty file, a
        missing column (listing the available ones and suggesting the closest), a row with
        the wrong number of fields, a feature that is not a number, NaN / infinite / missing
        features (naming the first rows), an empty label.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
    >>> _ = open(path, "w").write("age,income,label\\n31,2.5,yes\\n45,1.0,no\\n27,3.5,yes\\n")
    >>> ds = load_csv(path)
    >>> ds.x.tolist(), ds.y.tolist(), ds.class_names, ds.feature_names
    ([[31.0, 2.5], [45.0, 1.0], [27.0, 3.5]], [1, 0, 1], ('no', 'yes'), ('age', 'income'))
    """
    p = _existing_file(path, "CSV file")
    if task not in TASKS:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if isinstance(feature_columns, str):
        raise ValueError("feature_columns must be a list of column names, not one string")
    rows: list[list[float]] = []
    labels: list[str] = []
    lines: list[int] = []
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header: list[str] | None = None
            for row in reader:
                if any(cell.strip() for cell in row):
                    header = row
                    break
            if header is None:
                raise ValueError(f"{p}: the file is empty (expected a header row)")
            label_idx = _column_index(header, label_column, p, "label column")
            if feature_columns is None:
                feat_idx = [i for i in range(len(header)) if i != label_idx]
            else:
                feat_idx = [_column_index(header, c, p, "feature column") for c in feature_columns]
                if label_idx in feat_idx:
                    raise ValueError(
                        f"{p}: the label column {label_column!r} is also in feature_columns"
                    )
            if not feat_idx:
                raise ValueError(f"{p}: no feature columns (the header is {_listing(header)})")
            n_fields = len(header)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) != n_fields:
                    raise ValueError(
                        f"{p}, line {line}: {len(row)} fields, but the header has {n_fields}"
                    )
                values: list[float] = []
                for j in feat_idx:
                    cell = row[j]
                    try:
                        values.append(float(cell))
                    except ValueError:
                        if cell.strip().lower() in _MISSING:
                            values.append(math.nan)
                            continue
                        raise ValueError(
                            f"{p}, line {line}, column {header[j]!r}: {cell!r} is not a number"
                        ) from None
                label = row[label_idx].strip()
                if not label:
                    raise ValueError(f"{p}, line {line}: empty label in column {label_column!r}")
                rows.append(values)
                labels.append(label)
                lines.append(line)
    except UnicodeDecodeError as err:
        raise ValueError(f"{p}: not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise ValueError(f"{p}: malformed CSV ({err})") from None
    if not rows:
        raise ValueError(f"{p}: no data rows after the header")
    x64 = np.asarray(rows, dtype=np.float64)
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        x = x64.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    too_big = np.isfinite(x64) & ~np.isfinite(x)
    if too_big.any():
        r, c = (int(v) for v in np.argwhere(too_big)[0])
        raise ValueError(
            f"{p}, line {lines[r]}, column {header[feat_idx[c]]!r}: value {x64[r, c]:g} does "
            f"not fit in float32 (largest {float(np.finfo(np.float32).max):.3g}); features are "
            "read as float32: rescale the column"
        )
    if bad.size:
        first = int(bad[0])
        col = feat_idx[int(np.flatnonzero(~np.isfinite(x[first]))[0])]
        shown = ", ".join(str(lines[int(i)]) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise ValueError(
            f"{p}: NaN, infinite or missing feature values in {bad.size} rows (lines {shown}); "
            f"first at line {lines[first]}, column {header[col]!r}"
        )
    feature_names = tuple(header[j] for j in feat_idx)
    if task == "classification":
        y, class_names = _encode_labels(labels)
        return Dataset(
            x=x,
            y=y,
            n_classes=len(class_names),
            feature_names=feature_names,
            class_names=class_names,
            name=p.stem if name is None else name,
        )
    targets = np.empty(len(labels), dtype=np.float64)
    for i, label in enumerate(labels):
        try:
            targets[i] = float(label)
        except ValueError:
            raise ValueError(
                f"{p}, line {lines[i]}, column {label_column!r}: target {label!r} is not a number"
            ) from None
        if not math.isfinite(targets[i]):
            raise ValueError(
                f"{p}, line {lines[i]}, column {label_column!r}: target {label!r} is not finite"
            )
    return Dataset(
        x=x,
        y=targets,
        task="regression",
        feature_names=feature_names,
        name=p.stem if name is None else name,
    )


# --- Purchase-100 / Texas-100 ---------------------------------------------------------------


def _locate_text_error(p: Path, delimiter: str) -> str | None:
    """Re-scan a numeric text file slowly to name the first bad line and field."""
    n_fields: int | None = None
    first_line = 0
    with p.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            fields = text.split(delimiter)
            if n_fields is None:
                n_fields, first_line = len(fields), line_no
            elif len(fields) != n_fields:
                return (
                    f"line {line_no} has {len(fields)} fields, but line {first_line} has {n_fields}"
                )
            for j, field in enumerate(fields, start=1):
                try:
                    float(field)
                except ValueError:
                    return f"line {line_no}, field {j}: {field.strip()!r} is not a number"
    return None


def _load_numeric_text(p: Path, delimiter: str = ",") -> NDArray[np.float32]:
    """A 2-D float32 table from a delimited numeric text file (fast path: ``np.loadtxt``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(p, delimiter=delimiter, dtype=np.float32, ndmin=2)
    except (ValueError, UnicodeDecodeError) as err:
        where = _locate_text_error(p, delimiter)
        raise ValueError(f"{p}: {where or err}") from None
    if table.size == 0:
        raise ValueError(f"{p}: the file holds no data")
    bad = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{p}: NaN or infinite values in {bad.size} rows; first rows (1-based): "
            f"{_first_rows(bad + 1)}"
        )
    return np.ascontiguousarray(table)


def _labels_from_base(
    raw: NDArray[np.float32], p: Path, n_classes: int, label_base: int
) -> NDArray[np.int64]:
    """Class codes ``raw - label_base`` checked to be integers in ``[0, n_classes)``."""
    not_int = np.flatnonzero(raw != np.round(raw))
    if not_int.size:
        i = int(not_int[0])
        raise ValueError(f"{p}: row {i + 1} has label {float(raw[i])!r}, not an integer")
    codes = raw.astype(np.int64) - label_base
    out = np.flatnonzero((codes < 0) | (codes >= n_classes))
    if out.size:
        i = int(out[0])
        hint = ""
        if label_base == 1 and codes[i] == -1:
            hint = " (labels are 1-based here; pass label_base=0 for a 0-based file)"
        raise ValueError(
            f"{p}: row {i + 1} has label {int(raw[i])}, outside {label_base}.."
            f"{n_classes - 1 + label_base}{hint}"
        )
    return codes


def load_purchase(
    path: PathLike,
    *,
    n_classes: int = 100,
    label_base: int = 1,
    name: str = "purchase100",
) -> Dataset:
    """Read Purchase-100 in its text format: each line ``label,f1,...,f600``.

    Parameters
    ----------
    path : str or path-like
        The comma-separated file (e.g. ``dataset_purchase``).
    n_classes : int
        Number of classes (100 for Purchase-100; 2, 10, 20, 50 for its coarser variants).
    label_base : int
        The first label in the file: ``1`` for the original files (labels 1..100 become
        0..99), ``0`` for re-saved 0-based copies.
    name : str
        Dataset name.

    Returns
    -------
    Dataset
        Binary features as float32 (n, 600), labels int64.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file and line: ragged rows, non-numbers, labels that are not integers in
        ``label_base .. n_classes - 1 + label_base``, an empty file.

    Examples
    --------
    >>> from privmeter.datasets import load_purchase
    >>> ds = load_purchase("~/data/dataset_purchase")  # doctest: +SKIP
    >>> ds.x.shape, ds.n_classes  # doctest: +SKIP
    ((197324, 600), 100)
    """
    n_classes = _check_count("n_classes", n_classes, 1)
    p = _existing_file(path, "Purchase file")
    table = _load_numeric_text(p)
    if table.shape[1] < 2:
        raise ValueError(f"{p}: expected 'label,f1,...,fd' lines, found one field per line")
    y = _labels_from_base(table[:, 0], p, n_classes, label_base)
    return Dataset(x=table[:, 1:], y=y, n_classes=n_classes, name=name)


def load_texas(
    features_path: PathLike,
    labels_path: PathLike,
    *,
    n_classes: int = 100,
    label_base: int = 1,
    name: str = "texas100",
) -> Dataset:
    """Read Texas-100: a comma-separated binary features file and a labels file.

    Parameters
    ----------
    features_path : str or path-like
        One row of comma-separated features per line (e.g. ``texas/100/feats``).
    labels_path : str or path-like
        One label per line (e.g. ``texas/100/labels``), ``label_base``-based.
    n_classes : int
        Number of classes (100).
    label_base : int
        The first label: ``1`` for the original files (1..100 become 0..99), or ``0``.
    name : str
        Dataset name.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        Naming the file: ragged rows, non-numbers, a labels file with several fields per
        line, labels out of range, or different row counts in the two files.

    Examples
    --------
    >>> from privmeter.datasets import load_texas
    >>> ds = load_texas("texas/100/feats", "texas/100/labels")  # doctest: +SKIP
    >>> ds.x.shape  # doctest: +SKIP
    (67330, 6169)
    """
    n_classes = _check_count("n_classes", n_classes, 1)
    fp = _existing_file(features_path, "Texas features file")
    lp = _existing_file(labels_path, "Texas labels file")
    x = _load_numeric_text(fp)
    raw = _load_numeric_text(lp)
    if raw.shape[1] != 1:
        raise ValueError(f"{lp}: expected one label per line, found {raw.shape[1]} fields")
    if raw.shape[0] != x.shape[0]:
        raise ValueError(
            f"{fp} has {x.shape[0]} rows but {lp} has {raw.shape[0]} labels; they must match"
        )
    y = _labels_from_base(raw[:, 0], lp, n_classes, label_base)
    return Dataset(x=x, y=y, n_classes=n_classes, name=name)
