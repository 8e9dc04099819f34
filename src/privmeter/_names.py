"""Did-you-mean helpers for error messages: the closest known names to a misspelt one.

A leaf module (standard library only), imported by the config, CLI, attack and signal
registries and the dataset loaders.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


def _close_names(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> list[str]:
    """The candidates closest to ``name``, all of them when several are equally close.

    A candidate equal to ``name`` up to case and surrounding whitespace wins outright;
    otherwise the candidates with the highest :class:`difflib.SequenceMatcher` ratio (at
    least ``cutoff``, as :func:`difflib.get_close_matches` computes it) are returned, in
    the order given. ``'lria'`` is as close to ``'lira'`` as to ``'rmia'``, so both come back.
    """
    cands = list(dict.fromkeys(str(c) for c in candidates))
    name = str(name)
    norm = name.strip().lower()
    same = [c for c in cands if c.strip().lower() == norm]
    if same:
        return same[:1]
    scored: list[tuple[float, str]] = []
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(name)
    for c in cands:
        matcher.set_seq1(c)
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, c))
    if not scored:
        return []
    best = max(r for r, _ in scored)
    return [c for r, c in scored if math.isclose(r, best, rel_tol=1e-12, abs_tol=1e-12)]


def _closest_names(
    name: str, candidates: Iterable[str], cutoff: float = 0.6, prefix: str = ""
) -> str | None:
    """``"'a'"``, ``"'a' or 'b'"`` or ``"'a', 'b' or 'c'"``: the closest candidates, quoted.

    ``None`` when no candidate is close enough (see :func:`_close_names`); ``prefix`` is
    put before each name (``'data.'`` for a config key).
    """
    close = [repr(prefix + c) for c in _close_names(name, candidates, cutoff)]
    if not close:
        return None
    return close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    # 0.7: typos (lable, labl, klass) but not unrelated names ('target' vs 'worst_area')
    close = _closest_names(name, candidates, cutoff=0.7)
    return f"; did you mean {close}?" if close is not None else ""

