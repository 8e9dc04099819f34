"""Resolving ``model.factory`` and ``model.sklearn``: what a config may import.

``model.factory`` is resolved only from a Python file beside the config (``mymod:make`` with
``mymod.py`` beside it) or from a module the user allows explicitly (``--allow-module pkg``,
``allow_modules=``); any other module is refused before it is imported. The config's folder is
appended to ``sys.path``, never prepended.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from privmeter._names import _closest_names
from privmeter.config.schema import ConfigError

__all__: list[str] = []


def _module_file(base: Path, mod_name: str) -> Path | None:
    """``base/pkg/mod.py`` (or ``base/pkg/mod/__init__.py``) for ``pkg.mod``, if it exists."""
    parts = mod_name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    stem = base.joinpath(*parts)
    for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_factory(spec: str, *, base: Path | None, allow_modules: Sequence[str]) -> Any:
    """The factory function ``module:function`` names, importing only what is allowed.

    Allowed: a module from a Python file beside the config (``base``), or a module inside one
    of ``allow_modules``. Anything else is refused before it is imported.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    mod_name, attr = spec.split(":", 1)
    if not mod_name or not all(p.isidentifier() for p in mod_name.split(".")) or (
        not attr.isidentifier()
    ):
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    allowed = any(mod_name == a or mod_name.startswith(a + ".") for a in allow_modules)
    local = _module_file(base, mod_name) if base is not None else None
    if not allowed and local is None:
        where = f" ({base / (mod_name.replace('.', '/') + '.py')})" if base is not None else ""
        raise ConfigError(
            f"model.factory {spec!r}: refusing to import {mod_name!r}, which is neither a Python "
            f"file beside the config{where} nor allowed on the command line; if you trust it, "
            f"run with --allow-module {mod_name.split('.')[0]} (allow_modules=[...] in Python)"
        )
    if local is not None:
        assert base is not None
        top = mod_name.split(".")[0]
        root = base.resolve()
        known = sys.modules.get(top)
        found = importlib.util.find_spec(top) if known is None else None
        # where Python would find `top` today: a module file, or a package's folders
        places: list[str] = []
        if known is not None:
            places = [getattr(known, "__file__", None) or "built in"]
        elif found is not None:
            if found.origin and found.origin != "namespace":
                places = [found.origin]
            else:
                places = list(found.submodule_search_locations or []) or ["built in"]
        outside = [
            x for x in places if x == "built in" or root not in Path(x).resolve().parents
        ]
        if outside:
            raise ConfigError(
                f"model.factory {spec!r}: {local} has the name of an installed module "
                f"({top!r}, {outside[0]}); rename the file"
            )
        if str(root) not in sys.path:
            # importable by name, also in worker processes; appended, never prepended, so
            # that other files beside the config (a json.py, say) cannot shadow the standard
            # library or installed packages for the rest of the run (they did: a process
            # pool's workers then failed to import torch)
            sys.path.append(str(root))
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"model.factory: cannot import {mod_name!r}: {exc}") from None
    except Exception as exc:
        raise ConfigError(
            f"model.factory: importing {mod_name!r} failed ({type(exc).__name__}: {exc})"
        ) from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ConfigError(f"model.factory: {mod_name!r} has no callable {attr!r}")
    return fn


def _sklearn_estimator(name: str, options: dict[str, Any]) -> Any:
    from sklearn.utils import all_estimators

    known = dict(all_estimators())
    if name not in known:
        close = _closest_names(name, list(known))
        hint = f"; did you mean {close}?" if close else ""
        raise ConfigError(f"model.sklearn: unknown scikit-learn estimator {name!r}{hint}")
    try:
        return known[name](**options)
    except TypeError as exc:
        raise ConfigError(f"model.options for {name}: {exc}") from None
