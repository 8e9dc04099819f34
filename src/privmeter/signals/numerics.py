"""Numerics of the softmax signals: stable log-softmax, logit margins, kind conversions.

Everything here is computed in float64 from logits (or from log-probabilities when only
probabilities are available) with log-sum-exp arithmetic: confident predictions keep
distinct, finite values where ``1 - p_y`` would round to zero. :mod:`privmeter.table`
converts between the :data:`SIGNAL_KINDS` with the same functions.

This module imports nothing from privmeter, so the table and the signals can both use it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_class_labels, check_int

__all__ = [
    "SIGNAL_KINDS",
    "SignalKind",
    "check_class_labels",
    "cross_entropy_from_logits",
    "entropy_from_logits",
    "logit_margin_from_logits",
    "logit_margin_from_proba",
    "modified_entropy_from_logits",
    "probability_from_logits",
    "taylor_softmax_from_logits",
]

#: Signal kinds the attacks know how to convert between.
#:
#: - ``"logit_margin"``: ``phi = z_y - logsumexp_{j != y} z_j`` = ``log p_y - log(1 - p_y)``
#:   (higher = more member-like). Carries the true-class probability ``sigmoid(phi)`` and the
#:   cross-entropy loss ``softplus(-phi)`` without float underflow.
#: - ``"probability"``: true-class probability in ``[0, 1]`` (higher = more member-like).
#: - ``"loss"``: a non-negative loss, e.g. cross-entropy (lower = more member-like).
#: - ``"custom"``: any real-valued signal; its orientation is given by ``higher_is_member``.
SIGNAL_KINDS = ("logit_margin", "probability", "loss", "custom")
SignalKind = Literal["logit_margin", "probability", "loss", "custom"]


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(x))`` without overflow or underflow to the wrong side."""
    return np.asarray(np.logaddexp(0.0, x), dtype=np.float64)


def _log_softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = z - z.max(axis=-1, keepdims=True)
    return np.asarray(
        shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), dtype=np.float64
    )


def _logits_labels(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits must have at least 2 classes in the last axis, got {z.shape}")
    return z, check_class_labels(labels, z.shape[:-1], z.shape[-1])


def logit_margin_from_logits(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Stable logit margin ``phi = z_y - logsumexp_{j != y} z_j`` from raw logits.

    Computed in float64 from the logits, never from a rounded probability, so confident
    predictions keep distinct values (a float32 ``p_y`` rounds to 1.0 beyond ``phi ~ 17``).

    Parameters
    ----------
    logits : array_like of shape (..., n_classes)
    labels : array_like of int, shape (...)
        Class indices (whole-number floats are accepted, others refused: see
        :func:`check_class_labels`).

    Examples
    --------
    >>> logit_margin_from_logits([[2.0, 0.0, 0.0]], [0]).round(4)
    array([1.3069])
    >>> logit_margin_from_logits([[1e4, 0.0]], [0])
    array([10000.])
    """
    z, y = _logits_labels(logits, labels)
    z_y = np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, y[..., None], -np.inf, axis=-1)
    m = others.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(others - m).sum(axis=-1))
    return np.asarray(z_y - lse, dtype=np.float64)


def logit_margin_from_proba(p: ArrayLike) -> NDArray[np.float64]:
    """``log p - log(1 - p)`` from a true-class probability, clipped to ``[-745, 745]``.

    Examples
    --------
    >>> logit_margin_from_proba([0.5, 0.9]).round(4)
    array([0.    , 2.1972])
    """
    arr = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        phi = np.log(arr) - np.log1p(-arr)
    return np.asarray(np.clip(phi, -745.0, 745.0), dtype=np.float64)


def _logit_margin_from_loss(loss: NDArray[np.float64]) -> NDArray[np.float64]:
    """Invert the cross-entropy ``loss = softplus(-phi)``, clipped to ``[-745, 745]``.

    Examples
    --------
    >>> _logit_margin_from_loss(cross_entropy_from_logits([[2.0, 0.0]], [0])).round(4)
    array([2.])
    """
    # loss = softplus(-phi) = log1p(exp(-phi))  =>  phi = -log(expm1(loss))
    loss = np.maximum(loss, 1e-300)
    with np.errstate(over="ignore"):
        big = loss > 30.0
        phi = np.empty_like(loss)
        phi[~big] = -np.log(np.expm1(loss[~big]))
        # expm1(l) ~ exp(l) for large l, and -log(exp(l) - 1) ~ -l - exp(-l)
        phi[big] = -loss[big]
    return np.clip(phi, -745.0, 745.0)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return t


def probability_from_logits(
    logits: ArrayLike, labels: ArrayLike, *, temperature: float = 1.0
) -> NDArray[np.float64]:
    """True-class probability ``softmax(z / T)_y``, via a float64 log-softmax.

    Parameters
    ----------
    logits : array_like of shape (..., n_classes)
    labels : array_like of int, shape (...)
    temperature : float
        ``T > 0``; a larger ``T`` flattens the softmax (RMIA tunes it on reference models).

    Examples
    --------
    >>> probability_from_logits([[2.0, 0.0]], [0]).round(4)
    array([0.8808])
    >>> probability_from_logits([[2.0, 0.0]], [0], temperature=2.0).round(4)
    array([0.7311])
    """
    z, y = _logits_labels(logits, labels)
    t = _check_temperature(temperature)
    zt = z / t if t != 1.0 else z
    m = zt.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(zt - m).sum(axis=-1))
    z_y = np.take_along_axis(zt, y[..., None], axis=-1)[..., 0]
    return np.asarray(np.exp(z_y - lse), dtype=np.float64)


def cross_entropy_from_logits(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Cross-entropy ``-log softmax(z)_y = softplus(-phi)`` with ``phi`` the logit margin.

    Accurate down to the smallest float64 (a loss below ``~5e-324``, i.e. ``phi > ~745``,
    is 0.0): unlike ``-log(p_y)`` it does not collapse to 0 once ``p_y`` rounds to one
    (``phi > ~17`` in float32, ``~37`` in float64).

    Examples
    --------
    >>> cross_entropy_from_logits([[2.0, 0.0]], [0]).round(4)
    array([0.1269])
    >>> float(cross_entropy_from_logits([[40.0, 0.0]], [0])[0])  # -log(p) would give 0.0
    4.248354255291589e-18
    """
    return _softplus(-logit_margin_from_logits(logits, labels))


def entropy_from_logits(logits: ArrayLike) -> NDArray[np.float64]:
    """Prediction entropy ``-sum_j p_j log p_j`` with ``p = softmax(z)`` (natural log).

    Examples
    --------
    >>> entropy_from_logits([[0.0, 0.0]]).round(4)
    array([0.6931])
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits must have at least 2 classes in the last axis, got {z.shape}")
    logp = _log_softmax(z)
    return np.asarray(-(np.exp(logp) * logp).sum(axis=-1), dtype=np.float64)


def modified_entropy_from_logits(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Modified entropy ``-(1-p_y) log p_y - sum_{j!=y} p_j log(1-p_j)`` (Song & Mittal 2021).

    Every ``log(1 - p_j)`` that could cancel (the most probable class, whose ``p_j`` may be
    close to one) is computed from the sum of the other classes' exponentials, never from
    ``1 - p_j`` (and as ``-softplus(phi_j)`` from the logit margin when that sum underflows);
    the others have ``p_j <= 1/2`` and use ``log1p(-p_j)``. One ``exp`` and one ``log1p`` pass
    over the logits.

    Examples
    --------
    >>> modified_entropy_from_logits([[0.0, 0.0]], [0]).round(4)  # 2 * 0.5 * log 2
    array([0.6931])
    """
    z, y = _logits_labels(logits, labels)
    top = z.argmax(axis=-1)[..., None]
    shifted = z - np.take_along_axis(z, top, axis=-1)  # 0 at the most probable class
    p = np.exp(shifted)
    np.put_along_axis(p, top, 0.0, axis=-1)
    rest = p.sum(axis=-1)  # sum_{k != top} exp(z_k - z_top), without cancellation
    np.put_along_axis(p, top, 1.0, axis=-1)
    log_total = np.log1p(rest)  # log sum_k exp(z_k - z_top)
    p /= (1.0 + rest)[..., None]
    with np.errstate(divide="ignore"):
        log1m = np.log1p(-p)  # accurate where p_j <= 1/2, i.e. every class but the top one
        log1m_top = np.log(rest) - log_total  # log(1 - p_top), exact from the rest sum
    tiny = rest < 1e-300  # the rest underflowed: take -softplus(phi_top) from the logits
    if tiny.any():
        log1m_top[tiny] = -_softplus(logit_margin_from_logits(z[tiny], top[tiny][..., 0]))
    np.put_along_axis(log1m, top, log1m_top[..., None], axis=-1)
    yy = y[..., None]
    log_p_y = np.take_along_axis(shifted, yy, axis=-1)[..., 0] - log_total
    log1m_y = np.take_along_axis(log1m, yy, axis=-1)[..., 0]
    p_y = np.take_along_axis(p, yy, axis=-1)[..., 0]
    true_term = np.exp(log1m_y) * -log_p_y  # (1 - p_y) * (-log p_y)
    # sum_{j != y} p_j log(1 - p_j), without a temporary n x C product
    other = np.einsum("...j,...j->...", p, log1m) - p_y * log1m_y
    return np.asarray(true_term - other, dtype=np.float64)


def _taylor(u: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``sum_{k=0}^{n-1} u^k / k!`` by Horner's rule."""
    out = np.ones_like(u)
    for k in range(n - 1, 0, -1):
        out *= u
        if k > 1:
            out *= 1.0 / k
        out += 1.0
    return out


def taylor_softmax_from_logits(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    n: int = 4,
    margin: float = 0.6,
    temperature: float = 2.0,
) -> NDArray[np.float64]:
    """Soft-margin Taylor softmax of the true class (RMIA's signal; Zarifzadeh et al. 2024).

    With ``u = z / T`` and ``t_n(u) = sum_{k=0}^{n-1} u^k / k!`` (``exp`` truncated to ``n``
    terms)::

        p = t_n(u_y - m) / (t_n(u_y - m) + sum_{j != y} t_n(u_j))

    Parameters
    ----------
    logits : array_like of shape (..., n_classes)
        Raw logits. The Taylor softmax is not shift-invariant: log-probabilities give a
        different value than the model's logits.
    labels : array_like of int, shape (...)
    n : int
        Number of Taylor terms (default 4, as in the RMIA code).
    margin : float
        Soft margin ``m`` subtracted from the scaled true-class logit (default 0.6).
    temperature : float
        ``T`` dividing the logits (default 2).

    Notes
    -----
    For even ``n`` the polynomial has odd degree and is negative for very negative ``u``
    (``t_4(u) < 0`` for ``u < -1.596``). The RMIA research code lets such terms through, which
    can push the value outside ``[0, 1]``; here each term is floored at zero (``exp(u)`` is
    never negative), so the result is always in ``[0, 1]`` and equals the research code's value
    whenever no term is negative. If every term is zero the value is 0.

    References
    ----------
    S. Zarifzadeh, P. Liu, R. Shokri, "Low-Cost High-Power Membership Inference Attacks",
    ICML 2024. A. de Brébisson, P. Vincent, "An Exploration of Softmax Alternatives Belonging
    to the Spherical Loss Family", ICLR 2016.

    Examples
    --------
    >>> taylor_softmax_from_logits([[2.0, 0.0, -1.0]], [0]).round(4)
    array([0.4817])
    """
    z, y = _logits_labels(logits, labels)
    t = _check_temperature(temperature)
    n = check_int("n (number of Taylor terms)", n, minimum=1)
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin!r}")
    u = z / t
    terms = _taylor(u, int(n))
    np.maximum(terms, 0.0, out=terms)
    u_y = np.take_along_axis(u, y[..., None], axis=-1)[..., 0]
    true_term = np.maximum(_taylor(u_y - float(margin), int(n)), 0.0)
    np.put_along_axis(terms, y[..., None], true_term[..., None], axis=-1)
    denom = terms.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 0, true_term / np.where(denom > 0, denom, 1.0), 0.0)
    return np.asarray(p, dtype=np.float64)
