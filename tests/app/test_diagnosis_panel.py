"""The diagnosis of the learning curves on the Train and Results pages, and its buttons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from app_support import seed_trained, session_of, texts, train, workspace_of

from layerlab.report.diagnosis import Diagnosis
from layerlab.schema.spec import LayerSpec
from layerlab.schema.vocabulary import DiagnosisKind, FixAction
from layerlab.tabular.reading import read_csv
from layerlab_app import diagnosis_panel

CHURN = Path(__file__).resolve().parents[2] / "data" / "customer_churn.csv"


@pytest.fixture(scope="module")
def overfitted():
    """A wide network on 300 rows for 120 epochs without early stopping: it overfits."""
    few = read_csv(CHURN).sample(300, random_state=0)
    return train(
        few,
        "churned",
        layers=[LayerSpec.dense(256, "relu"), LayerSpec.dense(256, "relu")],
        learning_rate=0.003,
        epochs=120,
        patience=0,
    )


def test_the_train_page_says_it_overfits_and_the_button_adds_dropout_to_a_copy(app, overfitted):
    seed_trained(app, overfitted)
    at = app.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert "overfit" in texts(at.warning).lower()
    [fix] = [button for button in at.button if button.key == "final_fix_overfitting"]
    assert fix.label == "Add dropout 0.2"
    at = fix.click().run()
    assert not at.exception
    spec = session_of(at).spec
    assert [layer.kind for layer in spec.layers] == ["dense", "dropout", "dense", "dropout"]
    assert "Press Train to try it" in texts(at.success)
    # The run itself is kept as it trained.
    assert [layer.kind for layer in overfitted.result.spec.layers] == ["dense", "dense"]
    at = at.switch_page("app_pages/model.py").run()
    assert not at.exception


def test_the_results_page_reads_the_curves_too(app, overfitted):
    seed_trained(app, overfitted)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "What the learning curves say" in texts(at.subheader)
    assert "overfit" in texts(at.warning).lower()
    assert any(button.key == "results_fix_overfitting" for button in at.button)


def test_the_results_page_shows_which_columns_matter_and_the_model_card(app, overfitted):
    seed_trained(app, overfitted)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "Which columns matter" in texts(at.subheader)
    charts = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert any("how much worse the test log loss gets when shuffled" in spec for spec in charts)
    assert "Shuffling" in texts(at.markdown)
    at.session_state["model_card_open"] = True  # the card is sent once its expander is open
    at.run()
    [card] = [block for block in at.markdown if block.value.startswith("### Model card")]
    assert "#### Test scores" in card.value


def test_the_results_page_draws_the_trained_network_with_its_weights(app, overfitted):
    seed_trained(app, overfitted)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    pictures = [
        chart.proto.spec for chart in at.get("plotly_chart") if "256 units" in chart.proto.spec
    ]
    assert len(pictures) == 1
    # With the weights, the connections are coloured by sign instead of grey.
    assert '"name":"negative' in pictures[0] and '"name":"positive' in pictures[0]


def test_a_fix_on_a_run_of_another_table_trains_on_that_runs_table(app, overfitted):
    # A churn run, then the person loads iris on the Data page: no churn run is open now.
    run_id = seed_trained(app, overfitted)
    at = app.switch_page("app_pages/data.py").run()
    at.selectbox(key="sample_dataset").set_value("iris.csv")
    at = at.button(key="load_sample").click().run()
    assert session_of(at).dataset_name == "iris.csv" and session_of(at).open_run is None
    assert "Last run" not in texts(at.sidebar.markdown)
    at = at.switch_page("app_pages/train.py").run()  # nor does the Train page show churn's run
    assert "final_curves" not in [chart.key for chart in at.get("plotly_chart")]
    # Opening the churn run on the Runs page makes churn the table again ...
    at = at.switch_page("app_pages/runs.py").run()
    at.multiselect(key="runs_selected").set_value([run_id]).run()
    at = at.button(key="runs_open").click().run()
    at = at.switch_page("app_pages/results.py").run()
    assert session_of(at).open_run == run_id and session_of(at).target == "churned"
    # ... and its diagnosis's fix is for churn's rows.
    at = at.button(key="results_fix_overfitting").click().run()
    assert not at.exception
    session = session_of(at)
    assert session.target == "churned" and session.spec.target == "churned"
    assert session.table_id == session.store.run(session.open_run).table_id
    assert session.frame is not None and "churned" in session.frame.columns
    assert f"**Data:** {session.dataset_name}" in texts(at.sidebar.markdown)
    # And Train starts on those rows, not on iris.
    at = at.switch_page("app_pages/train.py").run()
    assert not at.exception and not at.error
    assert "churned" in texts(at.caption) + texts(at.markdown)


def test_a_fix_that_a_better_run_contradicts_is_not_offered(app, overfitted, monkeypatch):
    """Told to halve the learning rate, while a run on the same rows did better with a higher
    one: no button, and the sentence names that run."""
    too_high = Diagnosis(
        DiagnosisKind.LEARNING_RATE_TOO_HIGH,
        "Learning rate too high.",
        FixAction.HALVE_LEARNING_RATE,
    )
    monkeypatch.setattr(diagnosis_panel, "diagnose", lambda *args, **kwargs: [too_high])
    run_id = seed_trained(app, overfitted)
    store = workspace_of(app)
    record = store.run(run_id)
    lowest = min(row["val_loss"] for row in record.history)
    store.add_run(
        replace(
            record,
            id=store.new_run_id(),
            name="Run with a higher rate",
            spec=record.spec.replace(learning_rate=record.spec.learning_rate * 4),
            history=[{**row, "val_loss": lowest / 2} for row in record.history],
            files={},
        )
    )
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "Run with a higher rate did better on the same validation rows" in texts(at.warning)
    assert not [
        button for button in at.button if button.key == "results_fix_learning_rate_too_high"
    ]
