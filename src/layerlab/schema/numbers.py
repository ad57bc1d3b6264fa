"""Numbers as a person reads them: no e-notation for ordinary magnitudes, thousands
separated. Its own module so that any message, light or heavy, can use it."""

from __future__ import annotations

import math
import re
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


# A probability this close to 0 or 1 reads as "< 0.1%" or "> 99.9%": more figures would
# claim a precision a network's probabilities do not have.
PROBABILITY_FLOOR = 0.001


def readable_percent(share: float) -> str:
    """A probability or share as a percentage to one decimal: 45.7%, 0.4%, and "< 0.1%" or
    "> 99.9%" at the ends (0% and 100% only when exact); blank for a missing value."""
    if math.isnan(share):
        return ""
    if share <= 0 or share >= 1:
        return f"{min(max(share, 0.0), 1.0):.0%}"
    if share < PROBABILITY_FLOOR:
        return f"< {PROBABILITY_FLOOR:.1%}"
    if share > 1 - PROBABILITY_FLOOR:
        return f"> {1 - PROBABILITY_FLOOR:.1%}"
    return f"{share:.1%}"


def readable_interval(low: float, high: float, digits: int = 3) -> str:
    """``low to high`` with both ends to the same decimals: ``digits`` significant digits of
    the larger end, so a range from almost 0 to 0.296 reads "0.000 to 0.296", not
    "0.0000000747 to 0.296"."""
    largest = max(abs(low), abs(high))
    if not math.isfinite(largest) or largest >= 1e6:
        return f"{readable_number(low, digits)} to {readable_number(high, digits)}"
    if largest == 0:
        return "0 to 0"
    decimals = max(0, digits - 1 - math.floor(math.log10(largest)))
    return f"{_fixed(low, decimals)} to {_fixed(high, decimals)}"


def _fixed(value: float, decimals: int) -> str:
    """``value`` to ``decimals`` places, thousands separated; never "-0.000"."""
    text = f"{value:,.{decimals}f}"
    return text.removeprefix("-") if float(text.replace(",", "")) == 0 else text


# Words in a column's name that make its whole numbers labels rather than amounts.
_LABEL_WORDS = frozenset(
    {"year", "yr", "id", "ids", "zip", "zipcode", "postcode", "postal", "code", "phone", "fips"}
)
# Whole numbers all in this range read as years, whatever the column's name.
_YEARS = (1800, 2100)


def label_numbers(name: str, values: Any) -> bool:
    """Whether a column's whole numbers are labels (years, codes, IDs), written without
    thousands separators: "2004", not "2,004". By name ("year", "zip", "customer_id") or,
    for years, by value."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", str(name))
    if any(word.lower() in _LABEL_WORDS for word in words):
        return True
    numbers = np.asarray(values, dtype=float) if len(values) else np.empty(0)
    numbers = numbers[np.isfinite(numbers)]
    return bool(
        len(numbers)
        and np.all(numbers == np.round(numbers))
        and numbers.min() >= _YEARS[0]
        and numbers.max() <= _YEARS[1]
    )


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
