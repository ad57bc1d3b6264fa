"""Same data, spec and seed: the same history and weights, bit for bit, whatever else runs.

Other runs may train in other threads of the same process (a shared server), and
the machine may be busy, which changes how each epoch is sliced.
"""

from __future__ import annotations

import random
import threading

import keras
import numpy as np

from layerlab.model.build import build_model
from layerlab.model.train import TrainingRun, train
from layerlab.schema.spec import LayerSpec


def reproducible_spec(table_spec, **changes):
    # 120 training rows in batches of 8: 15 steps an epoch.
    layers = [LayerSpec.dense(16), LayerSpec.dropout(0.3), LayerSpec.dense(8, "tanh")]
    return table_spec(batch_size=8, epochs=3, layers=layers, **changes)


def weights_of(result) -> list[np.ndarray]:
    return [np.asarray(weight) for weight in result.built.model.get_weights()]


def test_history_and_weights_are_bit_identical_with_other_runs_in_threads_and_any_slicing(
    make_table, table_spec, monkeypatch
):
    frame, spec = make_table(200), reproducible_spec(table_spec)

    # Alone, each epoch in one slice.
    monkeypatch.setattr("layerlab.model.train.SLICE_SECONDS", 1e9)
    alone = train(frame, spec)

    # Again, one step per slice from the third epoch (as on a machine too busy for more;
    # the first two are timed in one slice each), while two other runs
    # with other seeds build and train in threads of this process until it is done.
    monkeypatch.setattr("layerlab.model.train.SLICE_SECONDS", 0.0)
    done = threading.Event()
    failures: list[BaseException] = []

    def train_others(seed: int) -> None:
        try:
            while not done.is_set():
                train(make_table(60, seed=seed), table_spec(epochs=1, seed=seed))
        except BaseException as error:
            failures.append(error)

    others = [threading.Thread(target=train_others, args=(seed,)) for seed in (1, 2)]
    for thread in others:
        thread.start()
    try:
        busy = train(frame, spec)
    finally:
        done.set()
        for thread in others:
            thread.join()
    assert not failures

    assert busy.history == alone.history  # exactly equal floats, not close ones
    assert len({row["loss"] for row in alone.history}) == 3
    for mine, theirs in zip(weights_of(busy), weights_of(alone), strict=True):
        assert np.array_equal(mine, theirs)


def test_building_does_not_read_the_process_wide_random_state(make_table, table_spec, monkeypatch):
    """Another thread may reseed or draw from the global generators at any moment, also in the
    middle of this build, so the initial weights may not depend on them at all."""
    import tensorflow as tf

    frame, spec = make_table(100), reproducible_spec(table_spec)
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda seed: None)

    def initial_weights(global_seed: int) -> list[np.ndarray]:
        random.seed(global_seed)
        np.random.seed(global_seed)
        tf.random.set_seed(global_seed)
        return [np.asarray(w) for w in build_model(spec, frame).model.get_weights()]

    for first, second in zip(initial_weights(1), initial_weights(2), strict=True):
        assert np.array_equal(first, second)


def test_each_dense_layer_starts_from_its_own_seeded_draw(make_table, table_spec):
    frame = make_table(100)
    spec = table_spec(layers=[LayerSpec.dense(8), LayerSpec.dense(8), LayerSpec.dense(8)])
    second, third = (layer.kernel.numpy() for layer in build_model(spec, frame).stack[1:3])
    assert not np.array_equal(second, third)  # same shape, different draws
    reseeded = build_model(spec.replace(seed=spec.seed + 1), frame).stack[1].kernel.numpy()
    assert not np.array_equal(reseeded, second)


def test_a_run_prepared_before_train_trains_to_the_same_bits(make_table, table_spec):
    """``prepare`` compiles before the click (a worker does it while the Train page shows);
    compiling may move no weight, optimizer slot, moving statistic or dropout seed. The
    worker clears Keras's session between the two, as it does after every job."""
    frame = make_table(200)
    layers = [
        LayerSpec.dense(16),
        LayerSpec.batch_norm(),
        LayerSpec.dropout(0.3),
        LayerSpec.dense(8, "tanh"),
    ]
    spec = table_spec(batch_size=8, epochs=3, layers=layers, optimizer="adam")
    plain = TrainingRun(frame, spec).run()

    prepared = TrainingRun(frame, spec)
    prepared.prepare()
    keras.backend.clear_session()
    result = prepared.run()

    assert result.history == plain.history  # exactly equal floats, not close ones
    assert len({row["loss"] for row in plain.history}) == 3
    for mine, theirs in zip(weights_of(result), weights_of(plain), strict=True):
        assert np.array_equal(mine, theirs)
