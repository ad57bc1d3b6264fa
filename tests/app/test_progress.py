"""Progress wording for the live training view."""

from __future__ import annotations

from layerlab.report.progress import done_fraction, format_duration, format_pace, progress_text


def test_durations_are_rounded_like_a_person_would():
    assert format_duration(0.2) == "1 s"
    assert format_duration(42.4) == "42 s"
    assert format_duration(150) == "2 min"
    assert format_duration(3600 * 2 + 60 * 5) == "2 h 5 min"
    assert format_duration(3600) == "1 h"


def test_done_fraction_counts_the_current_epoch_in_part():
    assert done_fraction(1, 10) == 0.1
    assert done_fraction(3, 10, 0.5) == 0.25
    assert done_fraction(12, 10) == 1.0
    assert done_fraction(1, 0) == 0.0


def test_paces_are_said_in_seconds_an_epoch_or_epochs_a_second():
    assert format_pace(12.4) == "12 s an epoch"
    assert format_pace(150) == "2 min an epoch"
    assert format_pace(1.25) == "1.2 s an epoch"
    assert format_pace(0.4) == "2.5 epochs a second"
    assert format_pace(0.0007) == "1,400 epochs a second"


def test_progress_text_says_the_time_left_once_the_pace_is_known():
    assert progress_text(5, 10, 10.0, 0.5, None) == (
        "Epoch 5 of 10 (50% of it done) · 10 s so far · estimating the time left…"
    )
    assert progress_text(5, 10, 10.0, 1.0, 2.0) == (
        "Epoch 5 of 10 · 10 s so far · 2 s an epoch · about 10 s left"
    )
    assert progress_text(10, 10, 10.0, 1.0, 1.0) == "Epoch 10 of 10 · 10 s so far"
    assert progress_text(1_500, 10_000, 3_600.0, 1.0, None).startswith(
        "Epoch 1,500 of 10,000 · 1 h so far"
    )
    assert format_duration(3_600 * 1_200) == "1,200 h"
