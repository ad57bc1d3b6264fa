"""A kept run's insights: importance and model card, beside the model and in the bundle."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd

from layerlab.model.evaluate import evaluate
from layerlab.model.export import BUNDLE_FILES, write_bundle
from layerlab.model.insights import left_out_reasons, run_insights
from layerlab.model.jobs import keep_files
from layerlab.report.markdown import code_name, md
from layerlab.report.model_card import ESCAPED_MARK


def test_insights_rank_every_used_column_and_the_card_says_what_was_left_out(churn_result):
    insights = run_insights(churn_result, evaluate(churn_result))
    used = [feature.name for feature in churn_result.spec.features]
    assert sorted(insights.importance["column"]) == sorted(used)
    assert insights.importance["score"].iloc[0] == "log loss"
    card = insights.card
    assert "# Model card: predicting `churned`" in card
    assert "**Intended use:**" in card and "95% interval" in card
    for name, reason in left_out_reasons(churn_result).items():
        assert f"{code_name(name)}: {md(reason)}" in card


def test_the_bundle_and_the_run_folder_carry_importance_and_the_card(churn_result, tmp_path):
    bundle = write_bundle(churn_result, evaluate(churn_result), tmp_path / "bundle")
    assert sorted(path.name for path in bundle.iterdir()) == sorted(BUNDLE_FILES)
    table = pd.read_csv(bundle / "importance.csv")
    assert list(table.columns) == ["column", "importance", "spread", "score", "rows"]
    trained = keep_files(churn_result, tmp_path / "run")
    assert trained.importance()["column"].tolist() == table["column"].tolist()
    assert trained.model_card().startswith(f"{ESCAPED_MARK}\n\n# Model card")
    with zipfile.ZipFile(trained.bundle_file) as archive:
        assert {"importance.csv", "MODEL_CARD.md", "train.py"} <= set(archive.namelist())
    assert "import layerlab" not in (tmp_path / "run" / "train.py").read_text()


def test_the_run_keeps_its_kernels_and_exact_input_groups_for_the_picture(churn_result, tmp_path):
    trained = keep_files(churn_result, tmp_path / "run")
    groups, kernels = trained.network()
    assert [group.column for group in groups] == [f.name for f in churn_result.spec.features]
    assert sum(group.inputs for group in groups) == churn_result.built.n_features
    weights = [layer.get_weights()[0] for layer in churn_result.built.stack if layer.get_weights()]
    dense = [kernel for kernel in weights if kernel.ndim == 2]
    assert [kernel.shape for kernel in kernels] == [kernel.shape for kernel in dense]


def test_the_run_keeps_the_predictions_of_the_pictures_results_opens_on(churn_result, tmp_path):
    from layerlab.model.build import predict_frame
    from layerlab.tabular.effects import opening_views, rows_fingerprint, view_rows

    trained = keep_files(churn_result, tmp_path / "run")
    kept = trained.opening_predictions()
    spec, test = churn_result.spec, churn_result.splits.test
    views = opening_views(spec)
    assert views[0] == ("ice", spec.features[0].name)
    assert views[1][0] == "surface"  # churn is binary, with numeric columns
    assert set(kept) == set(views)
    for view in views:
        rows = view_rows(test, spec, view)
        fingerprint, predictions = kept[view]
        assert fingerprint == rows_fingerprint(rows)
        np.testing.assert_allclose(predictions, predict_frame(churn_result.built, rows), atol=1e-6)
    # Rows made another way (here: one row less) are not the rows the predictions are for.
    assert rows_fingerprint(view_rows(test.iloc[1:], spec, views[0])) != kept[views[0]][0]


def test_the_card_names_the_test_rows_and_the_columns_not_measured_in_time():
    from layerlab.report.model_card import CardFacts, card_markdown

    table = pd.DataFrame(
        {
            "column": ["a", "b", "c"],
            "importance": [0.3, np.nan, np.nan],
            "spread": [0.01, np.nan, np.nan],
            "score": "MAE",
            "rows": 2000,
        }
    )
    facts = CardFacts(
        target="y",
        task="regression",
        network="one layer",
        rows={"train": 6000, "validation": 2000, "test": 2000},
        used=[("a", "numeric"), ("b", "numeric"), ("c", "numeric")],
        left_out={},
        intervals={},
        baselines={"naive": {"mae": 1.0}},
        importance=table,
        diagnoses=[],
        warnings=[],
    )
    card = card_markdown(facts)
    assert "(mean ± spread over repeats, on 2,000 test rows):" in card
    assert "- `a`: 0.3 ± 0.01" in card and "- `b`" not in card and "nan" not in card
    assert "- 2 other columns were not measured: importance may take only a share" in card
