"""File output shared by the cache store and the reports: one atomic, durable write."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_write", "temp_name"]


def temp_name(path: Path) -> Path:
    """The temporary file :func:`atomic_write` writes ``path`` through.

    ``.<name>.<pid>.<token>.tmp`` beside ``path``: hidden, unique per writer, and naming the
    writing process so that a cleaner can tell a dead writer's leftovers from a live one's
    (:func:`privmeter.training.store._remove_stale_temp_files`).
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, an fsync and a rename.

    Readers see either the old file or the whole new one, never a partial write, and the
    bytes are on disk before the new name appears. The parent folder is created if missing.
    The temporary file is created exclusively (a file or link planted at its name is never
    written through) with the mode a plain ``open`` gives (0666 less the umask): a report is
    meant to be shared. On any error, including an interrupt, the temporary file is removed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "sub" / "a.txt"
    >>> atomic_write(p, b"hello")
    >>> p.read_bytes(), [q.name for q in p.parent.iterdir()]
    (b'hello', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
