"""YAML audit configuration: validated with pydantic, errors that name the key and the value.

Example (every key optional except ``data.source``)::

    game: model                 # model | algorithm | record
    seed: 0
    data:
      source: digits            # a built-in dataset, or npz | csv | cifar10 | cifar100 |
                                # purchase | texas (with path)
      path: null
      label_column: label       # csv
      population_fraction: null  # 0.3; 0.6 for the offline model game
    model:
      architecture: mlp         # logistic | mlp | cnn | wide_resnet | sklearn | factory
      options: {hidden: [128, 128]}
      sklearn: null             # e.g. RandomForestClassifier (with architecture: sklearn)
      factory: null             # "package.module:function" returning an nn.Module
    training: {optimizer: adam, lr: 0.001, epochs: 50, batch_size: 32, weight_decay: 0.0}
    target:                     # optional: audit your own trained model (model game)
      weights: null             # a state_dict file (torch.save) for the architecture above
      train_indices: null       # .npy file or list of the target's training rows
    references: {count: 8, online: true, vectorized: true}
    signal: {name: logit_margin, augmentations: none, n_queries: 2}
    attacks: [loss, population, reference, lira, {name: rmia, params: {online: false}}]
    report: {title: null, formats: [html, json, csv, png, pdf]}
    cache: null                 # a folder for the content-addressed cache
    executor: inprocess         # inprocess | process | ray

Relative paths in a config file (``data.path``, ``data.labels_path``, ``target.weights``,
``target.train_indices``, ``cache``) are relative to the folder of the config file; paths given
with ``--set`` are relative to the working directory.

Running a config someone sent you is safe: loading it imports nothing. ``model.factory`` is
resolved only from a Python file beside the config (``mymod:make`` with ``mymod.py`` beside it)
or from a module the user allows explicitly (``--allow-module pkg``, ``allow_modules=``); any
other module is refused before it is imported. Nothing read from ``cache`` runs code unless
``--trust-pickles`` is given.
"""

from __future__ import annotations

from privmeter.config.build import _config_words as _config_words
from privmeter.config.build import _load_dataset as _load_dataset
from privmeter.config.build import _resolve as _resolve
from privmeter.config.build import build_audit
from privmeter.config.factories import _import_factory as _import_factory
from privmeter.config.factories import _module_file as _module_file
from privmeter.config.factories import _sklearn_estimator as _sklearn_estimator
from privmeter.config.schema import PATH_KEYS as PATH_KEYS
from privmeter.config.schema import AttackEntry as AttackEntry
from privmeter.config.schema import AuditConfig, ConfigError, apply_overrides, load_config
from privmeter.config.schema import DataConfig as DataConfig
from privmeter.config.schema import ModelConfig as ModelConfig
from privmeter.config.schema import ReferencesConfig as ReferencesConfig
from privmeter.config.schema import ReportConfig as ReportConfig
from privmeter.config.schema import SignalConfig as SignalConfig
from privmeter.config.schema import TargetConfig as TargetConfig
from privmeter.config.schema import TrainingConfig as TrainingConfig
from privmeter.config.schema import check_attack_params as check_attack_params

__all__ = ["AuditConfig", "ConfigError", "apply_overrides", "build_audit", "load_config"]
