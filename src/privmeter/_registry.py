"""One small generic registry: names to specs, with did-you-mean errors.

The attack (:mod:`privmeter.attacks`), signal (:mod:`privmeter.signals`) and dataset
(:mod:`privmeter.datasets`) registries are each a :class:`Registry`; their public functions
(``register_attack``, ``get_signal``, ``load_dataset``, ...) are thin wrappers. All three
behave alike: registering returns the spec, a taken name is refused unless
``overwrite=True``, and an unknown name is answered with every equally close known name
(:func:`privmeter._names._closest_names`) and the list of known names.

Examples
--------
>>> reg = Registry[int]("attack")
>>> reg.register("rmia", 1)
1
>>> reg.register("lira", 2)
2
>>> reg.names()
['lira', 'rmia']
>>> reg.get("lria")
Traceback (most recent call last):
...
ValueError: unknown attack 'lria' (did you mean 'lira' or 'rmia'?); known attacks: lira, rmia
>>> reg.register("lira", 3)
Traceback (most recent call last):
...
ValueError: an attack named 'lira' is already registered; pass overwrite=True to replace it
>>> with reg.temporary("loss", 3):
...     "loss" in reg
True
>>> "loss" in reg
False
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from privmeter._names import _closest_names

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Specs of one kind (attacks, signals, datasets) by name.

    Parameters
    ----------
    kind : str
        What an entry is, for messages (``"attack"``).
    plural : str, optional
        Plural of ``kind`` (default ``kind + "s"``).
    """

    def __init__(self, kind: str, *, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural if plural is not None else kind + "s"
        self._entries: dict[str, T] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

    def register(self, name: str, spec: T, *, overwrite: bool = False) -> T:
        """Add ``spec`` under ``name`` and return it.

        Raises
        ------
        ValueError
            If ``name`` is not a non-empty string, or is taken and ``overwrite`` is False.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries and not overwrite:
            article = "an" if self.kind[:1] in "aeiou" else "a"
            raise ValueError(
                f"{article} {self.kind} named {name!r} is already registered; pass "
                "overwrite=True to replace it"
            )
        self._entries[name] = spec
        return spec

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its spec (``ValueError`` as :meth:`get` if unknown)."""
        spec = self.get(name)
        del self._entries[name]
        return spec

    @contextmanager
    def temporary(self, name: str, spec: T, *, overwrite: bool = False) -> Iterator[T]:
        """Register ``spec`` for the duration of a ``with`` block, then restore the previous
        state (the replaced entry with ``overwrite=True``, or no entry at all)."""
        missing = object()
        previous = self._entries.get(name, missing) if isinstance(name, str) else missing
        self.register(name, spec, overwrite=overwrite)
        try:
            yield spec
        finally:
            if previous is missing:
                self._entries.pop(name, None)
            else:
                self._entries[name] = previous  # type: ignore[assignment]

    def close_names(self, name: object) -> str | None:
        """``"'a'"`` or ``"'a' or 'b'"``: the known names closest to ``name`` (None if none)."""
        return _closest_names(str(name), self.names())

    def get(self, name: str) -> T:
        """The spec registered as ``name``.

        Raises
        ------
        ValueError
            For an unknown name, naming every equally close known name and all known names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = self.close_names(name)
            hint = f" (did you mean {close}?)" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}{hint}; known {self.plural}: "
                f"{', '.join(self.names()) or 'none'}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def values(self) -> list[T]:
        """The registered specs, in name order."""
        return [self._entries[n] for n in self.names()]

    def copy(self) -> Registry[T]:
        """A new registry with the same entries (for tests that must not leave entries)."""
        out = Registry[T](self.kind, plural=self.plural)
        out._entries = dict(self._entries)
        return out

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
