"""scikit-learn adapter: classifiers through ``predict_proba``, regressors through ``predict``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_proba,
    describe_rows,
    log_proba_as_logits,
)

__all__ = ["SklearnModel"]


class SklearnModel:
    """Query a fitted scikit-learn estimator.

    Parameters
    ----------
    estimator : fitted scikit-learn estimator
        A classifier (queried with ``predict_proba``) or a regressor (queried with
        ``predict``). A classifier without ``predict_proba`` (e.g. ``SVC(probability=False)``)
        is treated as label-only.
    batch_size : int, optional
        Rows per call to the estimator (default: all rows at once).
    atol : float
        Tolerance on probability rows summing to one.

    Notes
    -----
    True labels are mapped to probability columns through ``estimator.classes_`` (labels may be
    any values the estimator was fitted on, e.g. strings). A label that is not in
    ``classes_`` raises an error naming it.

    :meth:`logits` returns **log-probabilities** (``log predict_proba``, zeros mapped to
    ``-745``): their softmax is ``predict_proba``, so every softmax-based signal (margin, loss,
    entropy, ...) is exact. ``decision_function`` is not used: it is not a logit in general
    (an SVM margin, a one-vs-rest score...). Since these are not raw logits the adapter's
    access level is ``"proba"``; signals that need genuine logits (the Taylor softmax) refuse
    it.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privmeter.models import SklearnModel
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, ["a", "a", "b", "b"])
    >>> model = SklearnModel(clf)
    >>> model.n_classes, model.access
    (2, 'proba')
    >>> model.label_index(["b", "a"])
    array([1, 0])
    """

    def __init__(
        self, estimator: Any, *, batch_size: int | None = None, atol: float = 1e-4
    ) -> None:
        from sklearn.base import is_classifier, is_regressor
        from sklearn.utils.validation import check_is_fitted

        if not hasattr(estimator, "predict"):
            raise TypeError(
                f"estimator must be a fitted scikit-learn estimator with predict(), got "
                f"{type(estimator).__name__}"
            )
        check_is_fitted(estimator)
        self.estimator = estimator
        self.batch_size = check_optional_int("batch_size", batch_size, minimum=1)
        self.atol = float(atol)
        if is_classifier(estimator):
            self._task: Task = "classification"
            classes = getattr(estimator, "classes_", None)
            if classes is None:
                raise ValueError(f"{type(estimator).__name__} has no classes_ attribute")
            if isinstance(classes, list) or np.asarray(classes).ndim != 1:
                raise ValueError(
                    f"multi-output classifiers are not supported ({type(estimator).__name__} "
                    "has one classes_ array per output)"
                )
            self.classes_: NDArray[Any] | None = np.asarray(classes)
            self._access: AccessLevel = "proba" if hasattr(estimator, "predict_proba") else "label"
        elif is_regressor(estimator):
            self._task = "regression"
            self.classes_ = None
            self._access = "label"
        else:
            raise TypeError(
                f"{type(estimator).__name__} is neither a scikit-learn classifier nor a regressor"
            )

    # ---------------------------------------------------------------- protocol
    @property
    def task(self) -> Task:
        """``"classification"`` or ``"regression"``."""
        return self._task

    @property
    def n_classes(self) -> int | None:
        """``len(estimator.classes_)``, or ``None`` for a regressor."""
        return None if self.classes_ is None else int(self.classes_.shape[0])

    @property
    def access(self) -> AccessLevel:
        """``"proba"`` for classifiers with ``predict_proba``, else ``"label"``."""
        return self._access

    def __repr__(self) -> str:
        return f"SklearnModel({type(self.estimator).__name__}, task={self._task!r})"

    def _call(self, method: str, x: Any) -> list[Any]:
        fn = getattr(self.estimator, method)
        n = _n_rows(x)
        if self.batch_size is None or n <= self.batch_size:
            return [fn(x)]
        return [fn(x[i : i + self.batch_size]) for i in range(0, n, self.batch_size)]

    def proba(self, x: Any) -> NDArray[np.float64]:
        """``predict_proba(x)`` as float64, validated, shape ``(n, n_classes)``."""
        if self._task != "classification":
            raise ValueError(f"{self!r} is a regressor: it has no class probabilities")
        if self._access != "proba":
            raise NotImplementedError(
                f"{self!r} has no predict_proba (label-only); use a label-only signal such as "
                "'correctness', or fit it with probability estimates (e.g. SVC(probability=True)"
                " or CalibratedClassifierCV)"
            )
        parts = self._call("predict_proba", x)
        if any(isinstance(p, list) for p in parts):
            raise ValueError(f"{self!r}: multi-output predict_proba is not supported")
        raw = np.concatenate([np.asarray(p) for p in parts], axis=0)
        return check_proba(raw, n_rows=_n_rows(x), n_classes=self.n_classes, source=repr(self),
                           atol=self.atol)

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Log-probabilities ``log predict_proba(x)`` (zeros mapped to ``-745``).

        These are logits in the sense that their softmax is ``predict_proba``; they are not the
        estimator's ``decision_function``.
        """
        return log_proba_as_logits(self.proba(x))

    def predict(self, x: Any) -> NDArray[Any]:
        """``estimator.predict(x)``: class values (classifier) or float64 outputs (regressor)."""
        out = np.concatenate([np.asarray(p) for p in self._call("predict", x)], axis=0)
        n = _n_rows(x)
        if out.shape[0] != n:
            raise ValueError(f"{self!r} returned {out.shape[0]} predictions for {n} inputs")
        if self._task == "regression":
            out = np.asarray(out, dtype=np.float64)
            bad = ~np.isfinite(out.reshape(n, -1)).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"{self!r} returned NaN or infinite predictions in {describe_rows(bad)}"
                )
        return out

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Column of each label in ``estimator.classes_``.

        Raises
        ------
        ValueError
            If the model is a regressor, or a label is not one of ``classes_`` (the message
            names the label).
        """
        if self.classes_ is None:
            raise ValueError(f"{self!r} is a regressor: it has no class labels")
        classes = self.classes_
        arr = np.asarray(y)
        if arr.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
        try:
            idx = np.searchsorted(classes, arr)
            clipped = np.minimum(idx, classes.shape[0] - 1)
            ok = np.asarray(classes[clipped] == arr, dtype=bool)
            if ok.shape != arr.shape:
                raise TypeError
        except (TypeError, ValueError):
            lookup = {c: i for i, c in enumerate(classes.tolist())}
            found = [lookup.get(v, -1) for v in arr.tolist()]
            clipped = np.asarray(found, dtype=np.int64)
            ok = clipped >= 0
        if not ok.all():
            r = int(np.argmax(~ok))
            bad = arr[r].item() if isinstance(arr[r], np.generic) else arr[r]
            shown = classes.tolist()
            listed = shown if len(shown) <= 20 else [*shown[:20], "..."]
            raise ValueError(
                f"label {bad!r} (at position {r}) is not one of the classes_ of {self!r}: "
                f"{listed}"
            )
        return np.asarray(clipped, dtype=np.int64)


def _n_rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(x)
