"""Numbers as a person reads them: no e-notation for ordinary magnitudes, thousands
separated. Its own module so that any message, light or heavy, can use it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Beyond a million, the size in words: "975 trillion", not 975,000,000,000,000.
_LARGE = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def readable_number(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, never in e-notation: 0.972, 12.3, 3,020, 0.000123,
    4.5 million (with 3); n/a for NaN."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "infinite" if value > 0 else "minus infinite"
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 1e15:
        return "over a quadrillion" if value > 0 else "below minus a quadrillion"
    for size, word in _LARGE:
        if abs(rounded) >= size:
            return f"{readable_number(rounded / size, digits)} {word}"
    if abs(rounded) >= 1000:
        return f"{value:,.0f}"
    return np.format_float_positional(rounded, precision=digits, fractional=False, trim="-")


def whole_numbers_as_floats(record: Any, names: tuple[str, ...]) -> None:
    """Store ``1`` as ``1.0`` in the fields of ``record`` that hold real numbers.

    JSON writes a whole number without a decimal point, and a person types
    ``"learning_rate": 1``; Keras insists on floats. Booleans (also ``int`` in
    Python) and other types are left for ``validate()`` to refuse by name.
    """
    for name in names:
        value = getattr(record, name)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
            setattr(record, name, float(value))
