"""The built-in signals: loss, logit margin, probabilities, entropies, label-only, white-box.

Each signal function takes ``(model_access, x, y)`` and returns one float64 value per point;
its docstring gives the formula and the paper. :func:`probability_signal`,
:func:`taylor_softmax_signal` and :func:`robustness_signal` build parametrised signals.
Importing this module registers the built-ins (:mod:`privmeter.signals` does it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter._validation import check_int
from privmeter.models.base import ModelAccess, access_rank, describe_rows, log_proba_as_logits
from privmeter.signals.augment import Augmentation, GaussianNoise
from privmeter.signals.numerics import (
    _check_temperature,
    cross_entropy_from_logits,
    entropy_from_logits,
    logit_margin_from_logits,
    modified_entropy_from_logits,
    probability_from_logits,
    taylor_softmax_from_logits,
)
from privmeter.signals.registry import Signal, register_signal

__all__ = [
    "CORRECTNESS",
    "ENTROPY",
    "GRAD_NORM",
    "LOGIT_MARGIN",
    "LOSS",
    "MODIFIED_ENTROPY",
    "SQUARED_ERROR",
    "probability_signal",
    "robustness_signal",
    "taylor_softmax_signal",
]


def _class_scores(model: ModelAccess, x: Any) -> NDArray[np.float64]:
    """Logits, or log-probabilities (same softmax) for a probability-only model."""
    if access_rank(model.access) >= access_rank("logits"):
        return model.logits(x)
    return log_proba_as_logits(model.proba(x))


def _scores_and_labels(
    model: ModelAccess, x: Any, y: Any
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    z = _class_scores(model, x)
    labels = model.label_index(y)
    if labels.shape[0] != z.shape[0]:
        raise ValueError(f"x has {z.shape[0]} rows but y has {labels.shape[0]} labels")
    return z, labels


def _logit_margin(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Logit margin ``phi = z_y - logsumexp_{j != y} z_j`` (signal ``"logit_margin"``).

    LiRA's "logit scaling" ``log p_y - log(1 - p_y)`` (Carlini, Chien, Nasr, Song, Terzis,
    Tramèr, "Membership Inference Attacks From First Principles", IEEE S&P 2022), computed
    from the logits with :func:`~privmeter.signals.numerics.logit_margin_from_logits`; from
    probabilities as ``log p_y - log(sum_{j != y} p_j)``, never from ``1 - p_y``.
    Higher = member.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.75, 0.25], (len(x), 1)), n_classes=2)
    >>> from privmeter.signals import get_signal
    >>> get_signal("logit_margin")(api, np.zeros((1, 1)), [0]).round(4)  # log 3
    array([1.0986])
    """
    z, labels = _scores_and_labels(model, x, y)
    return logit_margin_from_logits(z, labels)


def _loss(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Cross-entropy loss ``softplus(-phi)`` (signal ``"loss"``; lower = member).

    The LOSS attack's signal (Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine
    Learning: Analyzing the Connection to Overfitting", IEEE CSF 2018), computed from the
    logit margin so that confident points do not all tie at 0 (see
    :func:`cross_entropy_from_logits`).

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.5, 0.5], (len(x), 1)), n_classes=2)
    >>> from privmeter.signals import get_signal
    >>> get_signal("loss")(api, np.zeros((1, 1)), [0]).round(4)  # log 2
    array([0.6931])
    """
    z, labels = _scores_and_labels(model, x, y)
    return cross_entropy_from_logits(z, labels)


def _entropy(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Prediction entropy ``-sum_j p_j log p_j`` (signal ``"entropy"``; lower = member).

    Label-free confidence signal (Salem, Zhang, Humbert, Berrang, Fritz, Backes, "ML-Leaks",
    NDSS 2019; evaluated by Song & Mittal, USENIX Security 2021). ``y`` is only checked.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.5, 0.5], (len(x), 1)), n_classes=2)
    >>> from privmeter.signals import get_signal
    >>> get_signal("entropy")(api, np.zeros((1, 1)), [0]).round(4)
    array([0.6931])
    """
    z, _ = _scores_and_labels(model, x, y)
    return entropy_from_logits(z)


def _modified_entropy(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Modified entropy (signal ``"modified_entropy"``; lower = member).

    ``-(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)`` from Song, Mittal, "Systematic
    Evaluation of Privacy Risks of Machine Learning Models", USENIX Security 2021: monotone in
    the true-class probability, unlike the entropy. See :func:`modified_entropy_from_logits`.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.8, 0.2], (len(x), 1)), n_classes=2)
    >>> from privmeter.signals import get_signal
    >>> get_signal("modified_entropy")(api, np.zeros((1, 1)), [0]).round(4)
    array([0.0893])
    """
    z, labels = _scores_and_labels(model, x, y)
    return modified_entropy_from_logits(z, labels)


def _correctness(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """``1[predicted class = y]`` (signal ``"correctness"``; label-only; higher = member).

    The "gap attack" of Yeom et al., IEEE CSF 2018, and the baseline of Choquette-Choo,
    Tramèr, Carlini, Papernot, "Label-Only Membership Inference Attacks", ICML 2021.

    Examples
    --------
    >>> from privmeter.models import LabelOnlyModel
    >>> model = LabelOnlyModel(lambda x: np.zeros(len(x), dtype=int), n_classes=3)
    >>> from privmeter.signals import get_signal
    >>> get_signal("correctness")(model, np.zeros((2, 1)), [0, 2])
    array([1., 0.])
    """
    predicted = model.label_index(model.predict(x))
    labels = model.label_index(y)
    return np.asarray(predicted == labels, dtype=np.float64)


def _squared_error(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Squared error ``||f(x) - y||^2`` of a regressor (signal ``"squared_error"``).

    The regression analogue of the LOSS attack (Yeom et al., IEEE CSF 2018); lower = member.
    Multi-output predictions are summed over outputs.
    """
    pred = np.asarray(model.predict(x), dtype=np.float64)
    target = np.asarray(y)
    if target.dtype == object or not np.issubdtype(target.dtype, np.number):
        raise ValueError(f"regression targets must be numeric, got dtype {target.dtype}")
    target = target.astype(np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1 and target.ndim == 1:
        pred = pred[:, 0]
    if target.ndim == 2 and target.shape[1] == 1 and pred.ndim == 1:
        target = target[:, 0]
    if pred.shape != target.shape:
        raise ValueError(
            f"{model!r} predicts outputs of shape {pred.shape} but y has shape {target.shape}"
        )
    bad = ~np.isfinite(target.reshape(target.shape[0], -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"regression targets y are NaN or infinite in {describe_rows(bad)}")
    diff = (pred - target).reshape(pred.shape[0], -1)
    return np.asarray((diff * diff).sum(axis=1), dtype=np.float64)


def _grad_norm(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Per-sample gradient norm ``||d loss(x, y) / d theta||_2`` (signal ``"grad_norm"``).

    White-box signal: training drives members' gradients towards zero (Nasr, Shokri,
    Houmansadr, "Comprehensive Privacy Analysis of Deep Learning", IEEE S&P 2019). Lower =
    member. Needs ``"grad"`` access (:class:`~privmeter.models.TorchModel`).
    """
    method = getattr(model, "per_sample_grad_norm", None)
    if method is None:
        raise ValueError(f"{model!r} has no per_sample_grad_norm method (white-box access)")
    return np.asarray(method(x, y), dtype=np.float64)


# ---------------------------------------------------------------------------- factories
# keys of privmeter.references.REFERENCES; Signal resolves them into its ``paper``
_LIRA = ("carlini2022",)
_RMIA = ("zarifzadeh2024",)
_YEOM = ("yeom2018",)
_SONG = ("song2021",)
_LABEL_ONLY = ("choquettechoo2021",)
_NASR = ("nasr2019",)


def probability_signal(temperature: float = 1.0, *, name: str = "probability") -> Signal:
    """True-class probability ``softmax(z / T)_y`` (higher = member).

    The tempered softmax confidence is RMIA's ``Pr(x | theta)`` (Zarifzadeh, Liu, Shokri,
    "Low-Cost High-Power Membership Inference Attacks", ICML 2024). From probabilities
    alone it is ``softmax(log p / T)_y``, the same value.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.8, 0.2], (len(x), 1)), n_classes=2)
    >>> probability_signal(temperature=1.0)(api, np.zeros((1, 1)), [0]).round(4)
    array([0.8])
    >>> probability_signal(temperature=2.0)(api, np.zeros((1, 1)), [0]).round(4)  # 2 / 3
    array([0.6667])
    """
    t = _check_temperature(temperature)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """True-class probability ``softmax(z / T)_y`` (higher = member).

        Tempered softmax confidence, RMIA's ``Pr(x | theta)`` (Zarifzadeh, Liu, Shokri,
        "Low-Cost High-Power Membership Inference Attacks", ICML 2024).
        """
        z, labels = _scores_and_labels(model, x, y)
        return probability_from_logits(z, labels, temperature=t)

    return Signal(name=name, fn=fn, higher_is_member=True, kind="probability",
                  requires="proba", cites=_RMIA, params={"temperature": t})


def taylor_softmax_signal(
    n: int = 4, margin: float = 0.6, temperature: float = 2.0, *, name: str = "taylor_softmax"
) -> Signal:
    """Soft-margin Taylor softmax of the true class (higher = member); needs raw logits.

    RMIA's best signal on CIFAR-10 (Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership
    Inference Attacks", ICML 2024), defaults ``n=4``, ``m=0.6``, ``T=2`` from its code. See
    :func:`taylor_softmax_from_logits` for the formula and the handling of negative terms.

    Examples
    --------
    >>> sig = taylor_softmax_signal()
    >>> sig.requires, sig.params
    ('logits', {'n': 4, 'margin': 0.6, 'temperature': 2.0})
    """
    t = _check_temperature(temperature)
    n = check_int("n (number of Taylor terms)", n, minimum=1)
    m = float(margin)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """Soft-margin Taylor softmax of the true class (higher = member).

        RMIA's signal (Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership Inference
        Attacks", ICML 2024); see :func:`taylor_softmax_from_logits`.
        """
        z, labels = _scores_and_labels(model, x, y)
        return taylor_softmax_from_logits(z, labels, n=n, margin=m, temperature=t)

    return Signal(name=name, fn=fn, higher_is_member=True, kind="probability",
                  requires="logits", cites=(*_RMIA, "debrebisson2016"),
                  params={"n": n, "margin": m, "temperature": t})


def robustness_signal(
    augmentation: Augmentation | None = None, *, name: str = "robustness"
) -> Signal:
    """Fraction of perturbed queries still classified correctly (label-only; higher = member).

    Choquette-Choo, Tramèr, Carlini, Papernot, "Label-Only Membership Inference Attacks",
    ICML 2021: training points are more robust to perturbations than unseen points, which a
    label-only attacker measures by querying perturbed copies.

    Parameters
    ----------
    augmentation : Augmentation, optional
        The perturbations. Default: ``GaussianNoise(n_queries=8, sigma=0.1, seed=0)``; for
        images, :class:`FlipShift` gives the paper's data-augmentation attack.

    Examples
    --------
    >>> from privmeter.models import LabelOnlyModel
    >>> model = LabelOnlyModel(lambda x: (np.asarray(x)[:, 0] > 0).astype(int), n_classes=2)
    >>> sig = robustness_signal(GaussianNoise(n_queries=100, sigma=1.0, seed=0))
    >>> values = sig(model, np.array([[5.0], [0.1]]), [1, 1])
    >>> bool(values[0] == 1.0), bool(0.3 < values[1] < 0.8)
    (True, True)
    """
    aug = augmentation if augmentation is not None else GaussianNoise(8, 0.1, 0)
    if not isinstance(aug, Augmentation):
        raise TypeError(f"augmentation must be an Augmentation, got {type(aug).__name__}")
    return Signal(name=name, fn=_correctness, higher_is_member=True, kind="custom",
                  requires="label", queries=aug, cites=_LABEL_ONLY,
                  params={"augmentation": repr(aug)})


LOGIT_MARGIN = Signal(
    name="logit_margin", fn=_logit_margin, higher_is_member=True, kind="logit_margin",
    requires="proba", cites=_LIRA,
)
LOSS = Signal(
    name="loss", fn=_loss, higher_is_member=False, kind="loss", requires="proba", cites=_YEOM,
)
ENTROPY = Signal(
    name="entropy", fn=_entropy, higher_is_member=False, kind="custom", requires="proba",
    cites=("salem2019", *_SONG),
)
MODIFIED_ENTROPY = Signal(
    name="modified_entropy", fn=_modified_entropy, higher_is_member=False, kind="custom",
    requires="proba", cites=_SONG,
)
CORRECTNESS = Signal(
    name="correctness", fn=_correctness, higher_is_member=True, kind="custom",
    requires="label", cites=_YEOM + _LABEL_ONLY,
)
SQUARED_ERROR = Signal(
    name="squared_error", fn=_squared_error, higher_is_member=False, kind="custom",
    requires="label", task="regression", cites=_YEOM,
)
GRAD_NORM = Signal(
    name="grad_norm", fn=_grad_norm, higher_is_member=False, kind="custom", requires="grad",
    task="any", cites=_NASR,
)

for _sig in (
    LOGIT_MARGIN,
    probability_signal(),
    LOSS,
    taylor_softmax_signal(),
    ENTROPY,
    MODIFIED_ENTROPY,
    CORRECTNESS,
    robustness_signal(),
    SQUARED_ERROR,
    GRAD_NORM,
):
    register_signal(_sig)
del _sig
