"""Built-in offline datasets and loaders for user files.

Everything here works without a network: the built-in datasets come from data shipped inside
scikit-learn (``digits``, ``breast_cancer``, ``diabetes``, ``wine``, ``iris``) or are generated
from a seed (``synthetic_purchase``, ``synthetic_gaussian``). User data is read from ``.npz``,
CSV, the CIFAR-10/100 python batches, and the Purchase-100 / Texas-100 text formats. Text
records (for language models and text classifiers) are a :class:`TextDataset`, read from
``.txt``, ``.jsonl`` or a CSV text column (:func:`load_text`) or generated
(:func:`synthetic_records`).

Untrusted files are never unpickled freely: ``.npz`` archives are read with
``allow_pickle=False`` and the CIFAR pickles with :class:`RestrictedUnpickler`, which only
rebuilds numpy arrays.

The package: :mod:`~privmeter.datasets.dataset` (the :class:`Dataset` type and
:func:`split_indices`), :mod:`~privmeter.datasets.builtin` (the registry and the built-ins),
:mod:`~privmeter.datasets.files` (``.npz``, CSV, Purchase-100, Texas-100),
:mod:`~privmeter.datasets.cifar` (CIFAR batches and the restricted unpickler),
:mod:`~privmeter.datasets.text` (:class:`TextDataset`, the text loaders, member splits) and
:mod:`~privmeter.datasets.synthetic_text` (synthetic personal records). Import the public
names from ``privmeter.datasets``.

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
from privmeter.datasets.synthetic_text import (
    SYNTHETIC_RECORD_KINDS,
    SYNTHETIC_RECORDS_SOURCE,
    synthetic_records,
)
from privmeter.datasets.text import (
    TEXT_SOURCES,
    TextDataset,
    load_csv_text,
    load_jsonl,
    load_member_split,
    load_text,
    load_text_file,
    member_split,
)

__all__ = [
    "SYNTHETIC_RECORDS_SOURCE",
    "SYNTHETIC_RECORD_KINDS",
    "TASKS",
    "TEXT_SOURCES",
    "Dataset",
    "RestrictedUnpickler",
    "TextDataset",
    "list_datasets",
    "load_cifar",
    "load_csv",
    "load_csv_text",
    "load_dataset",
    "load_jsonl",
    "load_member_split",
    "load_npz",
    "load_purchase",
    "load_texas",
    "load_text",
    "load_text_file",
    "member_split",
    "register_dataset",
    "split_indices",
    "synthetic_records",
]


