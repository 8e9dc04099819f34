"""The query loop: a signal on every point, in chunks, under optional query augmentations.

:func:`compute_signal` checks the model against the signal, then hands the model one batched
call per chunk of points (all augmented variants of the chunk at once); augmentations draw
their randomness chunk after chunk from one generator, so results do not depend on the
chunk size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter._validation import check_optional_int
from privmeter.models.base import ModelAccess
from privmeter.signals.augment import Augmentation
from privmeter.signals.registry import Signal, _n_rows, get_signal

__all__ = ["compute_signal"]

#: Rows (points x queries) handed to the model per chunk when augmenting, by default.
_DEFAULT_AUGMENTED_ROWS = 8192


def _take(x: Any, start: int, stop: int) -> Any:
    if isinstance(x, (list, tuple)):
        return np.asarray(x)[start:stop]
    return x[start:stop]


def _as_numpy(x: Any) -> NDArray[Any]:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


def compute_signal(
    signal: Signal | str,
    model: ModelAccess,
    x: Any,
    y: Any,
    *,
    augmentations: Augmentation | None = None,
    batch_size: int | None = None,
) -> NDArray[np.float64]:
    """Evaluate a signal on every point, optionally under several queries per point.

    Parameters
    ----------
    signal : Signal or str
        A signal or a registered name (see :func:`list_signals`).
    model : ModelAccess
        An adapter (:class:`~privmeter.models.TorchModel`, ...).
    x : array_like or tensor of shape (n, ...)
    y : array_like of shape (n,)
        True labels (classification) or targets (regression).
    augmentations : Augmentation, optional
        Queries per point (e.g. :class:`FlipShift`, :class:`GaussianNoise`). All variants of
        a chunk of points go to the model in one batched call.
    batch_size : int, optional
        Points per chunk. Default: all points at once without augmentation (the adapter
        batches the forward passes itself); with augmentation, enough points for about 8192
        augmented rows per chunk. Results do not depend on it.

    Returns
    -------
    ndarray of float64, shape (n,) or (n, n_queries)

    Raises
    ------
    ValueError
        Unknown signal name, a model that does not fit the signal (task or access level), or
        ``x`` and ``y`` of different lengths.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.9, 0.1], (len(x), 1)), n_classes=2)
    >>> compute_signal("logit_margin", api, np.zeros((2, 3)), [0, 1]).round(4)
    array([ 2.1972, -2.1972])
    >>> from privmeter.signals import GaussianNoise
    >>> compute_signal("correctness", api, np.zeros((2, 3)), [0, 1],
    ...                augmentations=GaussianNoise(n_queries=3, sigma=0.1, seed=0))
    array([[1., 1., 1.],
           [0., 0., 0.]])
    """
    sig = get_signal(signal) if isinstance(signal, str) else signal
    if not isinstance(sig, Signal):
        raise TypeError(f"signal must be a Signal or a registered name, got {type(sig).__name__}")
    sig.check_model(model)
    if augmentations is not None and not isinstance(augmentations, Augmentation):
        raise TypeError(
            f"augmentations must be an Augmentation (FlipShift, GaussianNoise, ...), got "
            f"{type(augmentations).__name__}"
        )
    batch_size = check_optional_int("batch_size", batch_size, minimum=1)
    n = _n_rows(x)
    y_arr = np.asarray(y)
    if y_arr.ndim == 0 or y_arr.shape[0] != n:
        raise ValueError(
            f"x has {n} rows but y has {y_arr.shape[0] if y_arr.ndim else 'no'} entries"
        )
    inner = sig.queries
    q_outer = augmentations.n_queries if augmentations is not None else 1
    q_inner = inner.n_queries if inner is not None else 1
    if augmentations is None and inner is None and batch_size is None:
        return sig.evaluate(model, x, y_arr)

    if batch_size is None:
        batch_size = max(1, _DEFAULT_AUGMENTED_ROWS // (q_outer * q_inner)) if (
            augmentations is not None or inner is not None
        ) else max(n, 1)
    rng_outer = augmentations.make_rng() if augmentations is not None else None
    rng_inner = inner.make_rng() if inner is not None else None
    shape: tuple[int, ...] = (n, q_outer) if augmentations is not None else (n,)
    out = np.empty(shape, dtype=np.float64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        xb: Any = _take(x, start, stop)
        yb = y_arr[start:stop]
        if augmentations is not None and rng_outer is not None:
            aug = augmentations.apply(_as_numpy(xb), rng_outer)
            xb = aug.reshape(-1, *aug.shape[2:])
            yb = np.repeat(yb, q_outer, axis=0)
        if inner is not None and rng_inner is not None:
            aug = inner.apply(_as_numpy(xb), rng_inner)
            rows = aug.shape[0]
            values = sig.evaluate(model, aug.reshape(-1, *aug.shape[2:]),
                                  np.repeat(yb, q_inner, axis=0))
            values = values.reshape(rows, q_inner).mean(axis=1)
        else:
            values = sig.evaluate(model, xb, yb)
        out[start:stop] = values.reshape(stop - start, *shape[1:])
    return out
