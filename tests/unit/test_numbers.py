"""Numbers as people read them: never e-notation, thousands separated, three significant digits."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from layerlab.schema.numbers import (
    label_numbers,
    readable_interval,
    readable_number,
    readable_percent,
)

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


def test_probabilities_read_as_percentages_with_sensible_precision():
    assert readable_percent(3e-11) == "< 0.1%"
    assert readable_percent(0.004) == "0.4%"
    assert readable_percent(0.4567) == "45.7%"
    assert readable_percent(0.9996) == "> 99.9%"
    assert readable_percent(0.0) == "0%"
    assert readable_percent(1.0) == "100%"
    assert readable_percent(float("nan")) == ""


@given(st.floats(min_value=0, max_value=1))
def test_every_probability_reads_as_a_percentage_without_e_notation(share):
    text = readable_percent(share)
    assert text.endswith("%") and "e" not in text
    if 0.001 <= share <= 0.999:
        assert math.isclose(float(text.rstrip("%")) / 100, share, abs_tol=0.0005 + 1e-12)


def test_an_interval_has_both_ends_to_the_precision_of_the_larger():
    assert readable_interval(7.47e-8, 0.296) == "0.000 to 0.296"
    assert readable_interval(0.8123, 0.9051) == "0.812 to 0.905"
    assert readable_interval(1234.4, 1456.7) == "1,234 to 1,457"
    assert readable_interval(-0.00004, 0.5) == "0.000 to 0.500"
    assert readable_interval(-3.2, -1.1) == "-3.20 to -1.10"
    assert readable_interval(2e6, 3.5e6) == "2 million to 3.5 million"
    assert readable_interval(0.0, 0.0) == "0 to 0"


def test_years_codes_and_ids_are_labels_and_amounts_are_not():
    assert label_numbers("year", [3, 4])
    assert label_numbers("customerID", [12345, 12346])
    assert label_numbers("Zip Code", [90210])
    assert label_numbers("built", [1950, 2010.0, float("nan")])
    assert not label_numbers("price", [326, 18823])
    assert not label_numbers("yearly_income", [52000])
    assert not label_numbers("built", [1950.5, 2010])
    assert not label_numbers("count", [])
