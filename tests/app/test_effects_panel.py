"""How the prediction moves: ICE lines for a column and the decision surface, on Results."""

from __future__ import annotations

import json

from app_support import seed_trained, texts


def chart(at, key: str) -> dict:
    [found] = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key == key]
    return found


def test_ice_lines_follow_the_chosen_column_and_the_surface_shows_the_test_rows(app, trained_iris):
    seed_trained(app, trained_iris)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert "How the prediction moves" in texts(at.subheader)
    features = [feature.name for feature in trained_iris.result.spec.features]
    first = chart(at, "ice_chart")
    assert features[0] in json.dumps(first["layout"]["xaxis"])
    at.selectbox(key="effect_column").set_value(features[2]).run()
    assert not at.exception
    assert features[2] in json.dumps(chart(at, "ice_chart")["layout"]["xaxis"])
    surface = chart(at, "surface_chart")
    kinds = [trace["type"] for trace in surface["data"]]
    assert kinds[0] in ("heatmap", "contour") and "scatter" in kinds
    at.selectbox(key="surface_y").set_value(features[0]).run()
    assert "Choose two different columns." in texts(at.info)


def test_the_page_opens_on_pictures_kept_with_the_run_without_asking_a_worker(
    app, trained_iris, monkeypatch
):
    from layerlab_app import run_view

    asked = []
    real = run_view.predict_with
    monkeypatch.setattr(run_view, "predict_with", lambda *args: asked.append(args) or real(*args))
    seed_trained(app, trained_iris)
    at = app.switch_page("app_pages/results.py").run()
    assert not at.exception
    assert chart(at, "ice_chart")["data"] and chart(at, "surface_chart")["data"]
    assert asked == []  # both first pictures came from the run's effects.json
    features = [feature.name for feature in trained_iris.result.spec.features]
    at.selectbox(key="effect_column").set_value(features[1]).run()
    assert not at.exception
    assert len(asked) == 1  # a column chosen later is predicted by a worker
