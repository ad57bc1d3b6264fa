"""How often a long epoch reports progress, and how soon Stop takes effect.

    python -m bench.responsiveness [--write bench/RESPONSIVENESS.md]

Trains on a table large enough that one epoch takes several seconds, twice.
First run: records the gaps between consecutive events, asks to stop 1.5 s into
the second epoch and measures how long ``run()`` takes to return after that.
Second run: asks to stop at the first report of epoch 2, when epoch 1's
validation pass (60,000 rows through a 512-512 network, on the helper thread)
may still be running: a Stop then also waits for that validation, so the
epoch is kept. The validation's own duration is printed beside it.
"""

from __future__ import annotations

import itertools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.report import Report

report = Report()


def _run():
    from bench.train_speed import make_table
    from layerlab.model.train import TrainingRun
    from layerlab.schema.spec import Feature, ModelSpec, parse_layers

    case = {"rows": 300_000, "numeric": 20, "categorical": 0, "task": "binary"}
    spec = ModelSpec(
        target="y",
        task="binary",
        features=[Feature(f"x{i}", "numeric") for i in range(20)],
        layers=parse_layers("dense:512:relu,dense:512:relu"),
        batch_size=16,
        epochs=3,
        patience=0,
    )
    return TrainingRun(make_table(case), spec)


def mid_epoch_stop() -> None:
    from layerlab.model.train import EpochEnd

    run = _run()
    stamps: list[float] = []
    stop_at: list[float] = []

    def on_event(event) -> None:
        stamps.append(time.perf_counter())
        if isinstance(event, EpochEnd) and event.epoch == 1:
            stop_at.append(time.perf_counter() + 1.5)

    def should_stop() -> bool:
        return bool(stop_at) and time.perf_counter() >= stop_at[0]

    started = time.perf_counter()
    result = run.run(on_event=on_event, should_stop=should_stop)
    returned = time.perf_counter()
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]  # after compilation
    report("Stop 1.5 s into epoch 2:")
    report(f"  epochs finished: {len(result.history)}; stop reason: {result.stop_reason}")
    report(f"  events: {len(stamps)}; first event after {stamps[0] - started:.2f}s (compilation)")
    report(f"  largest gap between events after the first: {max(gaps):.2f}s")
    report(f"  Stop requested -> run() returned: {returned - stop_at[0]:.2f}s")
    report(f"  kept epoch: {result.kept_epoch}")


def early_in_epoch_stop() -> None:
    from layerlab.model.train import EpochProgress

    run = _run()
    asked: list[float] = []
    validations: list[float] = []
    validate = run._validate

    def timed_validate(snapshot):
        started = time.perf_counter()
        metrics = validate(snapshot)
        validations.append(time.perf_counter() - started)
        return metrics

    run._validate = timed_validate

    def on_event(event) -> None:
        if isinstance(event, EpochProgress) and event.epoch == 2 and not asked:
            asked.append(time.perf_counter())

    result = run.run(on_event=on_event, should_stop=lambda: bool(asked))
    returned = time.perf_counter()
    report("Stop at the first report of epoch 2:")
    report(f"  epochs finished: {len(result.history)}; kept epoch: {result.kept_epoch}")
    report(f"  Stop requested -> run() returned: {returned - asked[0]:.2f}s")
    report(f"  epoch 1's validation pass took {validations[0]:.2f}s (on the helper thread)")


def main() -> int:
    mid_epoch_stop()
    early_in_epoch_stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(
        report.run(main, __doc__.splitlines()[0], "Responsiveness: progress reports and Stop")
    )
