"""Train one scikit-learn estimator on a subset of a dataset, seeded from one seed."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from privmeter.training._hashing import as_numpy, canonical_json, check_indices, check_seed

__all__ = ["SklearnTrainer", "sklearn_random_state"]


def sklearn_random_state(seed: int) -> int:
    """The 32-bit ``random_state`` derived from a job seed (scikit-learn needs < 2**32).

    Examples
    --------
    >>> sklearn_random_state(0) == sklearn_random_state(0)
    True
    """
    return int(np.random.SeedSequence(check_seed(seed)).generate_state(1, dtype=np.uint32)[0])


def _random_state_params(estimator: Any) -> list[str]:
    return [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]


@dataclass(frozen=True)
class SklearnTrainer:
    """``clone(estimator)``, seed it, fit it on the selected rows.

    Every ``random_state`` parameter of the clone (including nested ones such as
    ``classifier__random_state`` in a pipeline) is set to :func:`sklearn_random_state` of the
    job seed, so the same seed gives the same fitted model. Estimators without a
    ``random_state`` are fitted as they are.

    Fitted estimators are cached with ``skops.io`` and an explicit allow-list of types (see
    :class:`~privmeter.training.Store`); pickles only in a store opened with
    ``trust_pickle=True``.

    Parameters
    ----------
    estimator : scikit-learn estimator
        An unfitted template (it is never modified).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import SGDClassifier
    >>> trainer = SklearnTrainer(SGDClassifier(max_iter=20, tol=None))
    >>> x = np.random.default_rng(0).normal(size=(30, 3)); y = (x[:, 0] > 0).astype(int)
    >>> a = trainer.fit(x, y, np.arange(20), seed=4)
    >>> b = trainer.fit(x, y, np.arange(20), seed=4)
    >>> bool(np.array_equal(a.coef_, b.coef_))
    True
    """

    estimator: Any

    #: What :meth:`fit` returns, for the store: an object (stored with skops).
    result_kind: ClassVar[str] = "object"

    def __post_init__(self) -> None:
        for attr in ("fit", "get_params", "set_params"):
            if not callable(getattr(self.estimator, attr, None)):
                raise TypeError(
                    f"estimator must be a scikit-learn estimator (with fit/get_params/set_params),"
                    f" got {self.estimator!r}"
                )

    @functools.cached_property
    def _fingerprint(self) -> str:
        import sklearn
        from sklearn.base import clone

        # The template's own random_state never matters (fit replaces it): leave it out, so
        # e.g. a RandomState object (whose repr holds a memory address) is no obstacle.
        template = clone(self.estimator)
        template.set_params(**{name: None for name in _random_state_params(template)})
        return canonical_json(
            {
                "trainer": f"{type(self).__module__}.{type(self).__qualname__}",
                "estimator": template,
                "sklearn": sklearn.__version__,
            }
        )

    def fingerprint(self) -> str:
        """Canonical JSON of the estimator class, its parameters and scikit-learn's version."""
        return self._fingerprint

    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> Any:
        """Fit a clone of the estimator on ``x[indices], y[indices]`` and return it."""
        from sklearn.base import clone

        seed = check_seed(seed)
        xs, ys = as_numpy(x), as_numpy(y)
        if xs.shape[0] != ys.shape[0]:
            raise ValueError(f"x has {xs.shape[0]} rows but y has {ys.shape[0]}")
        idx = check_indices(indices, int(xs.shape[0]))
        est = clone(self.estimator)
        state = sklearn_random_state(seed)
        updates = {name: state for name in _random_state_params(est)}
        if updates:
            est.set_params(**updates)
        est.fit(xs[idx], ys[idx])
        return est
