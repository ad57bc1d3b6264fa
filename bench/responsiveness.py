"""How often a long epoch reports progress, and how soon Stop takes effect.

    python -m bench.responsiveness

Trains on a table large enough that one epoch takes several seconds, records
the gaps between consecutive events, asks to stop a moment into the second
epoch and measures how long ``run()`` takes to return after that request.
"""

from __future__ import annotations

import itertools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    from bench.train_speed import make_table
    from layerlab.spec import Feature, ModelSpec, parse_layers
    from layerlab.train import EpochEnd, TrainingRun

    case = {"rows": 300_000, "numeric": 20, "categorical": 0, "task": "binary"}
    frame = make_table(case)
    spec = ModelSpec(
        target="y",
        task="binary",
        features=[Feature(f"x{i}", "numeric") for i in range(20)],
        layers=parse_layers("dense:512:relu,dense:512:relu"),
        batch_size=16,
        epochs=3,
        patience=0,
    )
    run = TrainingRun(frame, spec)
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
    first_epoch = result.history[0] if result.history else None
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]  # after compilation
    print(f"epochs finished: {len(result.history)}; stop reason: {result.stop_reason}")
    print(f"events: {len(stamps)}; first event after {stamps[0] - started:.2f}s (compilation)")
    print(f"largest gap between events after the first: {max(gaps):.2f}s")
    print(f"Stop requested -> run() returned: {returned - stop_at[0]:.2f}s")
    print(f"kept epoch: {result.kept_epoch}; first epoch metrics: {first_epoch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
