"""Any column name a file can hold builds, trains, saves, loads and predicts under that name."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.model.jobs import JobContext, predict_rows, train_model
from layerlab.schema.spec import LayerSpec, default_spec
from layerlab.tabular.data import profile_columns


def test_names_with_slashes_and_markup_are_columns_like_any_other(tmp_path):
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
    trained = train_model(JobContext(), frame, spec, tmp_path)
    assert trained.usable
    scored = predict_rows(JobContext(), trained.model_file, spec, trained.classes, frame.head(3))
    assert len(scored) == 3 and np.isfinite(scored["prediction"]).all()


def test_names_that_clean_to_the_same_stem_numbers_and_unicode_all_train_and_come_back(tmp_path):
    """Größe and Gräße both clean to "Gr_e"; "2024", "a.b", " spaced name " and 名前 are names too."""
    from layerlab.tabular.reading import read_csv

    rows = 48
    rng = np.random.default_rng(0)
    names = ["Größe", "Gräße", "2024", "a.b", "spaced name", "名前", "Ünïcödé"]
    columns = {name: rng.normal(size=rows).round(3) for name in names[:4]}
    columns["spaced name"] = rng.choice(["x", "y"], rows)
    columns["名前"] = rng.choice(["山", "川", "海"], rows)
    columns["Ünïcödé"] = rng.choice(["ja", "nein"], rows)
    frame = pd.DataFrame(columns)
    frame["target"] = frame["Größe"] - frame["Gräße"] + 0.1 * rng.normal(size=rows)
    frame = read_csv(frame.to_csv(index=False).replace("spaced name", " spaced name ").encode())
    assert list(frame.columns) == [*names, "target"]

    spec = default_spec("target", "regression", profile_columns(frame, "target")).replace(
        layers=[LayerSpec.dense(4, "relu")], epochs=2, batch_size=8
    )
    assert sorted(spec.feature_names) == sorted(names)
    trained = train_model(JobContext(), frame, spec, tmp_path)
    assert trained.usable, trained.message
    new = frame.drop(columns=["target"]).head(5)
    scored = predict_rows(JobContext(), trained.model_file, spec, trained.classes, new)
    assert len(scored) == 5 and np.isfinite(scored["prediction"]).all()
