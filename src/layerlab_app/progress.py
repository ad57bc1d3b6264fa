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
    epoch: int, epochs: int, elapsed_seconds: float, fraction: float, early_stopping: bool
) -> str:
    """E.g. ``Epoch 3 of 200 · about 2 min left`` (``at most`` when early stopping may end it sooner)."""
    text = f"Epoch {epoch:,} of {epochs:,}"
    if fraction <= 0 or fraction >= 1:
        return text
    left = elapsed_seconds * (1 - fraction) / fraction
    bound = "at most about" if early_stopping else "about"
    return f"{text} · {bound} {format_duration(left)} left"
