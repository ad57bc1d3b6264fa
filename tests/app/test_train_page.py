"""Train page: train with live curves and progress, stop keeping the best weights, explain failures."""

from __future__ import annotations

import threading
import time

import pytest
from app_support import seed_dataset, small_network, tiny_regression_frame

from layerlab.spec import LayerSpec
from layerlab.train import EpochEnd, TrainingRun
from layerlab_app import state


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def open_train_page(at):
    return at.switch_page("pages/train.py").run()


def test_train_page_asks_for_data_first(app):
    at = open_train_page(app)
    assert not at.exception
    assert "First load data" in texts(at.info)
    assert not [button for button in at.button if button.key == "train_button"]


def test_invalid_settings_block_training_and_point_to_the_model_page(app):
    seed_dataset(app, tiny_regression_frame(), "y", batch_size=0)
    at = open_train_page(app)
    assert "The 'batch_size' must be a whole number from 1 to 65536; got 0." in texts(at.error)
    assert not [button for button in at.button if button.key == "train_button"]


def test_training_draws_curves_and_keeps_the_model(app):
    seed_dataset(app, tiny_regression_frame(), "y", layers=small_network(), epochs=3, batch_size=8)
    at = open_train_page(app)
    assert at.button(key="stop_button").disabled
    at.button(key="train_button").click().run()
    assert not at.exception
    assert texts(at.success).startswith("Training ran all 3 epochs.")
    result = at.session_state[state.RESULT]
    assert len(result.history) == 3
    assert len(at.get("plotly_chart")) == 1
    assert "Ran all 3 epochs; epoch" in texts(at.caption)
    assert "Trained on 24 rows and validated on 8" in texts(at.caption)
    # Drawn again from the state: Train is clickable again, Stop is not.
    assert not at.button(key="train_button").disabled
    assert at.button(key="stop_button").disabled
    assert "Last run:" in texts(at.sidebar.markdown)
    assert "See how the model does on the test set." in texts(at.sidebar.markdown)


def test_a_diverging_run_is_a_plain_error_with_the_fix(app):
    seed_dataset(
        app,
        tiny_regression_frame(),
        "y",
        layers=[LayerSpec.dense(64, "linear")] * 3,
        optimizer="sgd",
        learning_rate=10.0,
        batch_size=4,
        epochs=3,
    )
    at = open_train_page(app)
    at.button(key="train_button").click().run()
    assert not at.exception
    [error] = at.error
    assert "the loss became NaN or infinite" in error.value
    assert "try 0.01" in error.value
    assert at.session_state.get(state.RESULT) is None


class Interrupted(Exception):
    """What Streamlit raises inside the event handler when the user clicks a button."""


def test_a_run_interrupted_by_a_click_keeps_its_best_weights(app):
    spec = seed_dataset(
        app, tiny_regression_frame(), "y", layers=small_network(), epochs=50, batch_size=8
    )
    run = TrainingRun(tiny_regression_frame(), spec)

    def click_during_epoch_3(event):
        if isinstance(event, EpochEnd) and event.epoch == 3:
            raise Interrupted

    active = state.ActiveRun(run)
    app.session_state[state.TRAINING_RUN] = active
    with pytest.raises(Interrupted):
        run.run(on_event=click_during_epoch_3)
    active.ended.set()

    at = open_train_page(app)
    assert not at.exception
    assert "Training was stopped on request." in texts(at.info)
    result = at.session_state[state.RESULT]
    assert result is run.result
    assert result.stop_reason == "stopped"
    assert "Stopped by you after 3 of 50 epochs; epoch" in texts(at.caption)
    assert at.session_state[state.TRAINING_RUN] is None


def test_changed_settings_after_a_run_ask_to_train_again(app, trained_regression):
    seed_dataset(app, trained_regression.frame, "y", spec=trained_regression.result.spec)
    app.session_state[state.RESULT] = trained_regression.result
    at = open_train_page(app)
    assert not texts(at.info)
    at.session_state[state.SPEC] = trained_regression.result.spec.replace(epochs=99)
    at.run()
    assert "The settings changed since: train again" in texts(at.info)
    assert "The settings changed since the last run" in texts(at.sidebar.markdown)


def test_adoption_waits_for_a_run_still_stopping_in_the_old_script_thread(app):
    # With runner.fastReruns on, Streamlit starts the next script run while the old one is
    # still on its way to its next st call; the new run must wait for the kept weights.
    spec = seed_dataset(
        app, tiny_regression_frame(), "y", layers=small_network(), epochs=50, batch_size=8
    )
    run = TrainingRun(tiny_regression_frame(), spec)
    active = state.ActiveRun(run)
    app.session_state[state.TRAINING_RUN] = active

    def old_script_thread():
        def slow_click(event):
            if isinstance(event, EpochEnd) and event.epoch == 2:
                time.sleep(0.5)
                raise Interrupted

        try:
            run.run(on_event=slow_click)
        except Interrupted:
            pass
        finally:
            active.ended.set()

    thread = threading.Thread(target=old_script_thread)
    thread.start()
    at = open_train_page(app)
    thread.join()
    assert not at.exception
    assert at.session_state[state.RESULT] is run.result
    assert "Stopped by you after 2 of 50 epochs" in texts(at.caption)
