"""Numbers from the environment: the default when unset, else the kind asked for or a sentence."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.schema.errors import LayerlabError
from layerlab.schema.settings import number_setting

NAME = "LAYERLAB_TEST_SETTING"


def read(**options) -> float:
    return number_setting(NAME, 7, what="a whole number of things, 1 or more", example=2, **options)


def test_unset_or_blank_is_the_default_and_a_number_is_read(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert read() == 7
    monkeypatch.setenv(NAME, "  ")
    assert read() == 7
    monkeypatch.setenv(NAME, " 3 ")
    assert read(least=1, whole=True) == 3 and isinstance(read(whole=True), int)
    monkeypatch.setenv(NAME, "0.5")
    assert read() == 0.5


@pytest.mark.parametrize("raw", ["abc", "-1", "nan", "inf", "0", "2.5"])
def test_a_wrong_value_is_refused_with_the_setting_and_what_would_do(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)
    with pytest.raises(LayerlabError) as refused:
        read(least=1, whole=True, unset_words=" to use seven")
    assert str(refused.value) == (
        f"{NAME} must be a whole number of things, 1 or more; got {raw!r}. Set it to, for "
        "example, 2, or unset it to use seven."
    )


# The environment holds any text but NUL (and lone surrogates, which cannot be encoded).
@given(st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12))
def test_any_text_gives_a_number_within_the_rule_or_the_sentence(raw):
    os.environ[NAME] = raw
    try:
        value = number_setting(NAME, 1.0, what="a number above 0", example=1, above=True)
    except LayerlabError as error:
        assert NAME in str(error)
    else:
        assert value > 0 and value != float("inf")
    finally:
        del os.environ[NAME]
