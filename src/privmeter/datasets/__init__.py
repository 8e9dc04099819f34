"""Built-in offline datasets and loaders for user files.

Everything here works without a network: the built-in datasets come from data shipped inside
scikit-learn (``digits``, ``breast_cancer``, ``diabetes``, ``wine``, ``iris``) or are generated
from a seed (``synthetic_purchase``, ``synthetic_gaussian``). User data is read from ``.npz``,
CSV, the CIFAR-10/100 python batches, and the Purchase-100 / Texas-100 text formats.

Untrusted files are never unpickled freely: ``.npz`` archives are read with
``allow_pickle=False`` and the CIFAR pickles with :class:`RestrictedUnpickler`, which only
rebuilds numpy arrays.

The package: :mod:`~privmeter.datasets.dataset` (the :class:`Dataset` type and
:func:`split_indices`), :mod:`~privmeter.datasets.builtin` (the registry and the built-ins),
:mod:`~privmeter.datasets.files` (``.npz``, CSV, Purchase-100, Texas-100) and
:mod:`~privmeter.datasets.cifar` (CIFAR batches and the restricted unpickler). Import the
public names from ``privmeter.datasets``.

Examples
--------
>>> from privmeter.datasets import load_dataset, split_indices
>>> ds = load_dataset("digits")
>>> ds.x.shape, ds.x.dtype, ds.n_classes
((1797, 1, 8, 8), dtype('float32'), 10)
>>> train, population = split_indices(len(ds), [0.5, 0.5], seed=0)
>>> len(train), len(population)
(899, 898)
"""

from __future__ import annotations

# private helpers other modules import from here
from privmeter._names import _close_names as _close_names
from privmeter._names import _closest_names as _closest_names
from privmeter.datasets.builtin import list_datasets, load_dataset, register_dataset
from privmeter.datasets.cifar import RestrictedUnpickler, load_cifar
from privmeter.datasets.dataset import TASKS, Dataset, split_indices
from privmeter.datasets.dataset import PathLike as PathLike
from privmeter.datasets.dataset import SeedLike as SeedLike
from privmeter.datasets.dataset import Task as Task
from privmeter.datasets.files import load_csv, load_npz, load_purchase, load_texas

__all__ = [
    "TASKS",
    "Dataset",
    "RestrictedUnpickler",
    "list_datasets",
    "load_cifar",
    "load_csv",
    "load_dataset",
    "load_npz",
    "load_purchase",
    "load_texas",
    "register_dataset",
    "split_indices",
]


