"""The command line: train a bundle, predict with it, and say plainly what is wrong with bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from layerlab.cli import main
from layerlab.export import BUNDLE_FILES

CHURN = str(Path(__file__).resolve().parents[2] / "data" / "customer_churn.csv")


@pytest.fixture(scope="module")
def trained_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "churn-model"
    code = main(
        ["train", CHURN, "--target", "churned", "--epochs", "3", "--out", str(out), "--quiet"]
    )
    return code, out


def test_train_writes_a_bundle_and_exits_zero(trained_bundle):
    code, out = trained_bundle
    assert code == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(BUNDLE_FILES)
    spec = json.loads((out / "spec.json").read_text())
    assert (spec["target"], spec["task"], spec["epochs"]) == ("churned", "binary", 3)
    assert "customer_id" not in [feature["name"] for feature in spec["features"]]


def test_flags_override_the_spec(tmp_path, capsys):
    out = tmp_path / "bundle"
    code = main(
        [
            "train",
            CHURN,
            "--target",
            "churned",
            "--layers",
            "dense:8:tanh,dense:4",
            "--optimizer",
            "sgd",
            "--learning-rate",
            "0.05",
            "--batch-size",
            "64",
            "--patience",
            "2",
            "--seed",
            "7",
            "--epochs",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    spec = json.loads((out / "spec.json").read_text())
    assert spec["layers"] == [
        {"kind": "dense", "units": 8, "activation": "tanh", "l2": 0.0},
        {"kind": "dense", "units": 4, "activation": "relu", "l2": 0.0},
    ]
    assert (spec["optimizer"], spec["learning_rate"], spec["batch_size"]) == ("sgd", 0.05, 64)
    assert (spec["patience"], spec["seed"], spec["epochs"]) == (2, 7, 2)
    stderr = capsys.readouterr().err
    assert "[--layers dense:8:tanh,dense:4:relu]" in stderr
    assert "epoch 2/2" in stderr  # without --quiet, one progress line per epoch


def test_training_again_from_a_bundles_spec_reproduces_the_run(trained_bundle, tmp_path):
    _, out = trained_bundle
    again = tmp_path / "again"
    argv = ["train", CHURN, "--target", "churned", "--spec", str(out / "spec.json")]
    assert main([*argv, "--out", str(again), "--quiet"]) == 0
    assert (again / "spec.json").read_text() == (out / "spec.json").read_text()
    pd.testing.assert_frame_equal(
        pd.read_csv(again / "history.csv"), pd.read_csv(out / "history.csv")
    )


def test_predict_prints_a_csv_with_a_prediction_column(trained_bundle, capsys):
    _, out = trained_bundle
    capsys.readouterr()
    assert main(["predict", str(out), CHURN]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert list(table.columns) == ["prediction", "probability_no", "probability_yes"]
    assert len(table) == 1500
    assert set(table["prediction"]) <= {"no", "yes"}
    assert "ignoring column(s) the model does not use: customer_id\n" in captured.err


def test_predict_writes_to_a_file_with_out(trained_bundle, tmp_path, capsys):
    _, out = trained_bundle
    target = tmp_path / "predictions.csv"
    assert main(["predict", str(out), CHURN, "--out", str(target)]) == 0
    assert len(pd.read_csv(target)) == 1500
    assert "1500 predictions written" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "no/such/file.csv", "--target", "churned"], "There is no file at"),
        (["train", CHURN, "--target", "churn"], 'Did you mean "churned"?'),
        (["train", CHURN, "--target", "churned", "--layers", "dense:lots"], "dense:lots"),
        (["train", CHURN, "--target", "churned", "--learning-rate", "-1"], "'learning_rate'"),
        (["train", CHURN, "--target", "churned", "--spec", "no-spec.json"], "Cannot read the spec"),
        (["train", CHURN, "--target", "churned", "--spec", "{spec}"], "['height'] that are not in"),
        (["predict", ".", CHURN], "is not a Layerlab bundle"),
    ],
    ids=[
        "missing-file",
        "unknown-target",
        "bad-layers",
        "bad-learning-rate",
        "missing-spec-file",
        "spec-for-another-table",
        "not-a-bundle",
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(argv, message, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "target": "churned",
                "task": "binary",
                "features": [{"name": "height", "kind": "numeric"}],
            }
        )
    )
    argv = [arg.replace("{spec}", str(spec)) for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_help_exits_zero_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "python -m layerlab train data/customer_churn.csv --target churned" in (
        capsys.readouterr().out
    )


def test_module_entry_point_reports_bad_input_without_a_traceback(tmp_path):
    # One real process, to check `python -m layerlab` and its exit status end to end.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "layerlab", "train", "missing.csv", "--target", "y"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: There is no file at")
    assert "Traceback" not in done.stderr
