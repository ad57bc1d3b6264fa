"""Runs page: every run in a table, two or more compared, one opened, copied, chosen or deleted."""

from __future__ import annotations

import pytest
from app_support import (
    add_run,
    iris,
    opened_result,
    seed_dataset,
    seed_trained,
    session_of,
    small_network,
    texts,
    train,
    workspace_of,
)


def open_runs_page(at):
    return at.switch_page("app_pages/runs.py").run()


@pytest.fixture(scope="module")
def faster_iris():
    """The iris run again with a higher learning rate: one setting differs."""
    return train(
        iris(), "species", layers=small_network(), epochs=5, batch_size=16, learning_rate=0.01
    )


@pytest.fixture
def two_runs(app, trained_iris, faster_iris):
    first = seed_trained(app, trained_iris)
    second = add_run(workspace_of(app), faster_iris, "Run 2: faster")
    at = open_runs_page(app)
    assert not at.exception
    return at, first, second


def test_an_empty_workspace_says_where_runs_come_from(app):
    at = open_runs_page(app)
    assert not at.exception
    assert "No runs yet" in texts(at.info)


def test_every_run_is_a_row_with_readable_values(two_runs):
    at, _, _ = two_runs
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["Run 2: faster", "Run 1: seeded"]
    assert set(table["Status"]) == {"finished"}
    assert all(value.startswith("5 of 5") for value in table["Epochs run"])
    assert list(table["Learning rate"]) == ["0.01", "0.001"]
    assert all("accuracy" in value for value in table["Test score"])
    assert "e+" not in table.to_string() and "e-0" not in table.to_string()


def test_two_runs_are_overlaid_and_only_their_differences_listed(two_runs):
    at, first, second = two_runs
    at.multiselect(key="runs_selected").set_value([second, first]).run()
    assert not at.exception
    keys = [chart.key for chart in at.get("plotly_chart")]
    assert keys[:2] == ["compare_loss", "compare_metric"]  # both runs on each
    # The same rows through both networks, side by side.
    assert "pair_ice_chart" in keys
    [pair] = [chart.proto.spec for chart in at.get("plotly_chart") if chart.key == "pair_ice_chart"]
    assert "Run 2: faster" in pair and "Run 1: seeded" in pair
    differences = at.dataframe[1].value
    assert list(differences["Setting"]) == ["Learning rate"]
    assert list(differences.columns) == ["Setting", "Run 2: faster", "Run 1: seeded"]


def test_runs_of_another_table_are_never_drawn_on_the_same_chart(two_runs, trained_regression):
    at, first, second = two_runs
    store = workspace_of(at)
    other = store.add_table("wages.csv", b"x,y\n1,2\n3,4\n", rows=2, columns=2)
    third = add_run(store, trained_regression, "Run 3: another table")
    store.update_run(third, table_id=other.id)
    at = open_runs_page(at)
    at.multiselect(key="runs_selected").set_value([third, second, first]).run()
    assert not at.exception
    [note] = [text for text in texts(at.info).split("\n") if "different tables" in text]
    assert 'These runs trained on 2 different tables ("tiny.csv", "wages.csv")' in note
    assert 'Comparing the 2 runs of "tiny.csv"' in note
    [loss] = [chart.proto.spec for chart in at.get("plotly_chart") if chart.key == "compare_loss"]
    assert "Run 3: another table" not in loss  # curves of other rows are not compared
    assert "Run 2: faster" in loss and "Run 1: seeded" in loss
    # One run of each table: nothing to compare, and it says so.
    at.multiselect(key="runs_selected").set_value([third, first]).run()
    assert "Pick two or more runs of one table" in texts(at.info)
    assert "compare_loss" not in [chart.key for chart in at.get("plotly_chart")]


def test_open_results_shows_that_run(two_runs):
    at, _, second = two_runs
    at.multiselect(key="runs_selected").set_value([second]).run()
    at.button(key="runs_open").click().run()
    assert not at.exception
    assert "Run 2: faster" in texts(at.markdown)
    assert opened_result(at).spec.learning_rate == 0.01


def test_edit_a_copy_loads_its_settings_on_the_model_page(two_runs):
    at, _, second = two_runs
    at.multiselect(key="runs_selected").set_value([second]).run()
    at.button(key="runs_edit_copy").click().run()
    assert not at.exception
    assert at.number_input(key="learning_rate").value == 0.01
    assert session_of(at).spec.learning_rate == 0.01
    assert len(session_of(at).store.runs()) == 2  # the run itself is untouched


def test_one_run_is_marked_as_the_chosen_model(two_runs):
    at, first, second = two_runs
    at.multiselect(key="runs_selected").set_value([first]).run()
    at.button(key="runs_choose").click().run()
    at.multiselect(key="runs_selected").set_value([second]).run()
    at.button(key="runs_choose").click().run()
    chosen = {run.id: run.chosen for run in session_of(at).store.runs()}
    assert chosen == {first: False, second: True}
    assert list(at.dataframe[0].value["Chosen"]) == ["★", ""]


def test_deleting_runs_removes_them_and_their_files(two_runs):
    at, first, second = two_runs
    store = session_of(at).store
    folder = store.run_folder(first)
    at.multiselect(key="runs_selected").set_value([first]).run()
    at.button(key="runs_delete").click().run()
    assert not at.exception
    assert [run.id for run in store.runs()] == [second]
    assert not folder.exists()
    assert opened_result(at) is None  # it was the open run


def test_a_run_stays_after_a_reload_of_the_page(app, trained_iris):
    from app_support import APP, TIMEOUT
    from streamlit.testing.v1 import AppTest

    seed_trained(app, trained_iris)
    first_tab = open_runs_page(app.run())
    token = first_tab.query_params["ws"]
    second_tab = AppTest.from_file(APP, default_timeout=TIMEOUT)
    second_tab.query_params["ws"] = token
    second_tab = open_runs_page(second_tab.run())
    assert list(second_tab.dataframe[0].value["Name"]) == ["Run 1: seeded"]


def test_seeded_dataset_without_runs_shows_none(app):
    seed_dataset(app, iris(), "species")
    at = open_runs_page(app)
    assert "No runs yet" in texts(at.info)
