"""Progress wording and redraw pacing for the live training view."""

from __future__ import annotations

from layerlab_app.progress import Throttle, done_fraction, format_duration, progress_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_allows_the_first_call_then_one_per_interval():
    clock = FakeClock()
    throttle = Throttle(0.25, clock)
    assert throttle.ready()
    clock.now += 0.1
    assert not throttle.ready()
    clock.now += 0.2
    assert throttle.ready()
    assert not throttle.ready()


def test_short_epochs_redraw_at_most_four_times_a_second():
    clock = FakeClock()
    throttle = Throttle(0.25, clock)
    draws = 0
    for _ in range(1000):  # 1000 epochs of 1 ms
        clock.now += 0.001
        draws += throttle.ready()
    assert draws <= 5


def test_a_budget_spaces_out_slow_redraws_to_keep_within_their_share_of_time():
    clock = FakeClock()
    throttle = Throttle(0.25, clock, budget=0.04)
    busy = 0.0
    for _ in range(10_000):  # 10 s of 1 ms epochs; each redraw takes 80 ms
        if throttle.ready():
            clock.now += 0.08
            busy += 0.08
            throttle.spent(0.08)
        clock.now += 0.001
    assert busy / (clock.now - 100.0) <= 0.04 + 0.01
    fast = Throttle(0.25, clock, budget=0.04)
    fast.ready()
    fast.spent(0.001)  # cheap work: the interval still rules
    clock.now += 0.25
    assert fast.ready()


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
