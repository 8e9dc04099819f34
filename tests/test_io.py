"""The one atomic write (privmeter._io) used by the cache store and the reports (issue 10,
point 8: there were two, and only the store's fsynced)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from privmeter._io import atomic_write
from privmeter.report import tables
from privmeter.training import Store


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_report_writes_are_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_fsyncs(monkeypatch)
    p = tables.write_json_dict({"a": 1}, tmp_path / "new" / "results.json")
    assert p.read_text() == '{\n "a": 1\n}'
    assert len(calls) == 1  # before: the report's write never fsynced
    assert [q.name for q in p.parent.iterdir()] == ["results.json"]


def test_store_writes_are_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "cache")
    calls = _record_fsyncs(monkeypatch)
    store.put_arrays("ab" * 32, {"x": np.arange(3.0)})
    assert len(calls) == 2  # the payload and its checksum file
    got = store.get_arrays("ab" * 32)
    assert got is not None
    np.testing.assert_array_equal(got["x"], np.arange(3.0))


def test_interrupted_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "f.bin"
    atomic_write(p, b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, b"new")
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.bin"]


def test_temporary_name_is_one_the_store_cleaner_recognises(tmp_path: Path) -> None:
    from privmeter._io import temp_name
    from privmeter.training.store import _TMP_RE

    match = _TMP_RE.match(temp_name(tmp_path / "k.npy").name)
    assert match is not None and int(match.group(1)) == os.getpid()
