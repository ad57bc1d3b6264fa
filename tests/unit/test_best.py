"""``python -m layerlab best``: a search whose first trial is the default network, then the
winner trained with the recipe on every row, written as the bundle `train` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from layerlab.cli.main import main
from layerlab.model.export import BUNDLE_FILES
from layerlab.model.runtime import is_tensorflow_log_line
from layerlab.schema.spec import DEFAULT_RECIPE, ModelSpec, format_layers

IRIS = str(Path(__file__).resolve().parents[2] / "data" / "iris.csv")


def test_best_writes_the_winners_bundle_with_the_recipe_and_the_trials(tmp_path, capfd):
    out = tmp_path / "iris-best"
    code = main(["best", IRIS, "--target", "species", "--minutes", "0.5", "--out", str(out)])
    printed = capfd.readouterr().err
    assert code == 0, printed
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*BUNDLE_FILES, "search_trials.csv"]
    )

    # The search: its first trial is the default network, and every trial is listed.
    trials = pd.read_csv(out / "search_trials.csv")
    default = ModelSpec("species", "multiclass", [])
    assert trials["trial"].tolist() == list(range(1, len(trials) + 1))
    assert trials.loc[0, "layers"] == format_layers(default.layers)
    assert (trials.loc[0, "optimizer"], trials.loc[0, "learning_rate"]) == ("adam", 0.001)
    assert len(trials) >= 2 and trials["validation_loss"].notna().sum() >= 1

    # The finalists: the best scored trial's network and, if another won, the default's, each
    # trained with a new table's recipe; the bundle is the one whose validation loss is lower.
    spec = json.loads((out / "spec.json").read_text())
    scored = trials.dropna(subset=["validation_loss"])
    winner = scored.loc[scored["validation_loss"].idxmin()]
    kept = format_layers(ModelSpec.from_dict(spec).layers)
    if int(winner["trial"]) == 1:
        assert kept == winner["layers"] and "Validation loss after full training" not in printed
    else:
        [line] = [line for line in printed.splitlines() if "after full training" in line]
        chosen = "the default network" if kept == trials.loc[0, "layers"] else "trial"
        assert f"Keeping {chosen}" in line, line
    assert {key: spec[key] for key in DEFAULT_RECIPE} == DEFAULT_RECIPE
    assert (spec["epochs"], spec["patience"]) == (200, 10)  # not the trials' few epochs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["refitted"] is True
    assert "gradient boosting" in printed  # the verdict against the baselines

    # Said plainly, and nothing of TensorFlow's own (the workers start it quietly too).
    assert f"Best: trial {int(winner['trial'])}" in printed
    assert "Done in" in printed and f"searching {len(trials)} networks" in printed
    assert not [line for line in printed.splitlines() if is_tensorflow_log_line(line)]
    assert "Traceback" not in printed


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--minutes", "0.1"], "--minutes must be 0.5 or more"),
        (["--minutes", "nan"], "--minutes must be 0.5 or more"),
        (["--workers", "0"], "--workers must be 1 or more"),
    ],
)
def test_best_refuses_a_budget_it_cannot_use_before_it_starts(flags, said, tmp_path, capsys):
    code = main(["best", IRIS, "--target", "species", "--out", str(tmp_path / "out"), *flags])
    assert code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
