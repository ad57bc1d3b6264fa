"""Every row used: once validation has chosen how many epochs to train, a fresh network
trains on the training and validation rows together for that many epochs, and becomes the
model.

The validation rows are a fifth of what a network may learn from; on small tables the
rows matter more than anything a recipe changes. The run's curves, best epoch and early
stopping stay those of the first network (they are what chose the epochs); the test rows
stay unseen by both. The refit replays the first network's learning rate epoch by epoch
(``lr_plateau_factor``'s lowerings included) and its seed, so the same spec on the same
table gives the same model.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from layerlab.model.build import build_model, encode_target
from layerlab.model.engine import CompiledLoopEngine
from layerlab.schema.run_events import RefitProgress, TrainingEvent
from layerlab.schema.vocabulary import StopReason

# A refit follows only a run that ended on its own terms: one Stop ended or that diverged
# keeps the network it has.
REFIT_AFTER = (StopReason.EARLY_STOPPING, StopReason.COMPLETED)


def refit_rows(result) -> pd.DataFrame:
    """The rows a refit learns from: the training rows, then the validation rows."""
    return pd.concat([result.splits.train, result.splits.validation])


def refit(
    result,
    *,
    jit: bool,
    on_event: Callable[[TrainingEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
):
    """``result`` (a ``train.TrainingResult`` whose spec asks for ``refit``) with a network
    trained on every training and validation row for ``result.kept_epoch`` epochs; the same
    result, its message saying why, when Stop comes first or the loss is not finite."""
    # Not at the top: this module is imported with the trainer, before TensorFlow is set up.
    import tensorflow as tf

    from layerlab.model.train import SLICE_SECONDS, preprocess, row_weights, spec_class_weights

    spec, epochs = result.spec, result.kept_epoch
    started = time.perf_counter()
    rows = refit_rows(result)
    built = build_model(spec, rows, result.classes)
    class_weights = spec_class_weights(spec, built, rows)
    x = tf.constant(preprocess(built, rows))
    y = encode_target(rows[spec.target], built)
    w = tf.constant(row_weights(class_weights, y))
    y = tf.constant(y)
    # The engine wants validation rows to score; the refit scores none (one row stands in).
    engine = CompiledLoopEngine(
        built, (x, y, w), (x[:1], y[:1], w[:1]), min(spec.batch_size, len(rows)), jit=jit
    )
    rng = np.random.default_rng(spec.seed)
    stop = should_stop or (lambda: False)
    steps = engine.steps_per_epoch
    steps_per_slice = min(steps, 32)
    for epoch in range(1, epochs + 1):
        rate = result.history[epoch - 1].get("learning_rate")
        if rate is not None:
            engine.set_learning_rate(rate)
        engine.start_epoch(rng.permutation(len(rows)))
        step = 0
        while step < steps:
            n_steps = min(steps_per_slice, steps - step)
            slice_started = time.perf_counter()
            if not engine.train_slice(step, n_steps):
                return _kept_as_it_was(result, "its loss was not finite")
            step += n_steps
            if epoch > 1:  # the first slices include compilation
                per_step = max((time.perf_counter() - slice_started) / n_steps, 1e-6)
                steps_per_slice = max(1, min(steps, int(SLICE_SECONDS / per_step)))
            if stop():
                return _kept_as_it_was(result, "Stop was pressed")
            if on_event is not None:
                on_event(
                    RefitProgress(
                        epoch, epochs, step / steps, len(rows), result.seconds + _since(started)
                    )
                )
    engine.restore(engine.snapshot())  # the moving statistics, carried as values, into the model
    return dataclasses.replace(
        result,
        built=built,
        message=result.message
        + f" Then a fresh network trained on all {len(rows):,} training and validation rows "
        f"for those {epochs:,} epochs; it is the model.",
        seconds=result.seconds + _since(started),
        class_weights=None
        if class_weights is None
        else dict(zip(built.classes, map(float, class_weights), strict=True)),
        train_inputs=x,
        refitted=True,
    )


def _kept_as_it_was(result, why: str):
    return dataclasses.replace(
        result,
        message=result.message
        + f" The network was to be trained again on every training and validation row, but "
        f"{why}: the network trained on the training rows alone is kept.",
        boosting=None,  # it learned from the validation rows too; ``evaluate`` fits it again
    )


def _since(started: float) -> float:
    return time.perf_counter() - started
