"""Progress wording for the live training view."""

from __future__ import annotations

from layerlab_app.progress import done_fraction, format_duration, progress_text


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


def test_progress_text_estimates_time_left():
    assert progress_text(5, 10, 10.0, 0.5, early_stopping=False) == (
        "Epoch 5 of 10 · about 10 s left"
    )
    assert "at most about 30 s left" in progress_text(1, 4, 10.0, 0.25, early_stopping=True)
    assert progress_text(10, 10, 10.0, 1.0, early_stopping=False) == "Epoch 10 of 10"
    assert progress_text(1_500, 10_000, 1.0, 1.0, early_stopping=False) == "Epoch 1,500 of 10,000"


def test_the_time_left_is_paced_from_the_first_report_not_from_the_start():
    # 30 s went on preparing and compiling before epoch 1 of 1,000 ended; then 1 s an epoch.
    first = (0.001, 30.0)
    assert progress_text(1, 1_000, 30.0, 0.001, False, since=first) == "Epoch 1 of 1,000"
    assert progress_text(3, 1_000, 32.0, 0.003, False, since=first) == (
        "Epoch 3 of 1,000 · about 17 min left"
    )
