"""Any column name a file can hold builds, trains, saves, loads and predicts under that name."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.data import profile_columns
from layerlab.jobs import JobContext, predict_rows, train_model
from layerlab.spec import LayerSpec, default_spec


def test_names_with_slashes_and_markup_are_columns_like_any_other():
    rows = 48
    x = np.linspace(0.0, 1.0, rows)
    frame = pd.DataFrame(
        {
            "<b>html</b>": x,
            "km/h": x[::-1],
            "colour/shade": ["red", "green", "blue", "red"] * (rows // 4),
            "y": 3 * x + 1,
        }
    )
    spec = default_spec("y", "regression", profile_columns(frame, "y")).replace(
        layers=[LayerSpec.dense(4, "relu")], epochs=2, batch_size=8
    )
    trained = train_model(JobContext(), frame, spec)
    assert trained.usable
    scored = predict_rows(JobContext(), trained.model_file, spec, trained.classes, frame.head(3))
    assert len(scored) == 3 and np.isfinite(scored["prediction"]).all()
