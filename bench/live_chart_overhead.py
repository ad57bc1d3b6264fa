"""What the app's live view (learning curves + progress bar) costs a training run.

    python -m bench.live_chart_overhead [--write bench/LIVE_CHART.md]

Trains the same spec in one process, five rounds, each round three ways:
bare (``TrainingRun.run`` on the main thread, no callback); inside a real
Streamlit script run (``AppTest``) with no callback; and inside a script run
through the Train page's own ``LiveView``, so every chart redraw is built,
serialized and queued for the browser as in the app. Epochs are short (many
redraw opportunities), the worst case for the redraw throttle.

The live chart's cost is the third against the second: same harness, only the
view differs. The time spent inside the view's callbacks is also reported as a
share of the live run (exact: the training loop waits for nothing else). The
second against the first is what running inside a Streamlit script run costs
at all, view or not; it has varied from +0.7% to +6% between runs on the
development machine, and a thread polling every millisecond (as AppTest's main
thread does) did not reproduce it on its own.
"""

from __future__ import annotations

import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.report import Report

report = Report()

EPOCHS = 60
ROUNDS = 5


def live_case():
    """The table and spec every variant trains: short epochs, so the redraw throttle is busiest."""
    from bench.train_speed import make_table
    from layerlab.spec import Feature, ModelSpec, parse_layers

    frame = make_table({"rows": 20_000, "numeric": 20, "categorical": 0, "task": "binary"})
    spec = ModelSpec(
        target="y",
        task="binary",
        features=[Feature(f"x{i}", "numeric") for i in range(20)],
        layers=parse_layers("dense:64:relu,dense:64:relu"),
        epochs=EPOCHS,
        patience=0,
    )
    return frame, spec


def _script() -> None:
    import time

    import streamlit as st

    from bench.live_chart_overhead import live_case
    from layerlab.train import TrainingRun
    from layerlab_app.live import LiveView

    frame, spec = live_case()
    run = TrainingRun(frame, spec)
    in_view = []
    if st.session_state["with_view"]:
        live = LiveView("accuracy", early_stopping=False)

        def on_event(event) -> None:
            started = time.perf_counter()
            live.update(event, run.history)
            in_view.append(time.perf_counter() - started)

        run.run(on_event=on_event)
        st.session_state["draws"] = live._draws
    else:
        run.run()
    st.session_state["seconds"] = run.result.seconds
    st.session_state["in_view"] = sum(in_view)


def _in_app(with_view: bool):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_script, default_timeout=300)
    app.session_state["with_view"] = with_view
    return app.run().session_state


def _runs(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def main() -> int:
    from layerlab.train import TrainingRun

    frame, spec = live_case()
    bare, plain, live, shares, draws = [], [], [], [], 0
    for _ in range(ROUNDS):
        bare.append(TrainingRun(frame, spec).run().seconds)
        plain.append(_in_app(with_view=False)["seconds"])
        state = _in_app(with_view=True)
        live.append(state["seconds"])
        shares.append(state["in_view"] / state["seconds"])
        draws = state["draws"]
    b, p, v = (statistics.median(values) for values in (bare, plain, live))
    report(f"{EPOCHS} epochs, about {b:.2f} s a run (compilation included); chart redraws: {draws}")
    report(f"bare trainer, main thread:      {b:.2f} s (runs: {_runs(bare)})")
    report(f"in a script run, no live view:  {p:.2f} s (runs: {_runs(plain)})")
    report(f"in a script run, live view:     {v:.2f} s (runs: {_runs(live)})")
    report(f"live view's cost (live vs no view, same harness): {100 * (v - p) / p:+.1f}%")
    report(
        f"time inside the live view's callbacks: {100 * statistics.median(shares):.1f}% of the "
        f"live run (runs: {', '.join(f'{100 * share:.1f}%' for share in shares)})"
    )
    report(f"the script run itself (no view vs bare): {100 * (p - b) / b:+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(report.run(main, __doc__.splitlines()[0], "What the live chart costs"))
