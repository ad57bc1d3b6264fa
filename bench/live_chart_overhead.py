"""What the app's live view (learning curves + progress bar) costs a training run.

    python -m bench.live_chart_overhead

Runs the same spec twice in one process, alternating, three times each: bare
(``TrainingRun.run`` with no callback) and through the Train page's own
``LiveView`` inside a real Streamlit script run (``AppTest``), so every chart
redraw is built, serialized and queued for the browser as in the app. Epochs
are short (many redraw opportunities), the worst case for the throttle.
"""

from __future__ import annotations

import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EPOCHS = 60


def live_case():
    """The table and spec both sides train: short epochs, so the redraw throttle is busiest."""
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
    import streamlit as st

    from bench.live_chart_overhead import live_case
    from layerlab.train import TrainingRun
    from layerlab_app.live import LiveView

    frame, spec = live_case()
    live = LiveView("accuracy", early_stopping=False)
    run = TrainingRun(frame, spec)
    run.run(on_event=lambda event: live.update(event, run.history))
    st.session_state["seconds"] = run.result.seconds
    st.session_state["draws"] = live._draws


def main() -> int:
    from streamlit.testing.v1 import AppTest

    from layerlab.train import TrainingRun

    frame, spec = live_case()
    bare, live, draws = [], [], 0
    for _ in range(3):
        bare.append(TrainingRun(frame, spec).run().seconds)
        app = AppTest.from_function(_script, default_timeout=300).run()
        live.append(app.session_state["seconds"])
        draws = app.session_state["draws"]
    b, v = statistics.median(bare), statistics.median(live)
    print(f"{EPOCHS} epochs of {b / EPOCHS * 1000:.0f} ms; chart redraws per live run: {draws}")
    print(f"bare trainer: {b:.2f} s (runs: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"with the app's live view: {v:.2f} s (runs: {', '.join(f'{x:.2f}' for x in live)})")
    print(f"overhead: {100 * (v - b) / b:+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
