"""The time left is paced on steady epochs: never on epoch 1 (which compiles), silent until a
steady epoch is measured, within a factor of two of the truth from epoch 3 on, and a range
when early stopping may end the run sooner."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.report.progress import progress_text, seconds_per_epoch, time_left

SLICES = 4  # progress reports an epoch, as train.py sends after its slices


def reports(durations: list[float], start: float = 0.0) -> list[tuple[float, float]]:
    """(epochs trained, seconds) after each slice of epochs lasting ``durations``."""
    marks, now = [], start
    for epoch, seconds in enumerate(durations):
        for piece in range(1, SLICES + 1):
            now += seconds / SLICES
            marks.append((epoch + piece / SLICES, now))
    return marks


def ratios_from_epoch_3(marks: list[tuple[float, float]], ends_after: int) -> list[float]:
    """Estimated over true time left at every report in epoch 3 or later, while training runs."""
    end_seconds = marks[-1][1]
    ratios = []
    for i, (done, seconds) in enumerate(marks):
        if done <= 2 or done >= ends_after:
            continue
        pace = seconds_per_epoch(marks[: i + 1])
        assert pace is not None, f"no estimate at {done} epochs"
        _, most = time_left(done, ends_after, pace)
        ratios.append(most / (end_seconds - seconds))
    return ratios


def first_slow_then_steady(epochs: int, seed: int, noise: float = 0.0) -> list[float]:
    """Epoch 1 pays 40 s of compiling; epoch 2 a second validation compile; then 0.2 s,
    each epoch off by up to ``noise`` (0.5: from half to one and a half times)."""
    rng = np.random.default_rng(seed)
    steady = 0.2 * (1 + rng.uniform(-noise, noise, epochs))
    steady[0] += 40.0
    steady[1] += 0.1
    return list(steady)


def test_nothing_is_said_after_epoch_1_alone():
    marks = reports(first_slow_then_steady(1_000, seed=0))
    for i, (done, _) in enumerate(marks):
        if done < 2:
            assert seconds_per_epoch(marks[: i + 1]) is None
    assert seconds_per_epoch(marks[: 2 * SLICES]) is not None  # epoch 2 is measured


def test_the_wage_run_is_never_given_hours():
    # Epoch 1 of 1,000 took 52 s (compiling); the rest took 7 ms each.
    durations = [52.0] + [0.007] * 999
    marks = reports(durations)
    epoch_1 = marks[:SLICES]
    assert progress_text(1, 1_000, epoch_1[-1][1], 1.0, seconds_per_epoch(epoch_1)) == (
        "Epoch 1 of 1,000 · 52 s so far · estimating the time left…"
    )
    pace = seconds_per_epoch(marks[: 3 * SLICES])
    assert pace == pytest.approx(0.007)
    assert progress_text(3, 1_000, 52.014, 1.0, pace) == (
        "Epoch 3 of 1,000 · 52 s so far · 140 epochs a second · about 7 s left"
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("noise", [0.0, 0.3, 0.5])
def test_from_epoch_3_the_estimate_is_within_a_factor_of_two(seed, noise):
    epochs = 200
    marks = reports(first_slow_then_steady(epochs, seed, noise))
    ratios = ratios_from_epoch_3(marks, epochs)
    assert len(ratios) > 0
    assert min(ratios) >= 0.5 and max(ratios) <= 2.0, (min(ratios), max(ratios))


def test_a_slow_second_epoch_is_left_out_once_the_third_is_measured():
    # Epoch 2 took 3 s (the first validation compiled beside it); the others 1 s.
    marks = reports([30.0, 3.0] + [1.0] * 20)
    assert seconds_per_epoch(marks[: 2 * SLICES]) == pytest.approx(3.0)
    assert seconds_per_epoch(marks[: 3 * SLICES]) == pytest.approx(1.0)


def test_a_machine_that_gets_busier_is_followed_within_a_few_epochs():
    # 2 s epochs, then from epoch 60 on another run shares the CPUs: 4 s epochs.
    durations = [30.0] + [2.0] * 59 + [4.0] * 140
    marks = reports(durations)
    at_epoch_70 = marks[: 70 * SLICES]
    assert seconds_per_epoch(at_epoch_70) == pytest.approx(4.0)


def test_with_early_stopping_the_time_left_is_a_true_range():
    # Planned 1,000 epochs; the best is epoch 30 and patience 10 ends it at epoch 40.
    epochs, patience, best, stops_at = 1_000, 10, 30, 40
    marks = reports(first_slow_then_steady(stops_at, seed=1, noise=0.3))
    end_seconds = marks[-1][1]
    for i, (done, seconds) in enumerate(marks):
        if done <= 2 or done >= stops_at:
            continue
        pace = seconds_per_epoch(marks[: i + 1])
        best_so_far = min(best, int(done))  # the best epoch is known once validated
        least, most = time_left(done, epochs, pace, patience, best_so_far)
        truth = end_seconds - seconds
        assert least <= 2 * truth
        assert truth <= most
    # The bound is worded as a bound, and the early end is said too.
    text = progress_text(35, epochs, 47.0, 1.0, 0.2, patience, best_epoch=30)
    assert text == (
        "Epoch 35 of 1,000 · 47 s so far · 5 epochs a second · "
        "1 s to 3 min left, depending on early stopping"
    )
    # Before an epoch is validated, only the upper bound is known.
    assert progress_text(3, epochs, 41.0, 0.5, 0.2, patience) == (
        "Epoch 3 of 1,000 · 41 s so far · 5 epochs a second · "
        "at most 3 min left, if it runs all 1,000 epochs"
    )


def test_without_early_stopping_the_time_left_is_one_number():
    assert time_left(50, 200, 2.0) == (300.0, 300.0)
    assert progress_text(51, 200, 100.0, 0.0, 2.0) == (
        "Epoch 51 of 200 · 2 min so far · 2 s an epoch · about 5 min left"
    )


def test_long_epochs_say_how_far_the_current_one_is():
    # Epoch 1 of 3, 40% trained, its length not known yet.
    assert progress_text(1, 3, 130.0, 0.4) == (
        "Epoch 1 of 3 (40% of it done) · 2 min so far · estimating the time left…"
    )
    assert progress_text(3, 5, 900.0, 0.25, 300.0) == (
        "Epoch 3 of 5 (25% of it done) · 15 min so far · 5 min an epoch · about 14 min left"
    )
    assert progress_text(1, 3, 4.0, 0.004).startswith("Epoch 1 of 3 · 4 s so far")
    # Short epochs do not: their share changes too fast to read.
    assert "%" not in progress_text(30, 500, 12.0, 0.25, 0.2)
