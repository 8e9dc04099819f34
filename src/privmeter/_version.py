"""The package version, in a leaf module that imports nothing (so no module reaches up to the
package root for it)."""

from __future__ import annotations

__version__ = "0.1.0"
