"""Numbers as people read them: never e-notation, thousands separated, three significant digits."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from layerlab.schema.numbers import readable_number

WORDS = {"": 1.0, "million": 1e6, "billion": 1e9, "trillion": 1e12}


def test_ordinary_magnitudes_read_plainly():
    assert readable_number(3020.4) == "3,020"
    assert readable_number(-7.78e-05) == "-0.0000778"
    assert readable_number(0.97234) == "0.972"
    assert readable_number(512_345.6) == "512,346"
    assert readable_number(9.753e14) == "975 trillion"
    assert readable_number(-4.5e6) == "-4.5 million"
    assert readable_number(3e20) == "over a quadrillion"
    assert readable_number(0.333333, digits=4) == "0.3333"
    assert readable_number(1e-5) == "0.00001"
    assert readable_number(float("nan")) == "n/a"
    assert readable_number(float("inf")) == "infinite"


@given(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(
        lambda v: v == 0 or abs(v) >= 1e-9
    )
)
def test_no_number_is_written_in_e_notation_and_it_reads_back_close(value):
    text = readable_number(value)
    assert "e" not in text.lower()
    number, _, word = text.partition(" ")
    back = float(number.replace(",", "")) * WORDS[word]
    assert math.isclose(back, value, rel_tol=5e-3, abs_tol=1e-12)
