"""Numbers read from the environment, one way.

Whoever runs a server sets its limits as environment variables (README, "Running Layerlab
for many people"). Each is read here: blank or unset means the default; anything else must
be the kind of number asked for, or the error names the setting, says what it got and what
would do, so a typo stops the server with a sentence instead of a traceback.
"""

from __future__ import annotations

import math
import os

from layerlab.schema.errors import LayerlabError


def number_setting(
    name: str,
    default: float,
    *,
    what: str,
    example: float,
    least: float = 0.0,
    above: bool = False,
    whole: bool = False,
    unset_words: str = "",
) -> float:
    """The environment's ``name`` as a number, ``default`` when unset or blank.

    It must be at least ``least`` (above it when ``above``), finite, and a whole number
    when ``whole`` (then an ``int`` is returned). ``what`` describes it in the error
    ("a whole number of cells, 0 or more"), ``example`` is a value that would do, and
    ``unset_words`` say what unsetting it means when that is not simply the default.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    fits = math.isfinite(value) and (value > least if above else value >= least)
    if not fits or (whole and value != int(value)):
        raise LayerlabError(
            f"{name} must be {what}; got {raw!r}. Set it to, for example, {example:g}, or "
            f"unset it{unset_words}."
        )
    return int(value) if whole else value
