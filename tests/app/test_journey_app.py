"""The whole journey in one session: a CSV file in, a trained model and its results out."""

from __future__ import annotations

from app_support import opened_result, texts, tiny_csv, wait_for_training


def test_from_an_uploaded_csv_to_a_trained_model_and_its_results(app):
    at = app
    at.file_uploader(key="upload_csv").set_value(("temperatures.csv", tiny_csv(), "text/csv"))
    at.run()
    at.selectbox(key="target_column").set_value("y").run()
    assert "Predicting a number (regression)" in texts(at.sidebar.markdown)
    assert not at.exception

    at.switch_page("app_pages/model.py").run()
    at.button(key="preset_small").click().run()
    at.number_input(key="batch_size").set_value(8).run()
    at.number_input(key="epochs").set_value(4).run()
    assert not at.warning, texts(at.warning)
    assert "Dense 16 relu → output linear" in texts(at.sidebar.markdown)

    at.switch_page("app_pages/train.py").run()
    assert "Dense 16 relu → output linear" in texts(at.markdown)
    at = wait_for_training(at.button(key="train_button").click().run())
    assert texts(at.success).startswith("Training ran all 4 epochs.")

    at.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "The network's mean absolute error on the test set is" in texts(at.markdown)
    assert {button.key for button in at.get("download_button")} >= {
        "download_bundle",
        "download_model",
        "download_history",
        "download_predictions",
    }
    assert "Test mean absolute error:" in texts(at.sidebar.markdown)

    # Back on the Data page, everything chosen so far is still there.
    at.switch_page("app_pages/data.py").run()
    assert at.selectbox(key="target_column").value == "y"
    assert opened_result(at) is not None
    assert not at.exception
