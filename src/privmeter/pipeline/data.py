"""The audit's view of a dataset: arrays plus the metadata the card and report need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["AuditData", "as_data", "check_data", "is_text_array"]


@dataclass(frozen=True)
class AuditData:
    """Features, labels and descriptions of the data an audit plays its game on."""

    x: Any
    y: NDArray[Any]
    name: str
    task: str
    n_classes: int | None
    feature_names: tuple[str, ...] | None
    class_names: tuple[str, ...] | None
    image_shape: tuple[int, ...] | None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])

    @property
    def is_text(self) -> bool:
        """Whether the rows are texts (a 1-D object array of ``str``)."""
        return is_text_array(self.x)


def is_text_array(x: Any) -> bool:
    """Whether ``x`` is a 1-D numpy array of Python strings (object or unicode dtype)."""
    return (
        isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype.kind in "OU"
        and all(isinstance(t, str) for t in x.tolist())
    )


def check_data(data: AuditData) -> AuditData:
    """Rows and features must match and be finite: a NaN would silently poison every model."""
    n_x = int(np.shape(data.x)[0]) if np.ndim(data.x) else 0
    if data.y.ndim != 1 or n_x != data.y.shape[0]:
        raise ValueError(
            f"x has {n_x} rows but y has shape {data.y.shape}; one label per row is needed"
        )
    if n_x == 0:
        raise ValueError("the dataset has no rows: an audit needs data to train and attack on")
    x = np.asarray(data.x)
    if data.task == "language_model" and not is_text_array(x):
        raise ValueError(
            "a language-model audit needs texts: a 1-D array of str (privmeter.datasets."
            f"TextDataset), got an array of dtype {x.dtype} and shape {x.shape}"
        )
    if is_text_array(x):
        blank = [i for i, t in enumerate(x.tolist()) if not t.strip()]
        if blank:
            shown = ", ".join(str(i) for i in blank[:10]) + (" ..." if len(blank) > 10 else "")
            raise ValueError(f"{len(blank)} texts are empty or whitespace only: rows {shown}")
    elif x.dtype.kind in "fc":
        bad = ~np.isfinite(x.reshape(n_x, -1)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = ", ".join(str(int(r)) for r in rows[:10]) + (" ..." if rows.size > 10 else "")
            raise ValueError(
                f"features contain NaN or infinite values in {rows.size} rows: {shown}"
            )
    elif x.dtype.kind not in "iub":
        raise ValueError(f"features must be numeric, got dtype {x.dtype}")
    if data.y.dtype.kind == "f" and not np.isfinite(data.y).all():
        raise ValueError(
            f"labels contain NaN or infinite values (first at row "
            f"{int(np.argmax(~np.isfinite(data.y)))})"
        )
    return data


def as_data(dataset: Any) -> AuditData:
    """A checked :class:`AuditData` from a :class:`privmeter.datasets.Dataset` or ``(x, y)``."""
    return check_data(_raw_data(dataset))


def _raw_data(dataset: Any) -> AuditData:
    if isinstance(dataset, tuple) and len(dataset) == 2:
        x, y = dataset
        if isinstance(x, (list, tuple)) and x and all(isinstance(t, str) for t in x):
            x = np.array(list(x), dtype=object)
        y_arr = np.asarray(y)
        is_cls = y_arr.dtype.kind in "iub"
        return AuditData(
            x=np.asarray(x), y=y_arr, name="user data",
            task="classification" if is_cls else "regression",
            n_classes=int(y_arr.max()) + 1 if is_cls and y_arr.size else None,
            feature_names=None, class_names=None, image_shape=None,
        )
    if hasattr(dataset, "x") and hasattr(dataset, "y"):
        return AuditData(
            x=dataset.x, y=np.asarray(dataset.y), name=str(getattr(dataset, "name", "dataset")),
            task=str(getattr(dataset, "task", "classification")),
            n_classes=getattr(dataset, "n_classes", None),
            feature_names=getattr(dataset, "feature_names", None),
            class_names=getattr(dataset, "class_names", None),
            image_shape=getattr(dataset, "image_shape", None),
        )
    raise TypeError(
        f"dataset must be a privmeter.datasets.Dataset or an (x, y) tuple, got "
        f"{type(dataset).__name__}"
    )
