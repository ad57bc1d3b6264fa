"""How ``python -m layerlab train`` shows its epochs.

On a terminal: one bar drawn in place by rich, with the epoch, the last
epoch's losses and the time left, estimated as the app estimates it
(``report.progress``: from steady epochs, not the first, which pays for compiling). Anywhere else (a log file, a pipe, CI): one
plain line per finished epoch, with no control characters, so the log reads
the same in any viewer. Rich decides which is which (``Console.is_interactive``:
a terminal that is not ``TERM=dumb``; ``TTY_INTERACTIVE=0`` or ``1`` overrides).
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from layerlab.model.train import EpochEnd, EpochProgress
from layerlab.report.progress import format_duration, seconds_per_epoch, time_left_words
from layerlab.schema.numbers import readable_number
from layerlab.schema.run_events import RefitProgress
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

    def __call__(self, event: EpochEnd | EpochProgress | RefitProgress) -> None:
        if isinstance(event, RefitProgress) and event.fraction >= 1:
            self.stream.write(
                f"final fit on all {event.rows:,} rows: epoch {event.epoch}/{event.epochs}  "
                f"({event.elapsed_seconds:.1f}s)\n"
            )
            self.stream.flush()
        if not isinstance(event, EpochEnd):
            return
        self.stream.write(
            f"epoch {event.epoch}/{event.epochs}  {metrics_text(event.metrics)}  "
            f"({event.elapsed_seconds:.1f}s)\n"
        )
        self.stream.flush()


def time_left_text(
    done: float, epochs: int, per_epoch: float | None, patience: int, best_epoch: int | None
) -> str:
    """``about 3 min left``, ``1 to 3 min left``, ``at most 3 min left``; ``estimating…``
    until a steady epoch is measured: the live view's words, without its reasons."""
    return time_left_words(done, epochs, per_epoch, patience, best_epoch)[0]


class EpochBar:
    """A rich progress bar over the epochs, redrawn in place.

    The bar moves within an epoch too (``EpochProgress``). The losses shown are those of
    the last finished epoch: its validation can end after the next epoch has begun. The
    time left follows the steady epochs and, with early stopping (``patience``), is a
    range that ends ``patience`` epochs after the best so far. When training stops
    early, the bar stays at the epoch it reached and shows the time it took.
    """

    def __init__(self, console: Console, patience: int = 0) -> None:
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[metrics]}", markup=False),
            TextColumn("{task.fields[time]}", markup=False),
            console=console,
        )
        self._task = None
        self._patience = patience
        self._marks: list[tuple[float, float]] = []
        self._best_epoch: int | None = None  # the trainer's best epoch so far
        self._refit_task = None

    def __enter__(self) -> EpochBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._task is not None:
            seconds = self._marks[-1][1] if self._marks else 0.0
            self._progress.update(self._task, time=f"took {format_duration(seconds)}")
        self._progress.stop()

    def __call__(self, event: EpochEnd | EpochProgress | RefitProgress) -> None:
        if isinstance(event, RefitProgress):
            self._refit(event)
            return
        if not isinstance(event, EpochEnd | EpochProgress):
            return
        if self._task is None:
            self._task = self._add_task("train", event)
        task = self._progress.tasks[0]
        if isinstance(event, EpochEnd):
            names = ["loss", *(name for name in event.metrics if name.startswith("val_"))]
            done = float(event.epoch)
            self._best_epoch = event.best_epoch
        else:
            done = event.epoch - 1 + event.fraction
        done = max(task.completed, done)
        if not self._marks or done > self._marks[-1][0]:
            self._marks.append((done, event.elapsed_seconds))
        fields = {
            "epoch": max(task.fields["epoch"], event.epoch),
            "time": time_left_text(
                done,
                event.epochs,
                seconds_per_epoch(self._marks),
                self._patience,
                self._best_epoch,
            ),
        }
        if isinstance(event, EpochEnd):
            fields["metrics"] = metrics_text(event.metrics, names)
        self._progress.update(self._task, completed=done, **fields)
        if isinstance(event, EpochEnd):
            self._progress.refresh()  # every epoch's losses are drawn at least once

    def _add_task(self, name: str, event, metrics: str = ""):
        """A bar over ``event``'s epochs, its losses (or words) in ``metrics``."""
        return self._progress.add_task(
            name,
            total=event.epochs,
            epochs=event.epochs,
            epoch=event.epoch,
            metrics=metrics,
            time="",
        )

    def _refit(self, event: RefitProgress) -> None:
        """A second bar for the final network, trained on every row for the chosen epochs."""
        if self._refit_task is None:
            self._refit_task = self._add_task(
                "refit", event, f"final fit on all {event.rows:,} rows"
            )
        self._progress.update(
            self._refit_task, completed=event.epoch - 1 + event.fraction, epoch=event.epoch
        )


def epoch_display(console: Console, patience: int = 0) -> EpochBar | EpochLines:
    """The bar on an interactive terminal, plain lines on anything else."""
    if console.is_interactive:
        return EpochBar(console, patience)
    return EpochLines(console.file)
