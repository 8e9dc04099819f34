"""DP-SGD for :class:`~privmeter.training.TorchTrainer`: configuration, accounting, Opacus glue.

DP-SGD (Abadi et al., ACM CCS 2016, ``abadi2016``) clips each example's gradient to norm
``max_grad_norm``, sums the clipped gradients of a Poisson-sampled batch (each training point
joins each step independently with probability ``q``) and adds Gaussian noise of standard
deviation ``noise_multiplier * max_grad_norm``. Per-example gradients and the noisy step come
from Opacus (Yousefpour et al. 2021, ``yousefpour2021``: ``GradSampleModule`` and
``DPOptimizer``); the privacy guarantee is computed from the configuration alone by two
accountants: Rényi DP (Mironov 2017, ``mironov2017``) and the privacy random variable accountant
(Gopi, Lee & Wutschitz 2021, ``gopi2021``). The one named by :attr:`DPConfig.accountant` gives
the *claimed* epsilon; both are always reported.

The sampling follows Opacus' ``make_private`` exactly: with ``n`` training points and batch
size ``B``, an epoch has ``ceil(n / B)`` steps and the sampling rate is
``q = 1 / ceil(n / B)`` (expected batch ``q n``, about ``B``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from privmeter._validation import is_real

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ACCOUNTANTS",
    "PRV_MAX_EPSILON",
    "AccountantName",
    "DPConfig",
    "check_dp_model",
    "dp_sample_rate",
    "dp_steps",
    "privacy_spent",
]

AccountantName = Literal["rdp", "prv"]
ACCOUNTANTS: tuple[str, ...] = ("rdp", "prv")


def _positive(name: str, value: Any) -> float:
    if not is_real(value) or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class DPConfig:
    """Differentially private training (DP-SGD) settings for :class:`TorchTrainer`.

    Give exactly one of ``noise_multiplier`` (the noise is fixed; epsilon follows from it) and
    ``target_epsilon`` (Opacus' ``get_noise_multiplier`` finds the smallest noise whose
    epsilon, by the chosen accountant, is at most the target for the training-set size).

    Parameters
    ----------
    delta : float
        The delta of the (epsilon, delta) guarantee; must be below ``1 / n`` for ``n``
        training points (checked at training time; ``1 / (10 n)`` is a common choice).
    noise_multiplier : float, optional
        Noise standard deviation over ``max_grad_norm`` (sigma); 0 is refused.
    target_epsilon : float, optional
        The epsilon to reach at ``delta`` after all the trainer's epochs.
    max_grad_norm : float
        Per-example gradient clipping norm ``C``.
    poisson_sampling : bool
        Poisson-sample each batch (each point independently with probability ``q``), as the
        accountants assume. ``False`` uses shuffled fixed-size batches (the trainer's usual
        loop); the accountants' figure is then the customary approximation, not a proof.
    accountant : {"rdp", "prv"}
        The accountant whose epsilon is *claimed* (and used to find the noise for
        ``target_epsilon``). Both are always reported by :func:`privacy_spent`.

    Examples
    --------
    >>> cfg = DPConfig(noise_multiplier=1.0, delta=1e-5, max_grad_norm=1.0)
    >>> cfg.accountant, cfg.poisson_sampling
    ('rdp', True)
    >>> DPConfig(noise_multiplier=1.0, target_epsilon=2.0, delta=1e-5)
    Traceback (most recent call last):
    ...
    ValueError: give exactly one of noise_multiplier and target_epsilon, got both (noise_multiplier=1.0, target_epsilon=2.0)
    """  # noqa: E501

    delta: float
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    max_grad_norm: float = 1.0
    poisson_sampling: bool = True
    accountant: AccountantName = "rdp"

    def __post_init__(self) -> None:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            got = (
                "neither" if self.noise_multiplier is None
                else f"both (noise_multiplier={self.noise_multiplier!r}, "
                f"target_epsilon={self.target_epsilon!r})"
            )
            raise ValueError(
                f"give exactly one of noise_multiplier and target_epsilon, got {got}"
            )
        if self.noise_multiplier is not None:
            object.__setattr__(
                self, "noise_multiplier", _positive("noise_multiplier", self.noise_multiplier)
            )
        if self.target_epsilon is not None:
            object.__setattr__(
                self, "target_epsilon", _positive("target_epsilon", self.target_epsilon)
            )
        if not is_real(self.delta) or not 0.0 < float(self.delta) < 1.0:
            raise ValueError(
                f"delta must be a number in (0, 1) (below 1/n for n training points, e.g. "
                f"1/(10 n)), got {self.delta!r}"
            )
        object.__setattr__(self, "delta", float(self.delta))
        object.__setattr__(self, "max_grad_norm", _positive("max_grad_norm", self.max_grad_norm))
        if not isinstance(self.poisson_sampling, bool):
            raise ValueError(
                f"poisson_sampling must be True or False, got {self.poisson_sampling!r}"
            )
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(
                f"unknown accountant {self.accountant!r}; expected one of {ACCOUNTANTS}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (the keys of the constructor).

        Examples
        --------
        >>> DPConfig(noise_multiplier=1.0, delta=1e-5).to_dict()["noise_multiplier"]
        1.0
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DPConfig:
        """Inverse of :meth:`to_dict`; unknown keys are named in the error.

        Examples
        --------
        >>> DPConfig.from_dict({"target_epsilon": 3, "delta": 1e-5}).target_epsilon
        3.0
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown DP setting(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**d)

    def check_delta(self, n_points: int) -> None:
        """Refuse ``delta >= 1 / n_points``: such a delta allows leaking a whole record.

        Examples
        --------
        >>> DPConfig(noise_multiplier=1.0, delta=0.01).check_delta(1000)
        Traceback (most recent call last):
        ...
        ValueError: delta=0.01 is not below 1/n = 0.001 for n=1000 training points: a mechanism that publishes one random record in full is (0, 1/n)-DP; use delta <= 1/(10 n) = 0.0001
        """  # noqa: E501
        n = int(n_points)
        if n < 1:
            raise ValueError(f"need at least one training point, got n={n}")
        if self.delta >= 1.0 / n:
            raise ValueError(
                f"delta={self.delta:g} is not below 1/n = {1.0 / n:.3g} for n={n} training "
                f"points: a mechanism that publishes one random record in full is (0, 1/n)-DP; "
                f"use delta <= 1/(10 n) = {1.0 / (10 * n):.3g}"
            )


def dp_steps_per_epoch(n_points: int, batch_size: int) -> int:
    """Optimizer steps per epoch: ``ceil(n / B)`` (as Opacus' ``make_private``)."""
    return -(-int(n_points) // int(batch_size))


def dp_sample_rate(n_points: int, batch_size: int) -> float:
    """Poisson sampling rate ``q = 1 / ceil(n / B)`` (as Opacus' ``DPDataLoader``).

    Examples
    --------
    >>> dp_sample_rate(1000, 64)
    0.0625
    """
    return 1.0 / dp_steps_per_epoch(n_points, batch_size)


def dp_steps(n_points: int, batch_size: int, epochs: int) -> int:
    """Total DP-SGD steps of ``epochs`` epochs."""
    return int(epochs) * dp_steps_per_epoch(n_points, batch_size)


#: Above this RDP epsilon the PRV accountant is skipped unless it is the claimed one.
PRV_MAX_EPSILON = 64.0


@functools.lru_cache(maxsize=256)
def _epsilon(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants import PRVAccountant, RDPAccountant

    acc: Any = RDPAccountant() if accountant == "rdp" else PRVAccountant()
    acc.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha" and similar
        return float(acc.get_epsilon(delta=delta))


@functools.lru_cache(maxsize=256)
def _noise_for_target(
    accountant: str, target: float, q: float, steps: int, delta: float
) -> float:
    from opacus.accountants.utils import MAX_SIGMA, get_noise_multiplier

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(
                get_noise_multiplier(
                    target_epsilon=target, target_delta=delta, sample_rate=q, steps=steps,
                    accountant=accountant,
                )
            )
    except (ValueError, RuntimeError, OverflowError) as err:
        raise ValueError(
            f"target_epsilon={target:g} cannot be reached at delta={delta:g} with these "
            f"settings (sampling rate q={q:.4g}, {steps} steps, accountant {accountant!r}): "
            f"even noise_multiplier={MAX_SIGMA:g} gives a larger epsilon ({err}); raise "
            "target_epsilon or delta, train fewer epochs, or use a smaller batch size"
        ) from err


def resolve_noise_multiplier(
    dp: DPConfig, *, n_points: int, batch_size: int, epochs: int
) -> float:
    """The noise multiplier training uses: the configured one, or the one for the target."""
    if dp.noise_multiplier is not None:
        return dp.noise_multiplier
    assert dp.target_epsilon is not None
    q = dp_sample_rate(n_points, batch_size)
    return _noise_for_target(
        dp.accountant, dp.target_epsilon, q, dp_steps(n_points, batch_size, epochs), dp.delta
    )


def privacy_spent(
    dp: DPConfig, *, n_points: int, batch_size: int, epochs: int
) -> dict[str, Any]:
    """The accountants' (epsilon, delta) for one training run, from the settings alone.

    Returns a JSON-able dict: ``epsilon`` (the claimed one, by ``dp.accountant``),
    ``accountant``, ``epsilon_rdp`` (Mironov 2017), ``epsilon_prv`` (Gopi et al. 2021; None
    when the RDP epsilon exceeds :data:`PRV_MAX_EPSILON` and PRV is not the claimed
    accountant: its grid then takes minutes, for a vacuous guarantee),
    ``delta``, ``noise_multiplier``, ``sample_rate``, ``steps``, ``max_grad_norm``,
    ``n_points``, ``poisson_sampling``.

    Examples
    --------
    >>> dp = DPConfig(noise_multiplier=1.0, delta=1e-5)
    >>> spent = privacy_spent(dp, n_points=1000, batch_size=100, epochs=10)
    >>> spent["steps"], spent["sample_rate"], round(spent["epsilon_rdp"], 2)
    (100, 0.1, 7.9)
    """
    n = int(n_points)
    dp.check_delta(n)
    q = dp_sample_rate(n, batch_size)
    steps = dp_steps(n, batch_size, epochs)
    sigma = resolve_noise_multiplier(dp, n_points=n, batch_size=batch_size, epochs=epochs)
    eps: dict[str, float | None] = {"rdp": _epsilon("rdp", sigma, q, steps, dp.delta)}
    rdp = eps["rdp"]
    assert rdp is not None
    if rdp <= PRV_MAX_EPSILON or dp.accountant == "prv":
        eps["prv"] = _epsilon("prv", sigma, q, steps, dp.delta)
    else:
        eps["prv"] = None
    return {
        "epsilon": eps[dp.accountant],
        "accountant": dp.accountant,
        "epsilon_rdp": eps["rdp"],
        "epsilon_prv": eps["prv"],
        "delta": dp.delta,
        "noise_multiplier": sigma,
        "sample_rate": q,
        "steps": steps,
        "max_grad_norm": dp.max_grad_norm,
        "n_points": n,
        "poisson_sampling": dp.poisson_sampling,
    }


def check_dp_model(model: nn.Module) -> None:
    """Refuse modules DP-SGD cannot train (Opacus' ``ModuleValidator``), e.g. BatchNorm.

    Raises
    ------
    ValueError
        Naming the offending layers, with Opacus' reasons; for BatchNorm it suggests
        GroupNorm (``opacus.validators.ModuleValidator.fix`` replaces it automatically).
    """
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if not errors:
        return
    bn = [
        name for name, mod in model.named_modules()
        if type(mod).__name__.startswith(("BatchNorm", "SyncBatchNorm"))
    ]
    if bn:
        raise ValueError(
            f"the model has BatchNorm layer(s) {bn}, which are incompatible with DP-SGD: "
            "BatchNorm mixes the examples of a batch, so one example's gradient depends on the "
            "others and cannot be clipped on its own. Use GroupNorm (or LayerNorm / "
            "InstanceNorm) instead; opacus.validators.ModuleValidator.fix(model) swaps "
            "BatchNorm for GroupNorm"
        )
    reasons = "; ".join(str(e) for e in errors)
    raise ValueError(f"the model cannot be trained with DP-SGD (Opacus): {reasons}")


def make_dp_step(
    model: nn.Module,
    optimizer: Any,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: float,
    noise_seed: int,
) -> tuple[Any, Any]:
    """Wrap ``model`` in Opacus' ``GradSampleModule`` and ``optimizer`` in ``DPOptimizer``.

    The per-example losses must be *summed* before ``backward`` (the grad-sample module then
    holds true per-example gradients, also for an empty Poisson batch); ``DPOptimizer``
    clips them, adds ``N(0, (sigma C)^2)`` noise from a private generator seeded with
    ``noise_seed`` (``secure_mode=False``: reproducible) and divides by the expected batch
    size.
    """
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(model, loss_reduction="sum")
    dp_opt = DPOptimizer(
        optimizer,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        loss_reduction="mean",
        generator=torch.Generator().manual_seed(noise_seed),
        secure_mode=False,
    )
    return gsm, dp_opt
