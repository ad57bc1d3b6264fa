"""How ``python -m layerlab train`` shows its epochs.

On a terminal: one bar drawn in place by rich, with the epoch, the last
epoch's losses and the time left. Anywhere else (a log file, a pipe, CI): one
plain line per finished epoch, with no control characters, so the log reads
the same in any viewer. Rich decides which is which (``Console.is_interactive``:
a terminal that is not ``TERM=dumb``; ``TTY_INTERACTIVE=0`` or ``1`` overrides).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from layerlab.model.train import EpochEnd, EpochProgress
from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import metric_words


def metrics_text(metrics: dict[str, float], names: list[str] | None = None) -> str:
    """``loss 0.5021  val_loss 0.5176``: the metrics named (all by default), four figures each."""
    shown = names if names is not None else list(metrics)
    return "  ".join(
        f"{metric_words(name)} {readable_number(metrics[name], digits=4)}"
        for name in shown
        if name in metrics
    )


class EpochLines:
    """One line per finished epoch: ``epoch 3/10  loss 0.5  ...  val_loss 0.52  (2.3s)``.

    The seconds are the time since training started.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __enter__(self) -> EpochLines:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def __call__(self, event: EpochEnd | EpochProgress) -> None:
        if not isinstance(event, EpochEnd):
            return
        self.stream.write(
            f"epoch {event.epoch}/{event.epochs}  {metrics_text(event.metrics)}  "
            f"({event.elapsed_seconds:.1f}s)\n"
        )
        self.stream.flush()


class _TimeColumn(TimeRemainingColumn):
    """Rich's estimate of the time left; once training is over, the time it took."""

    def render(self, task: Task) -> Text:
        if task.fields["over"]:
            return Text(str(timedelta(seconds=round(task.fields["seconds"]))), "progress.elapsed")
        return super().render(task)


class EpochBar:
    """A rich progress bar over the epochs, redrawn in place.

    The bar moves within an epoch too (``EpochProgress``), so the time left is
    estimated from the whole run so far. The losses shown are those of the last
    finished epoch: its validation can end after the next epoch has begun.
    When training stops early, the bar stays at the epoch it reached.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[metrics]}", markup=False),
            _TimeColumn(),
            console=console,
        )
        self._task = None

    def __enter__(self) -> EpochBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._task is not None:
            self._progress.update(self._task, over=True)
        self._progress.stop()

    def __call__(self, event: EpochEnd | EpochProgress) -> None:
        if self._task is None:
            self._task = self._progress.add_task(
                "train",
                total=event.epochs,
                epochs=event.epochs,
                epoch=event.epoch,
                metrics="",
                seconds=0.0,
                over=False,
            )
        task = self._progress.tasks[0]
        fields = {
            "epoch": max(task.fields["epoch"], event.epoch),
            "seconds": event.elapsed_seconds,
        }
        if isinstance(event, EpochEnd):
            names = ["loss", *(name for name in event.metrics if name.startswith("val_"))]
            completed = event.epoch
            fields["metrics"] = metrics_text(event.metrics, names)
        else:
            completed = event.epoch - 1 + event.fraction
        self._progress.update(self._task, completed=max(task.completed, completed), **fields)
        if isinstance(event, EpochEnd):
            self._progress.refresh()  # every epoch's losses are drawn at least once


def epoch_display(console: Console) -> EpochBar | EpochLines:
    """The bar on an interactive terminal, plain lines on anything else."""
    if console.is_interactive:
        return EpochBar(console)
    return EpochLines(console.file)
