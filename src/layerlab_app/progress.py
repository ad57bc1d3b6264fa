"""Progress wording for the live training view (no Streamlit here)."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``4 s``, ``2 min``, ``1 h 5 min``: rounded the way a person would say it."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def done_fraction(epoch: int, epochs: int, within_epoch: float = 1.0) -> float:
    """Share of all epochs done, counting a partly done ``epoch`` by ``within_epoch``."""
    if epochs <= 0:
        return 0.0
    return min(1.0, max(0.0, (epoch - 1 + within_epoch) / epochs))


def progress_text(
    epoch: int,
    epochs: int,
    elapsed_seconds: float,
    fraction: float,
    early_stopping: bool,
    since: tuple[float, float] = (0.0, 0.0),
) -> str:
    """E.g. ``Epoch 3 of 200 · about 2 min left`` (``at most`` when early stopping may end it sooner).

    ``since`` is the (fraction, elapsed seconds) of the run's first progress report:
    the time left is estimated from the pace after it, so the seconds spent before
    it (preparing the data, compiling the loop) do not make the first estimates
    hours too long. Until the run has moved past it, no estimate is given.
    """
    text = f"Epoch {epoch:,} of {epochs:,}"
    start_fraction, start_seconds = since
    done, taken = fraction - start_fraction, elapsed_seconds - start_seconds
    if fraction >= 1 or done <= 0 or taken <= 0:
        return text
    left = taken * (1 - fraction) / done
    bound = "at most about" if early_stopping else "about"
    return f"{text} · {bound} {format_duration(left)} left"
