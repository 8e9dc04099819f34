"""Bad input, row by row: each case must fail with a clear message (and exit code 2 on the CLI).

The table keeps the kinds of input a probe of the API, the CLI and configs tried (issue 9):
every row is ``(input, expected message fragment, exit code)``. CLI rows call
:func:`privmeter.cli.main` in-process and also check that the error is one line on stderr;
config rows write the YAML to a temporary folder; API rows call the function and expect a
``ValueError``/``TypeError`` (``exit`` is None). No row trains a model: every check happens
before training.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import privmeter as pm
from privmeter.cli import main


# ----------------------------------------------------------------------------- fixtures
class _Evil:
    """Unpickling this runs ``os.system``: the payload of every malicious-pickle row."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _make_files(d: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    rows = "\n".join(f"{a:.3f},{b:.3f},{c:.3f},{t}" for (a, b, c), t in zip(x, y, strict=True))
    (d / "ok.csv").write_text("mean_radius,worst_area,texture,label\n" + rows + "\n")
    big = rows.split("\n")
    big[5] = "3e38,0.1,0.2,1"
    (d / "big32.csv").write_text("mean_radius,worst_area,texture,label\n" + "\n".join(big) + "\n")
    big[5] = "0.1,1e308,0.2,1"
    (d / "big64.csv").write_text("mean_radius,worst_area,texture,label\n" + "\n".join(big) + "\n")
    nan = rows.split("\n")
    nan[3] = "nan,0.1,0.2,0"
    (d / "nan.csv").write_text("mean_radius,worst_area,texture,label\n" + "\n".join(nan) + "\n")
    (d / "empty.csv").write_text("mean_radius,worst_area,texture,label\n")
    np.savez(d / "ok.npz", x=x.astype(np.float32), y=y)
    np.savez(d / "objects.npz", x=np.array([{}, 1], dtype=object), y=np.array([0, 1]))
    np.savez(d / "text.npz", x=np.array([["a", "b"]] * 4), y=np.array([0, 1, 0, 1]))
    (d / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (d / "a_folder").mkdir()
    os.mkfifo(d / "fifo")
    # target model files for digits (64 features, 10 classes), built-in logistic regression
    torch.save({"junk": 1}, d / "not_a_state_dict.pt")
    (d / "garbage.pt").write_bytes(b"\x00\x01 definitely not torch")
    torch.save({"linear.weight": torch.zeros(3, 5), "linear.bias": torch.zeros(3)},
               d / "wrong_shape.pt")
    with open(d / "evil.pt", "wb") as fh:
        pickle.dump(_Evil(d / "MARKER"), fh)
    np.save(d / "obj_idx.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.save(d / "float_idx.npy", np.array([0.5, 1.5]))
    np.save(d / "idx_2d.npy", np.arange(6).reshape(2, 3))
    np.save(d / "idx.npy", np.arange(10))
    # a malicious CIFAR-10 folder: every batch file a code-carrying pickle
    cifar = d / "cifar"
    cifar.mkdir()
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        with open(cifar / name, "wb") as fh:
            pickle.dump(_Evil(d / "MARKER"), fh)
    # results files
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "string.json").write_text('"results"')
    (d / "number.json").write_text("3")
    (d / "null.json").write_text("null")
    (d / "no_results.json").write_text('{"title": "x", "card": {}}')
    (d / "results_str.json").write_text('{"results": "none"}')
    (d / "not_json.json").write_text("{not json")
    (d / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "deep.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (d / "a_file").write_text("x")
    # saved reports whose companion files were tampered with
    import shutil

    import privmeter as pm
    from privmeter.report import AuditReport, RecordData

    mem = rng.random((2, 20)) < 0.5
    res = pm.run_attack("loss", pm.SignalTable(rng.normal(size=(2, 20)) + mem, mem))
    AuditReport([res], card={"game": "model"},
                records=RecordData(point_ids=res.point_ids, images=rng.random((20, 4, 4)))
                ).save(d / "rep", formats=("json",))
    shutil.copytree(d / "rep", d / "rep_pickled_images")
    np.save(d / "rep_pickled_images" / "images.npy", np.array([os.system, 1], dtype=object),
            allow_pickle=True)
    shutil.copytree(d / "rep", d / "rep_no_images")
    (d / "rep_no_images" / "images.npy").unlink()
    # factories beside a config
    (d / "mymod.py").write_text(
        "import torch\n"
        "def wide():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(7, 10))\n"
        "def few_classes():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))\n"
        "def broken():\n    raise RuntimeError('negative dimension -5')\n"
        "def identity():\n    return torch.nn.Identity()\n"
        "NOT_CALLABLE = 3\n"
    )
    (d / "json.py").write_text("def make():\n    raise SystemExit('shadow module ran')\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad_input")
    _make_files(d)
    return d


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A FIFO or /dev/zero must be refused without reading: fail rather than hang."""
    if hasattr(signal, "SIGALRM"):
        def on_alarm(signum: int, frame: Any) -> None:
            raise TimeoutError("a bad-input case hung")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(60)
        yield
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    else:  # pragma: no cover
        yield


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    """One bad input: ``kind`` is ``yaml`` (config text for ``privmeter run``), ``cli``
    (arguments of ``privmeter``) or ``api`` (a function of the fixture folder)."""

    id: str
    kind: str
    payload: Any
    match: str
    exit: int | None = 2
    absent: str | None = None


def Y(id: str, text: str, match: str, absent: str | None = None) -> Case:
    return Case(id, "yaml", text, match, 2, absent)


def C(id: str, argv: list[str], match: str) -> Case:
    return Case(id, "cli", argv, match, 2)


def A(id: str, fn: Callable[[Path], Any], match: str) -> Case:
    return Case(id, "api", fn, match, None)


CSV = "data: {{source: csv, path: {d}/ok.csv}}\n"
SK = "model: {architecture: sklearn, sklearn: LogisticRegression}\n"

CASES: list[Case] = []

# --- config keys and values ------------------------------------------------------------
for key, value, match in [
    ("seed", "-1", r"seed: .*greater than or equal to 0"),
    ("seed", "true", r"seed: .*valid integer.*True"),
    ("seed", "1.5", r"seed: .*valid integer"),
    ("seed", "abc", r"seed: .*valid integer"),
    ("game", "modle", r"game: .*'modle'"),
    ("game", "3", r"game: "),
    ("executor", "gpu", r"executor: .*'gpu'"),
    ("confidence", "0", r"confidence: .*greater than 0"),
    ("confidence", "1", r"confidence: .*less than 1"),
    ("confidence", "high", r"confidence: .*valid number.*'high'"),
    ("confidence", "true", r"confidence: .*valid number.*True"),
    ("delta", "-0.1", r"delta: .*greater than or equal to 0"),
    ("delta", "1.0", r"delta: .*less than 1"),
    ("records", "ten", r"records"),
    ("leave_one_out", "'no'", r"leave_one_out: .*valid boolean"),
    ("cache", "5", r"cache: .*valid string"),
]:
    CASES.append(Y(f"top-{key}-{value}", f"{key}: {value}\n", match))

for section, key, value, match in [
    ("data", "population_fraction", "0", r"data.population_fraction: .*greater than 0"),
    ("data", "population_fraction", "1", r"data.population_fraction: .*less than 1"),
    ("data", "population_fraction", "-0.5", r"data.population_fraction"),
    ("data", "population_fraction", "true", r"data.population_fraction: .*valid number"),
    ("data", "population_fraction", "half", r"data.population_fraction: .*'half'"),
    ("data", "source", "5", r"data.source: .*valid string"),
    ("data", "options", "[1, 2]", r"data.options: .*valid dictionary"),
    ("model", "architecture", "[mlp]", r"model.architecture: .*valid string"),
    ("model", "options", "3", r"model.options: .*valid dictionary"),
    ("training", "lr", "0", r"training.lr: .*greater than 0"),
    ("training", "lr", "-1", r"training.lr"),
    ("training", "lr", "true", r"training.lr: .*valid number.*True"),
    ("training", "epochs", "0", r"training.epochs: .*greater than or equal to 1"),
    ("training", "epochs", "2.5", r"training.epochs: .*valid integer"),
    ("training", "epochs", "true", r"training.epochs: .*valid integer.*True"),
    ("training", "batch_size", "0", r"training.batch_size"),
    ("training", "batch_size", "-3", r"training.batch_size"),
    ("training", "momentum", "-1", r"training.momentum"),
    ("training", "weight_decay", "-0.1", r"training.weight_decay"),
    ("training", "optimizer", "adagrad", r"training.optimizer: .*'adagrad'"),
    ("training", "schedule", "linear", r"training.schedule: .*'linear'"),
    ("references", "count", "-3", r"references.count: .* \(got -3\)"),
    ("references", "count", "true", r"references.count: .*valid integer"),
    ("references", "count", "1.5", r"references.count: .*valid integer"),
    ("references", "online", "'yes'", r"references.online: .*valid boolean"),
    ("references", "vectorized", "3", r"references.vectorized: .*valid boolean"),
    ("signal", "n_queries", "0", r"signal.n_queries"),
    ("signal", "noise_sigma", "0", r"signal.noise_sigma"),
    ("signal", "augmentations", "mixup", r"signal.augmentations: .*'mixup'"),
    ("target", "train_indices", "[a, b]", r"target.train_indices"),
    ("report", "formats", "[docx]", r"report.formats.0: .*'docx'"),
    ("report", "title", "5", r"report.title: .*valid string"),
]:
    CASES.append(Y(f"{section}.{key}-{value}", f"{section}:\n  {key}: {value}\n", match))

for text, match in [
    ("gmae: model\n", r"unknown config key 'gmae'; did you mean 'game'\?"),
    ("data:\n  sorce: csv\n", r"unknown config key 'data.sorce'; did you mean 'data.source'"),
    ("model:\n  architecure: mlp\n", r"'model.architecure'; did you mean 'model.architecture'"),
    ("training:\n  epoch: 3\n", r"'training.epoch'; did you mean 'training.epochs'"),
    ("target:\n  weight: w.pt\n", r"'target.weight'; did you mean 'target.weights'"),
    ("references:\n  cuont: 4\n", r"'references.cuont'; did you mean 'references.count'"),
    ("signal:\n  nmae: loss\n", r"'signal.nmae'; did you mean 'signal.name'"),
    ("report:\n  format: [html]\n", r"'report.format'; did you mean 'report.formats'"),
    ("zzz_unrelated: 1\n", r"unknown config key 'zzz_unrelated' \(known here"),
    ("data: 5\n", r"data: .*valid dictionary"),
    ("training: [1]\n", r"training: .*valid dictionary"),
    ("- just\n- a list\n", r"must hold a mapping of keys, got list"),
    ("just a string\n", r"must hold a mapping of keys, got str"),
    ("data: [\n", r"is not valid YAML"),
    ("a: b: c\n", r"is not valid YAML"),
    ("data:\n\tsource: csv\n", r"is not valid YAML"),
    ("seed: 1\nseed: 2\n", r"duplicate key 'seed' \(line 1 and line 2\)"),
    ("references:\n  count: 2\n  count: 4\n", r"duplicate key 'count' \(line 2 and line 3\)"),
    ("attacks:\n- name: rmia\n  params: {gamma: 1, gamma: 2}\n", r"duplicate key 'gamma'"),
    ("data: {source: csv, source: npz}\n", r"duplicate key 'source'"),
]:
    CASES.append(Y(f"yaml-{text[:18]!r}", text, match))

# --- attacks and their parameters, checked when the config loads ------------------------
for attacks, match in [
    ("[loss, lirra]", r"unknown attack 'lirra' \(did you mean 'lira'\?\)"),
    ("[zzzz]", r"unknown attack 'zzzz'; known attacks"),
    ("[lria]", r"unknown attack 'lria' \(did you mean 'lira' or 'rmia'\?\)"),
    ("[{lria: {}}]", r"unknown attack 'lria' \(did you mean 'lira' or 'rmia'\?\)"),
    ("[]", r"attacks: the list is empty"),
    ("[5]", r"attacks.0"),
    ("[{name: rmia, parms: {}}]", r"unknown config key 'attacks.0.AttackEntry.parms'|parms"),
    ("[{rmia: {gamma: -1}}]", r"attacks\[0\] \(rmia\): gamma must be a positive number, got -1"),
    ("{rmia: {gamma: -1}}", r"attacks\[0\] \(rmia\): gamma must be a positive number"),
    ("[loss, {rmia: {gamma: 0}}]", r"attacks\[1\] \(rmia\): gamma must be a positive number"),
    ("[{rmia: {gamma: true}}]", r"parameter 'gamma' takes float, got the boolean True"),
    ("[{rmia: {gamma: big}}]", r"gamma must be a positive number, got 'big'"),
    ("[{rmia: {gamma: .nan}}]", r"parameter 'gamma' must be finite"),
    ("[{rmia: {gamma: .inf}}]", r"parameter 'gamma' must be finite"),
    ("[{rmia: {onlin: false}}]", r"unknown parameter 'onlin' for attack 'rmia' \(did you mean "
                                 r"'online'\?\)"),
    ("[{rmia: {online: 'yes'}}]", r"parameter 'online' must be true or false, got 'yes'"),
    ("[{rmia: {online: 1}}]", r"parameter 'online' must be true or false, got 1"),
    ("[{rmia: {a: 2}}]", r"a must be in \[0, 1\], got 2"),
    ("[{rmia: {a: -0.1}}]", r"a must be in \[0, 1\]"),
    ("[{rmia: {a: max}}]", r"a must be a number in \[0, 1\] or 'auto', got 'max'"),
    ("[{rmia: {a: true}}]", r"parameter 'a' takes float \| str, got the boolean"),
    ("[{rmia: {temperature: 0}}]", r"temperature must be a positive number"),
    ("[{rmia: {temperature: -2}}]", r"temperature must be a positive number"),
    ("[{rmia: {temperature: true}}]", r"parameter 'temperature' takes float, got the boolean"),
    ("[{lira: {fix_variance: sometimes}}]", r"'fix_variance' must be true or false"),
    ("[{lira: {online: 0}}]", r"parameter 'online' must be true or false, got 0"),
    ("[{lira: {offline: true}}]", r"unknown parameter 'offline' for attack 'lira'"),
    ("[{population: {calibration_levels: [2]}}]", r"calibration_levels must lie in \[0, 1\]"),
    ("[{population: {calibration_levels: [-0.5]}}]", r"calibration_levels must lie in \[0, 1\]"),
    ("[{reference: {smoothing: cubic}}]", r"smoothing must be one of"),
    ("[{reference: {smothing: gaussian}}]", r"did you mean 'smoothing'"),
    ("[{shadow: {classifier: svm}}]", r"classifier must be one of"),
    ("[{shadow: {max_train: 1}}]", r"max_train must be an integer >= 2, got 1"),
    ("[{shadow: {max_train: 2.5}}]", r"max_train must be an integer >= 2, got 2.5"),
    ("[{shadow: {seed: -1}}]", r"seed must be a non-negative integer, got -1"),
    ("[{shadow: {per_class: 'no'}}]", r"'per_class' must be true or false, got 'no'"),
    ("[{loss: {gamma: 1}}]", r"unknown parameter 'gamma' for attack 'loss'.*none"),
    ("[{name: rmia, params: {gamma: -3}}]", r"attacks\[0\] \(rmia\): gamma must be a positive"),
]:
    CASES.append(Y(f"attacks-{attacks}", f"attacks: {attacks}\n", match))

# --- data files -------------------------------------------------------------------------
for id_, text, match, absent in [
    ("csv-missing", "data: {{source: csv, path: {d}/nope.csv}}\n", r"CSV file not found", None),
    ("csv-folder", "data: {{source: csv, path: {d}/a_folder}}\n", r"is a directory", None),
    ("csv-dev-zero", "data: {source: csv, path: /dev/zero}\n",
     r"/dev/zero is a character device, not a regular file", None),
    ("csv-fifo", "data: {{source: csv, path: {d}/fifo}}\n", r"a named pipe \(FIFO\)", None),
    ("npz-fifo", "data: {{source: npz, path: {d}/fifo}}\n", r"a named pipe \(FIFO\)", None),
    ("npz-folder", "data: {{source: npz, path: {d}/a_folder}}\n", r"is a directory", None),
    ("npz-dev-zero", "data: {source: npz, path: /dev/zero}\n", r"character device", None),
    ("npz-objects", "data: {{source: npz, path: {d}/objects.npz}}\n",
     r"holds Python objects \(dtype=object\); refusing to unpickle", None),
    ("npz-garbage", "data: {{source: npz, path: {d}/garbage.npz}}\n",
     r"not a readable .npz archive", None),
    ("npz-text-features", "data: {{source: npz, path: {d}/text.npz}}\n",
     r"features 'x' must be numeric", None),
    ("npz-missing-key", "data: {{source: npz, path: {d}/ok.npz, options: {{x_key: xx}}}}\n",
     r"no array named 'xx'", None),
    ("npz-no-path", "data: {source: npz}\n", r"data.source 'npz' needs data.path", None),
    ("texas-no-labels", "data: {{source: texas, path: {d}/ok.csv}}\n",
     r"needs data.labels_path", None),
    ("source-unknown", "data: {source: digitz}\n", r"did you mean 'digits'", None),
    ("source-tie", "data: {source: synthetic_}\n",
     r"did you mean 'synthetic_gaussian' or 'synthetic_purchase'\?", None),
    ("data-options-unknown", "data: {{source: csv, path: {d}/ok.csv, options: {{colour: 1}}}}\n",
     r"data.options for 'csv'.*colour", None),
    ("csv-label-typo", "data: {{source: csv, path: {d}/ok.csv, label_column: lable}}\n",
     r"no label column 'lable'; did you mean 'label'\?", None),
    ("csv-label-unrelated", "data: {{source: csv, path: {d}/ok.csv, label_column: target}}\n",
     r"no label column 'target'.*Available columns", "did you mean"),
    ("csv-empty", "data: {{source: csv, path: {d}/empty.csv}}\n" + SK, r"no data rows|empty|rows",
     None),
    ("csv-nan", "data: {{source: csv, path: {d}/nan.csv}}\n" + SK, r"row|NaN|missing", None),
    ("csv-3e38-float32", "data: {{source: csv, path: {d}/big32.csv}}\n",
     r"feature value 3e\+38 at row 5, column 0 \('mean_radius'\) is too large .*float32", None),
    ("csv-1e308-float32", "data: {{source: csv, path: {d}/big64.csv}}\n" + SK,
     r"line 7, column 'worst_area': value 1e\+308 does not fit in float32", None),
    ("cifar-malicious", "data: {{source: cifar10, path: {d}/cifar}}\n",
     r"forbidden global .*system", None),
    ("cifar-file", "data: {{source: cifar10, path: {d}/ok.csv}}\n", r"is a file", None),
    ("cache-is-file", CSV + SK + "cache: {d}/a_file\n", r"cache: .* exists and is not a folder",
     None),
    ("deep-yaml", None, r"nested too deeply|not valid YAML", None),
]:
    CASES.append(Y(id_, text, match, absent))

# --- models, factories and the target -----------------------------------------------------
for id_, text, match in [
    ("hidden-negative", "model: {options: {hidden: [-5]}}\n", r"hidden|-5"),
    ("hidden-text", "model: {options: {hidden: [a]}}\n", r"hidden"),
    ("arch-unknown", "model: {architecture: transformer}\n", r"transformer"),
    ("mlp-option-unknown", "model: {options: {depth: 3}}\n", r"depth"),
    ("sklearn-no-name", "model: {architecture: sklearn}\n", r"needs model.sklearn"),
    ("sklearn-unknown", "model: {architecture: sklearn, sklearn: RandomForest}\n",
     r"unknown scikit-learn estimator 'RandomForest'; did you mean"),
    ("sklearn-bad-option",
     "model: {architecture: sklearn, sklearn: LogisticRegression, options: {colour: 1}}\n",
     r"model.options for LogisticRegression"),
    ("factory-missing", "model: {architecture: factory}\n", r"needs model.factory"),
    ("factory-subprocess",
     "model: {architecture: factory, factory: 'subprocess:getoutput', "
     "options: {cmd: 'touch {d}/MARKER'}}\n",
     r"refusing to import 'subprocess'.*--allow-module subprocess"),
    ("factory-os-system", "model: {architecture: factory, factory: 'os:system'}\n",
     r"refusing to import 'os'"),
    ("factory-builtins", "model: {architecture: factory, factory: 'builtins:eval'}\n",
     r"refusing to import 'builtins'"),
    ("factory-installed", "model: {architecture: factory, factory: 'torch.nn:Linear'}\n",
     r"refusing to import 'torch.nn'.*--allow-module torch"),
    ("factory-no-colon", "model: {architecture: factory, factory: mymod}\n",
     r"must look like 'package.module:function'"),
    ("factory-two-colons", "model: {architecture: factory, factory: 'a:b:c'}\n",
     r"must look like 'package.module:function'"),
    ("factory-path", "model: {architecture: factory, factory: '../evil:make'}\n",
     r"must look like 'package.module:function'"),
    ("factory-shadows-stdlib", "model: {architecture: factory, factory: 'json:make'}\n",
     r"has the name of an installed module \('json'"),
    ("factory-not-callable", "model: {architecture: factory, factory: 'mymod:NOT_CALLABLE'}\n",
     r"'mymod' has no callable 'NOT_CALLABLE'"),
    ("factory-no-such-function", "model: {architecture: factory, factory: 'mymod:nope'}\n",
     r"'mymod' has no callable 'nope'"),
    ("factory-broken", "model: {architecture: factory, factory: 'mymod:broken'}\n",
     r"the model factory cannot build a model: negative dimension -5"),
    ("factory-width", "model: {architecture: factory, factory: 'mymod:wide'}\n",
     r"cannot take inputs of shape \(1, 8, 8\) per row"),
    ("factory-few-classes", "model: {architecture: factory, factory: 'mymod:few_classes'}\n",
     r"outputs 3 value\(s\) per row, but the labels go up to 9.*0..2"),
    ("factory-3d-output", "model: {architecture: factory, factory: 'mymod:identity'}\n",
     r"outputs shape \(1, 8, 8\) per row; a classifier must return one logit per class"),
    ("weights-garbage", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/garbage.pt, train_indices: {d}/idx.npy}}\n",
     r"target.weights: .*garbage.pt is not a PyTorch state_dict"),
    ("weights-evil-pickle", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/evil.pt, train_indices: {d}/idx.npy}}\n",
     r"target.weights: .*evil.pt is not a PyTorch state_dict"),
    ("weights-shape", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/wrong_shape.pt, train_indices: {d}/idx.npy}}\n",
     r"target.weights: .*does not fit the configured model: .*size mismatch"),
    ("weights-keys", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/not_a_state_dict.pt, train_indices: {d}/idx.npy}}\n",
     r"does not fit the configured model"),
    ("weights-missing", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/nope.pt, train_indices: {d}/idx.npy}}\n",
     r"target.weights: file not found"),
    ("weights-folder", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/a_folder, train_indices: {d}/idx.npy}}\n",
     r"target.weights: file not found \(or not a regular file\)"),
    ("weights-without-indices", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/wrong_shape.pt}}\n", r"go together|does not fit"),
    ("indices-without-weights", "target: {{train_indices: {d}/idx.npy}}\n",
     r"target.weights and target.train_indices go together"),
    ("indices-object", "model: {architecture: logistic}\n"
     "target: {{weights: {d}/garbage.pt, train_indices: {d}/obj_idx.npy}}\n",
     r"not a PyTorch state_dict"),
    ("indices-object-only", "target: {{train_indices: {d}/obj_idx.npy}}\n",
     r"holds Python objects \(dtype=object\); refusing to unpickle"),
    ("indices-float", "target: {{train_indices: {d}/float_idx.npy}}\n",
     r"1-D integer array of row indices, got dtype float64"),
    ("indices-2d", "target: {{train_indices: {d}/idx_2d.npy}}\n",
     r"1-D integer array .*shape \(2, 3\)"),
    ("indices-missing", "target: {{train_indices: {d}/nope.npy}}\n",
     r"target.train_indices: file not found"),
    ("sklearn-with-weights", SK + "target: {{weights: {d}/garbage.pt}}\n",
     r"target.weights is a PyTorch state_dict, but model.architecture is 'sklearn'"),
    ("references-0-with-reference-attacks", "references: {count: 0}\nattacks: [loss, lira]\n",
     r"attacks \['lira'\] compare the target with reference models, but references.count=0: "
     r"use references.count >= 1"),
    ("references-0-default-attacks", "references: {count: 0}\n",
     r"^privmeter: error: [^_]*references.count=0: use references.count >= 1[^_]*$"),
    ("signal-unknown", "signal: {name: logit_margn}\n",
     r"signal.name: unknown signal 'logit_margn' \(did you mean 'logit_margin'\?\)"),
]:
    CASES.append(Y(id_, text, match))

# --- the command line ---------------------------------------------------------------------
for flag, value, match in [
    ("--max-auc", "nan", r"--max-auc must be a number between 0 and 1, got 'nan'"),
    ("--max-auc", "2", r"--max-auc must be a number between 0 and 1, got '2'"),
    ("--max-auc", "-0.1", r"--max-auc must be a number between 0 and 1"),
    ("--max-auc", "inf", r"--max-auc must be a number between 0 and 1"),
    ("--max-auc", "abc", r"--max-auc expects a number, got 'abc'"),
    ("--max-epsilon", "-1", r"--max-epsilon must be a number >= 0, got '-1'"),
    ("--max-epsilon", "nan", r"--max-epsilon must be a number >= 0"),
    ("--max-epsilon", "inf", r"--max-epsilon must be a number >= 0"),
    ("--max-tpr-at-fpr", "-1:0.5", r"--max-tpr-at-fpr: the FPR must be in \[0, 1\], got '-1'"),
    ("--max-tpr-at-fpr", "1.5:0.5", r"the FPR must be in \[0, 1\], got '1.5'"),
    ("--max-tpr-at-fpr", "0.1:2", r"the TPR must be in \[0, 1\], got '2'"),
    ("--max-tpr-at-fpr", "0.1", r"--max-tpr-at-fpr expects FPR:TPR"),
    ("--max-tpr-at-fpr", "a:b", r"--max-tpr-at-fpr expects FPR:TPR"),
    ("--max-tpr-at-fpr", "0.1:0.2:0.3", r"--max-tpr-at-fpr expects FPR:TPR"),
    ("--max-tpr-at-fpr", "nan:0.1", r"the FPR must be in \[0, 1\], got 'nan'"),
]:
    CASES.append(C(f"gate{flag}={value}", ["gate", "{d}/list.json", f"{flag}={value}"], match))

# the value as its own argument: a leading '-' must reach the validator, not argparse's
# "expected one argument"
for flag, value, match in [
    ("--max-tpr-at-fpr", "-1:0.5", r"--max-tpr-at-fpr: the FPR must be in \[0, 1\], got '-1'"),
    ("--max-tpr-at-fpr", "-.5:0.5", r"the FPR must be in \[0, 1\], got '-.5'"),
    ("--max-tpr-at-fpr", "0.1:-1", r"the TPR must be in \[0, 1\], got '-1'"),
    ("--max-auc", "-0.1", r"--max-auc must be a number between 0 and 1, got '-0.1'"),
    ("--max-epsilon", "-1", r"--max-epsilon must be a number >= 0, got '-1'"),
    ("--max-epsilon", "-inf", r"--max-epsilon must be a number >= 0, got '-inf'"),
]:
    CASES.append(C(f"gate{flag} {value}", ["gate", "{d}/list.json", flag, value], match))

# --require-attack: a name that is neither a registered attack nor a label in the results
for name, match in [
    ("lria", r"--require-attack: unknown attack 'lria' \(did you mean 'lira' or 'rmia'\?\)"),
    ("los", r"unknown attack 'los' \(did you mean 'loss'\?\).*in these results: loss"),
    ("zzzz", r"unknown attack 'zzzz'; known attacks: (auto, )?lira, loss"),
]:
    CASES.append(C(f"gate-require-{name}", ["gate", "{d}/rep/results.json", "--max-auc", "1",
                                            "--require-attack", name], match))

for command in ("gate", "report"):
    extra = ["--max-auc", "0.9"] if command == "gate" else ["--out", "{d}/report-out"]
    for name, match in [
        ("list.json", r"expected a JSON object with a 'results' list at the top level, got a list"),
        ("string.json", r"got a str"),
        ("number.json", r"got a int"),
        ("null.json", r"got a NoneType"),
        ("no_results.json", r"expected a 'results' list, found no 'results' key"),
        ("results_str.json", r"found 'results' is a str"),
        ("not_json.json", r"is not valid JSON"),
        ("binary.json", r"is not a text \(UTF-8 JSON\) file"),
        ("deep.json", r"nested too deeply"),
        ("missing.json", r"results file not found"),
        ("a_folder", r"results file .*a_folder is not a regular file"),
        ("fifo", r"results file .*fifo is not a regular file"),
    ]:
        CASES.append(C(f"{command}-{name}", [command, f"{{d}}/{name}", *extra], match))

for command in ("gate", "report"):
    extra = ["--max-auc", "0.9"] if command == "gate" else ["--out", "{d}/report-out2"]
    for name, match in [
        ("rep_pickled_images", r"not a privmeter results file: .*Object arrays cannot be loaded"),
        ("rep_no_images", r"images.npy is missing|not a privmeter results file"),
    ]:
        CASES.append(C(f"{command}-{name}", [command, f"{{d}}/{name}/results.json", *extra],
                       match))

CASES += [
    C("run-missing-config", ["run", "{d}/nope.yaml"], r"config file not found"),
    C("run-config-folder", ["run", "{d}/a_folder"], r"config file not found \(or not a regular"),
    C("run-config-fifo", ["run", "{d}/fifo"], r"config file not found \(or not a regular"),
    C("run-set-no-equals", ["run", "{d}/cfg.yaml", "--set", "seed"], r"--set expects key=value"),
    C("run-set-unknown-key", ["run", "{d}/cfg.yaml", "--set", "sed=1"],
      r"unknown config key 'sed'; did you mean 'seed'"),
    C("run-set-bad-value", ["run", "{d}/cfg.yaml", "--set", "references.count=-1"],
      r"references.count: .* \(got -1\)"),
    C("run-set-not-section", ["run", "{d}/cfg.yaml", "--set", "seed.x=1"],
      r"--set seed.x: 'seed' is not a section"),
    C("run-set-bad-yaml", ["run", "{d}/cfg.yaml", "--set", "seed=[1"], r"is not valid YAML"),
    C("run-allow-module-bad", ["run", "{d}/cfg.yaml", "--allow-module", "../evil"],
      r"--allow-module expects a module name"),
    C("run-out-is-file", ["run", "{d}/cfg.yaml", "--out", "{d}/a_file"],
      r"output path .*a_file exists and is not a folder"),
    C("report-out-is-file", ["report", "{d}/list.json", "--out", "{d}/a_file"],
      r"expected a JSON object|exists and is not a folder"),
    C("no-command", [], r"the following arguments are required: command"),
    C("unknown-command", ["frobnicate"], r"invalid choice: 'frobnicate'"),
    C("run-unknown-flag", ["run", "{d}/cfg.yaml", "--onlin"], r"unrecognized arguments: --onlin"),
    C("gate-no-results-arg", ["gate"], r"the following arguments are required: results"),
]


# --- the Python API -------------------------------------------------------------------------
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:200] / 16.0, y[:200]


def _audit(**kw: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    from privmeter import Audit
    from privmeter.training import SklearnTrainer

    data = kw.pop("data", None) or _digits()
    trainer = kw.pop("trainer", SklearnTrainer(LogisticRegression(max_iter=50)))
    return Audit(data, trainer, progress=False, **kw)


def _torch_trainer(factory: Callable[[], torch.nn.Module]) -> Any:
    from privmeter.training import TorchTrainer

    return TorchTrainer(factory, epochs=1)


def _linear_7() -> torch.nn.Module:
    return torch.nn.Linear(7, 10)


def _linear_3() -> torch.nn.Module:
    return torch.nn.Linear(64, 3)


def _store(d: Path) -> Any:
    from privmeter.training import Store

    return Store(d / "a_file")


def _one_run(n_in: int, m: int) -> Any:
    from privmeter.dp_audit import one_run_epsilon

    return one_run_epsilon(np.random.default_rng(0).normal(size=m), np.arange(m) < n_in)


def _load(name: str, *args: Any, **kw: Any) -> Callable[[Path], Any]:
    def call(d: Path) -> Any:
        from privmeter import datasets

        real = [a.format(d=d) if isinstance(a, str) else a for a in args]
        return getattr(datasets, name)(*real, **kw)

    return call


def _check_params(name: str, **params: Any) -> Any:
    from privmeter.config import check_attack_params

    return check_attack_params(name, params)


CASES += [
    A("audit-confidence-high", lambda d: _audit(confidence="high"),
      r"confidence must be a number in \(0, 1\), got 'high'"),
    A("audit-confidence-1.5", lambda d: _audit(confidence=1.5), r"confidence must be a number"),
    A("audit-confidence-bool", lambda d: _audit(confidence=True), r"confidence must be a number"),
    A("audit-confidence-none", lambda d: _audit(confidence=None), r"confidence must be a number"),
    A("audit-delta-negative", lambda d: _audit(delta=-0.1), r"delta must be a number in \[0, 1\)"),
    A("audit-delta-1", lambda d: _audit(delta=1.0), r"delta must be a number in \[0, 1\)"),
    A("audit-zero-rows", lambda d: _audit(data=(np.zeros((0, 3)), np.zeros(0, dtype=int))),
      r"the dataset has no rows"),
    A("audit-rows-mismatch", lambda d: _audit(data=(np.zeros((5, 3)), np.zeros(4, dtype=int))),
      r"x has 5 rows but y has shape \(4,\)"),
    A("audit-nan-features", lambda d: _audit(data=(np.full((6, 2), np.nan), np.arange(6) % 2)),
      r"features contain NaN or infinite values in 6 rows"),
    A("audit-object-features", lambda d: _audit(
        data=(np.array([[{}], [1]], dtype=object), np.array([0, 1]))),
      r"features must be numeric, got dtype object"),
    A("audit-1e308", lambda d: _audit(data=(np.r_[np.zeros((9, 2)), [[0.0, 1e308]]],
                                            np.arange(10) % 2)),
      r"feature value 1e\+308 at row 9, column 1 is too large for the trained models"),
    A("audit-3e38-torch", lambda d: _audit(
        data=(np.r_[np.zeros((9, 64)), np.full((1, 64), 3e38)], np.arange(10) % 10),
        trainer=_torch_trainer(_linear_3)),
      r"feature value 3e\+38 at row 9, column 0 is too large .*float32"),
    A("audit-reference-no-refs", lambda d: _audit(n_references=0, attacks=["reference"]),
      r"attacks \['reference'\] compare the target with reference models, but n_references=0"),
    A("audit-lira-no-refs", lambda d: _audit(n_references=0, attacks=["loss", "lira"]),
      r"attacks \['lira'\] compare the target .*n_references=0"),
    A("audit-rmia-no-refs", lambda d: _audit(n_references=0, attacks={"rmia": {}}),
      r"attacks \['rmia'\]"),
    A("audit-bad-gamma", lambda d: _audit(attacks=[("rmia", {"gamma": -1})]),
      r"attack 'rmia': gamma must be a positive number, got -1"),
    A("audit-misspelled-param", lambda d: _audit(attacks=[("rmia", {"onlin": False})]),
      r"attack 'rmia': unknown parameter 'onlin' .*did you mean 'online'"),
    A("audit-unknown-attack", lambda d: _audit(attacks=["lirra"]), r"did you mean 'lira'"),
    A("audit-no-attack", lambda d: _audit(attacks=[]), r"no attack to run"),
    A("audit-unknown-game", lambda d: _audit(game="modle"), r"did you mean 'model'"),
    A("audit-bad-seed", lambda d: _audit(seed=-1), r"seed must be a non-negative integer"),
    A("audit-bad-refs", lambda d: _audit(n_references=-1), r"n_references must be"),
    A("audit-bad-fraction", lambda d: _audit(population_fraction=1.0), r"population_fraction"),
    A("audit-bad-dataset", lambda d: _audit(data="digits.csv"), r"dataset must be"),
    A("audit-width-mismatch", lambda d: _audit(trainer=_torch_trainer(_linear_7)),
      r"cannot take inputs of shape \(64,\) per row"),
    A("audit-labels-out-of-range", lambda d: _audit(trainer=_torch_trainer(_linear_3)),
      r"outputs 3 value\(s\) per row, but the labels go up to 9"),
    A("audit-target-width", lambda d: _audit(target_model=torch.nn.Linear(7, 10),
                                             target_indices=np.arange(50)),
      r"cannot take inputs of shape \(64,\)"),
    A("audit-target-classes", lambda d: _audit(target_model=torch.nn.Linear(64, 2),
                                               target_indices=np.arange(50)),
      r"the target model outputs 2 value\(s\) per row, but the labels go up to 9"),
    A("audit-store-is-file", lambda d: _audit(store=d / "a_file"),
      r"cache '.*a_file' exists and is not a folder"),
    A("store-is-file", _store, r"exists and is not a folder"),
    A("one-run-all-members", lambda d: _one_run(1000, 1000), r"all 1000 canaries are members"),
    A("one-run-no-members", lambda d: _one_run(0, 300), r"all 300 canaries are non-members"),
    A("one-run-70pc", lambda d: _one_run(700, 1000), r"700 of 1000 canaries are members"),
    A("one-run-empty", lambda d: _one_run(0, 0), r"no canaries"),
    A("load-csv-dev-zero", _load("load_csv", "/dev/zero"), r"character device"),
    A("load-csv-fifo", _load("load_csv", "{d}/fifo"), r"named pipe"),
    A("load-npz-fifo", _load("load_npz", "{d}/fifo"), r"named pipe"),
    A("load-npz-folder", _load("load_npz", "{d}/a_folder"), r"is a directory"),
    A("load-purchase-dev-zero", _load("load_purchase", "/dev/zero"), r"character device"),
    A("load-texas-fifo", _load("load_texas", "{d}/fifo", "{d}/ok.csv"), r"named pipe"),
    A("load-csv-label-unrelated", _load("load_csv", "{d}/ok.csv", label_column="target"),
      r"no label column 'target'"),
    A("load-cifar-malicious", _load("load_cifar", "{d}/cifar"), r"forbidden global"),
    A("params-bool-gamma", lambda d: _check_params("rmia", gamma=True),
      r"'gamma' takes float, got the boolean True"),
    A("params-bool-temperature", lambda d: _check_params("rmia", temperature=False),
      r"'temperature' takes float"),
    A("params-str-online", lambda d: _check_params("lira", online="false"),
      r"'online' must be true or false, got 'false'"),
    A("params-unknown-attack", lambda d: _check_params("rmiaa"), r"did you mean 'rmia'"),
    A("reference-one-model-table", lambda d: _one_model("reference"),
      r"the reference attack needs reference models besides the target, but the table has 1"),
    A("lira-one-model-table", lambda d: _one_model("lira"),
      r"the LiRA attack needs reference models besides the target, but the table has 1"),
]


def _one_model(attack: str) -> Any:
    values = np.random.default_rng(0).normal(size=(1, 10))
    table = pm.SignalTable(values, np.arange(10)[None, :] < 5)
    return pm.run_attack(attack, table, target=0)


def _fill(value: Any, d: Path) -> Any:
    if isinstance(value, str):  # "{d}" is the fixture folder; "{{"/"}}" escape braces
        out = value.replace("{d}", str(d))
        return out.replace("{{", "{").replace("}}", "}") if "{{" in value else out
    if isinstance(value, list):
        return [_fill(v, d) for v in value]
    return value


def test_the_table_covers_every_kind() -> None:
    assert len(CASES) >= 150, len(CASES)
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]
    kinds = {c.kind for c in CASES}
    assert kinds == {"yaml", "cli", "api"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, files: Path, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    marker = files / "MARKER"
    monkeypatch.chdir(tmp_path)
    if case.kind == "api":
        with pytest.raises((ValueError, TypeError, OSError, pickle.UnpicklingError)) as info:
            case.payload(files)
        message = str(info.value)
    else:
        if case.kind == "yaml":
            cfg = files / "deep.yaml" if case.payload is None else tmp_path / "cfg.yaml"
            if case.payload is not None:
                # beside the fixture files, so that 'mymod:...' factories resolve
                cfg = files / f"cfg-{abs(hash(case.id))}.yaml"
                cfg.write_text(_fill(case.payload, files))
            argv = ["run", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"]
        else:
            (files / "cfg.yaml").write_text("seed: 0\n")
            argv = _fill(case.payload, files)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        err = capsys.readouterr().err
        assert code == case.exit, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err and "unexpected error" not in err
        message = lines[0]
    assert re.search(case.match, message), message
    if case.absent is not None:
        assert case.absent not in message, message
    assert not marker.exists(), "a bad input ran code"
    assert str(files) not in str(getattr(sys.modules["json"], "__file__", "")), "shadowed json"


def test_messages_are_not_python_names(files: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI speaks in its own flags: --overwrite, not overwrite=True."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 0\n")
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite" in err and "overwrite=True" not in err


def test_report_save_error_speaks_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An error raised deep inside (the report's own overwrite check) is translated."""
    import privmeter.cli as cli

    def boom(args: Any) -> int:
        raise FileExistsError("output folder 'x' exists and is not empty; pass overwrite=True "
                              "to replace it")

    monkeypatch.setattr(cli, "_dispatch", boom)
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite" in err and "overwrite=True" not in err and err.count("\n") == 1


def test_fill_placeholders() -> None:
    assert _fill("path: {d}/x", Path("/tmp")) == "path: /tmp/x"
    assert _fill("data: {{a: {d}}}", Path("/q")) == "data: {a: /q}"
    assert _fill(["gate", "{d}/r.json"], Path("/q")) == ["gate", "/q/r.json"]
