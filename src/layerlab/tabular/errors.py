"""The errors the reading modules raise, and how their messages quote what a person wrote.

A bundle ships the reading modules without Layerlab (see ``bundle_reading``), so
where ``layerlab.schema`` cannot be imported, stand-ins of the same names take
its place: a bundle's ``predict.py`` catches them by these names either way.
"""

from __future__ import annotations

try:
    from layerlab.schema.errors import BundleError, DataError, SchemaError
except ImportError:  # inside a bundle, where Layerlab is not installed

    class DataError(ValueError):
        """A file that cannot be read as a table, with a message that says why."""

    class SchemaError(DataError):
        """A table to score that lacks what the model needs."""

    class BundleError(ValueError):
        """A model file that is not what Layerlab wrote, or is damaged."""


__all__ = ["BundleError", "DataError", "SchemaError", "name_list", "shorten"]


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def name_list(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names, shortened, and how many more there are."""
    shown = ", ".join(shorten(name, 30) for name in names[:limit])
    if len(names) > limit:
        shown += f", … ({len(names) - limit} more)"
    return shown
