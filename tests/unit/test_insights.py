"""A kept run's insights: importance and model card, beside the model and in the bundle."""

from __future__ import annotations

import zipfile

import pandas as pd

from layerlab.evaluate import evaluate
from layerlab.export import BUNDLE_FILES, write_bundle
from layerlab.insights import left_out_reasons, run_insights
from layerlab.jobs import keep_files


def test_insights_rank_every_used_column_and_the_card_says_what_was_left_out(churn_result):
    insights = run_insights(churn_result, evaluate(churn_result))
    used = [feature.name for feature in churn_result.spec.features]
    assert sorted(insights.importance["column"]) == sorted(used)
    assert insights.importance["score"].iloc[0] == "log loss"
    card = insights.card
    assert "# Model card: predicting `churned`" in card
    assert "**Intended use:**" in card and "95% interval" in card
    for name, reason in left_out_reasons(churn_result).items():
        assert f"`{name}`: {reason}" in card


def test_the_bundle_and_the_run_folder_carry_importance_and_the_card(churn_result, tmp_path):
    bundle = write_bundle(churn_result, evaluate(churn_result), tmp_path / "bundle")
    assert sorted(path.name for path in bundle.iterdir()) == sorted(BUNDLE_FILES)
    table = pd.read_csv(bundle / "importance.csv")
    assert list(table.columns) == ["column", "importance", "spread", "score"]
    trained = keep_files(churn_result, tmp_path / "run")
    assert trained.importance()["column"].tolist() == table["column"].tolist()
    assert trained.model_card().startswith("# Model card")
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
