"""Progress wording for the app's live training view and the CLI's bar: where the run is,
how long it has taken, and how long it has left, said only once it can be said truly.

Epoch 1 pays for building and compiling the training loop: seconds, where a steady
epoch may take milliseconds, so a pace measured on it is hours too long. The pace is
measured from the end of epoch 1 on (``seconds_per_epoch``), nothing is said until a
whole steady epoch has been measured, and then it follows the recent epochs, so a
machine that gets busier or freer is heard within a few epochs.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerlab.schema.numbers import readable_number

# The pace is measured after epoch 1, which pays for compiling the training loop, and
# after epoch 2 too once epoch 3 is measured: the first validation, compiled while
# epoch 2 trains, can slow it.
SKIPPED_EPOCHS = (2, 1)
# The pace is said once this many steady epochs are measured.
MEASURED_EPOCHS = 1.0
# Once there is more, the pace is that of the latest stretch at least this long in
# both epochs and seconds (a few epochs of seconds; many of milliseconds).
RECENT_EPOCHS, RECENT_SECONDS = 5.0, 20.0
# Epochs at least this long show how far the current one is.
LONG_EPOCH_SECONDS = 5.0


def format_duration(seconds: float) -> str:
    """``4 s``, ``2 min``, ``1 h 5 min``: rounded the way a person would say it."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def format_pace(seconds_per_epoch: float) -> str:
    """``0.7 s an epoch``, ``12 s an epoch``; more than two a second, ``240 epochs a second``."""
    if seconds_per_epoch >= 10:
        return f"{format_duration(seconds_per_epoch)} an epoch"
    if seconds_per_epoch >= 0.5:
        return f"{readable_number(float(f'{seconds_per_epoch:.2g}'), digits=2)} s an epoch"
    per_second = float(f"{1 / max(seconds_per_epoch, 1e-9):.2g}")
    return f"{readable_number(per_second, digits=2)} epochs a second"


def done_fraction(epoch: int, epochs: int, within_epoch: float = 1.0) -> float:
    """Share of all epochs done, counting a partly done ``epoch`` by ``within_epoch``."""
    if epochs <= 0:
        return 0.0
    return min(1.0, max(0.0, (epoch - 1 + within_epoch) / epochs))


def seconds_per_epoch(marks: Sequence[tuple[float, float]]) -> float | None:
    """The steady pace, in seconds an epoch; None until it means something.

    ``marks`` are (epochs trained, seconds since the run started) as the run
    reported them, in order, never going back: 2.5 is half way through epoch 3.
    Marks before the end of epoch 1 are left out (it pays for compiling), and those
    before the end of epoch 2 once a whole epoch after it is measured; the pace is
    said once a whole steady epoch is measured, from the latest stretch of
    ``RECENT_EPOCHS`` and ``RECENT_SECONDS`` or, before there is one, from all
    the steady epochs.
    """
    steady = _steady(marks)
    if steady is None:
        return None
    end_done, end_seconds = steady[-1]
    start_done, start_seconds = steady[0]
    for done, seconds in reversed(steady[:-1]):
        if end_done - done >= RECENT_EPOCHS and end_seconds - seconds >= RECENT_SECONDS:
            start_done, start_seconds = done, seconds
            break
    return max(end_seconds - start_seconds, 0.0) / (end_done - start_done)


def _steady(marks: Sequence[tuple[float, float]]) -> list[tuple[float, float]] | None:
    """The marks after the epochs that pay for compiling (``SKIPPED_EPOCHS``), once they
    span ``MEASURED_EPOCHS``; None before."""
    for skipped in SKIPPED_EPOCHS:
        steady = [mark for mark in marks if mark[0] >= skipped - 1e-9]
        if steady and steady[-1][0] - steady[0][0] >= MEASURED_EPOCHS - 1e-9:
            return steady
    return None


def time_left(
    done: float,
    epochs: int,
    per_epoch: float,
    patience: int = 0,
    best_epoch: int | None = None,
) -> tuple[float | None, float]:
    """(at least, at most) seconds left after ``done`` epochs of ``epochs``.

    Without early stopping (``patience`` 0) both are the remaining epochs at the
    pace. With it, the run ends at the latest after its last epoch, and at the
    earliest ``patience`` epochs after ``best_epoch``, the best so far (a later
    best only makes it later); the least is None while no epoch is validated.
    """
    most = per_epoch * max(0.0, epochs - done)
    if patience <= 0:
        return most, most
    if best_epoch is None:
        return None, most
    return per_epoch * max(0.0, min(epochs, best_epoch + patience) - done), most


def progress_text(
    epoch: int,
    epochs: int,
    elapsed_seconds: float,
    within_epoch: float = 1.0,
    per_epoch: float | None = None,
    patience: int = 0,
    best_epoch: int | None = None,
) -> str:
    """``Epoch 37 of 200 · 45 s so far · 1 s an epoch · about 3 min left``.

    ``within_epoch`` is the share of ``epoch`` trained, shown when epochs are long
    (or their length is not known yet); ``per_epoch`` the steady pace
    (``seconds_per_epoch``): until there is one, the time left is "estimating…".
    With early stopping (``patience`` > 0) the time left is a range, worded as one.
    """
    head = f"Epoch {epoch:,} of {epochs:,}"
    percent = int(within_epoch * 100)
    if 0 < percent < 100 and (per_epoch is None or per_epoch >= LONG_EPOCH_SECONDS):
        head += f" ({percent}% of it done)"
    parts = [head, f"{format_duration(elapsed_seconds)} so far"]
    done = min(float(epochs), epoch - 1 + within_epoch)
    if done >= epochs:
        return " · ".join(parts)
    if per_epoch is None:
        return " · ".join([*parts, "estimating the time left…"])
    words, why = time_left_words(done, epochs, per_epoch, patience, best_epoch)
    parts += [format_pace(per_epoch), f"{words}, {why}" if why else words]
    return " · ".join(parts)


def time_left_words(
    done: float,
    epochs: int,
    per_epoch: float | None,
    patience: int = 0,
    best_epoch: int | None = None,
) -> tuple[str, str]:
    """The time left in words ("about 3 min left", "1 to 3 min left", "at most 3 min left";
    "estimating the time left…" without a steady pace), and why it is not one number ("" when
    it is): the live view says both, the CLI's bar only the words."""
    if per_epoch is None:
        return "estimating the time left…", ""
    least, most = time_left(done, epochs, per_epoch, patience, best_epoch)
    if least is None:
        return f"at most {format_duration(most)} left", f"if it runs all {epochs:,} epochs"
    if format_duration(least) == format_duration(most):
        return f"about {format_duration(most)} left", ""
    span = f"{format_duration(least)} to {format_duration(most)}"
    return f"{span} left", "depending on early stopping"
