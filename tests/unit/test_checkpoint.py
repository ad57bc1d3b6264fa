"""Checkpoints: the weights a run would keep, saved to disk as they change, as plain Keras files."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pandas as pd
import pytest

from layerlab.model.build import encode_target, predict_frame, predict_outputs
from layerlab.model.train import CheckpointSaved, EpochEnd, TrainingRun, preprocess
from layerlab.schema.errors import TrainingError
from layerlab.schema.spec import LayerSpec, ModelSpec


def swinging_spec(table_spec, **changes) -> ModelSpec:
    """A wide network at a high rate on ``make_table(100)``: validation loss swings up after
    epoch 3, so the best epoch is an early one."""
    layers = [LayerSpec.dense(64), LayerSpec.dense(64)]
    return table_spec(epochs=8, learning_rate=0.05, batch_size=16, layers=layers, **changes)


def run_keeping_copies(run: TrainingRun, folder, stop_after: int | None = None):
    """Run (stopped on request after epoch ``stop_after``, if given), copying the checkpoint
    file as each ``CheckpointSaved`` arrives; return the result, the epochs saved and the
    first copy of each: {epoch: copy}."""
    copies = {}
    events = []

    def should_stop() -> bool:
        ended = [event for event in events if isinstance(event, EpochEnd)]
        return stop_after is not None and len(ended) >= stop_after

    def on_event(event):
        events.append(event)
        if isinstance(event, CheckpointSaved):
            copy = folder / f"epoch-{event.epoch}-{len(events)}.keras"
            shutil.copyfile(event.path, copy)
            copies.setdefault(event.epoch, copy)

    result = run.run(on_event=on_event, should_stop=should_stop)
    saved = [event.epoch for event in events if isinstance(event, CheckpointSaved)]
    return result, saved, copies


def predictions(path, spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    return predict_outputs(keras.saving.load_model(path), spec, frame)  # safe mode


def new_bests(history: list[dict[str, float]]) -> list[int]:
    best, epochs = np.inf, []
    for row in history:
        if row["val_loss"] < best:
            best = row["val_loss"]
            epochs.append(row["epoch"])
    return epochs


def stopped_after(frame: pd.DataFrame, spec: ModelSpec, last_epoch: int):
    """The same run (it is reproducible), stopped on request once ``last_epoch`` has ended."""
    ended = []
    return TrainingRun(frame, spec).run(
        on_event=lambda event: isinstance(event, EpochEnd) and ended.append(event.epoch),
        should_stop=lambda: bool(ended) and ended[-1] >= last_epoch,
    )


def test_each_new_best_is_saved_and_loads_with_plain_keras_as_the_kept_model(
    make_table, table_spec, tmp_path
):
    frame, spec = make_table(100), swinging_spec(table_spec)
    path = tmp_path / "best.keras"
    run = TrainingRun(frame, spec, checkpoint_path=path, checkpoint_seconds=0)
    result, saved, copies = run_keeping_copies(run, tmp_path)

    assert saved == new_bests(result.history)
    assert saved[-1] == result.kept_epoch == result.best_epoch < len(result.history)
    written = [file.name for file in tmp_path.iterdir() if not file.name.startswith("epoch-")]
    assert written == ["best.keras"]  # no partial file left beside it
    np.testing.assert_array_equal(
        predictions(path, spec, frame), predict_frame(result.built, frame)
    )

    # An earlier checkpoint, saved while training went on, holds what a run stopped at that
    # epoch keeps.
    earlier = saved[len(saved) // 2]
    assert earlier < saved[-1]
    stopped = stopped_after(frame, spec, earlier)
    assert stopped.kept_epoch == earlier
    np.testing.assert_array_equal(
        predictions(copies[earlier], spec, frame), predict_frame(stopped.built, frame)
    )


def test_without_restore_best_weights_each_epoch_is_saved_and_a_stop_saves_the_best_at_the_end(
    make_table, table_spec, tmp_path
):
    frame, spec = make_table(100), swinging_spec(table_spec, restore_best_weights=False)
    path = tmp_path / "last.keras"
    run = TrainingRun(frame, spec, checkpoint_path=path, checkpoint_seconds=0)
    result, saved, _ = run_keeping_copies(run, tmp_path, stop_after=5)
    assert result.stop_reason == "stopped"
    assert result.best_epoch < 5  # so a stop keeps other weights than the last epoch's
    assert saved == [1, 2, 3, 4, 5, result.best_epoch]
    np.testing.assert_array_equal(
        predictions(path, spec, frame), predict_frame(result.built, frame)
    )


def test_checkpoints_wait_checkpoint_seconds_but_the_kept_epoch_is_saved_at_the_end(
    make_table, table_spec, tmp_path
):
    frame, spec = make_table(150), table_spec(epochs=4)
    path = tmp_path / "run" / "checkpoint.keras"  # the folder is made
    run = TrainingRun(frame, spec, checkpoint_path=path, checkpoint_seconds=1e9)
    result, saved, _ = run_keeping_copies(run, tmp_path)
    assert result.kept_epoch > 1
    assert saved == [1, result.kept_epoch]
    assert result.history == TrainingRun(frame, spec).run().history  # saving changes nothing
    np.testing.assert_array_equal(
        predictions(path, spec, frame), predict_frame(result.built, frame)
    )


def test_an_interrupted_run_saves_the_weights_it_keeps(make_table, table_spec, tmp_path):
    class Interrupted(Exception):
        pass

    def on_event(event):
        if isinstance(event, EpochEnd) and event.epoch == 3:
            raise Interrupted

    frame, spec = make_table(150), table_spec(epochs=6)
    path = tmp_path / "checkpoint.keras"
    run = TrainingRun(frame, spec, checkpoint_path=path, checkpoint_seconds=1e9)
    with pytest.raises(Interrupted):
        run.run(on_event=on_event)
    assert run.result.kept_epoch > 1  # later than the one checkpoint written while training
    np.testing.assert_array_equal(
        predictions(path, spec, frame), predict_frame(run.result.built, frame)
    )


def test_a_checkpoint_path_that_keras_cannot_load_is_refused_before_training(
    make_table, table_spec, tmp_path
):
    with pytest.raises(TrainingError, match=r"must end in \.keras.*Try '.*best\.keras'"):
        TrainingRun(make_table(60), table_spec(), checkpoint_path=tmp_path / "best.h5")


def test_validation_reads_its_snapshot_not_the_variables_so_a_checkpoint_swap_is_unseen(
    make_table, table_spec
):
    """The helper thread validates while the main thread may hold other weights to save them."""
    import tensorflow as tf

    from layerlab.model.engine import CompiledLoopEngine

    run = TrainingRun(make_table(150), table_spec())
    built, splits, target = run.built, run.splits, run.spec.target

    def tensors(part: pd.DataFrame):
        y = encode_target(part[target], built)
        return tf.constant(preprocess(built, part)), tf.constant(y), tf.ones(len(y))

    engine = CompiledLoopEngine(
        built, tensors(splits.train), tensors(splits.validation), 32, jit=True
    )
    untrained = engine.snapshot()
    engine.start_epoch(np.arange(len(splits.train)))
    assert engine.train_slice(0, engine.steps_per_epoch)
    trained = engine.snapshot()
    scores = engine.evaluate(trained)
    assert scores != engine.evaluate(untrained)

    weights_now = [weight.numpy() for weight in built.network.weights]
    with engine.holding(untrained):
        assert engine.evaluate(trained) == scores
        for weight in built.network.weights:
            weight.assign(np.full(weight.shape, np.nan, "float32"))
        assert engine.evaluate(trained) == scores
    for before, after in zip(weights_now, built.network.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())  # put back exactly
