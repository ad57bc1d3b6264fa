"""The command line: train a bundle, predict with it, and say plainly what is wrong with bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from layerlab.cli.main import main
from layerlab.cli.progress import EpochBar, EpochLines, epoch_display, time_left_text
from layerlab.model.export import BUNDLE_FILES
from layerlab.model.runtime import is_tensorflow_log_line
from layerlab.model.train import EpochEnd, EpochProgress
from layerlab.schema.run_events import RefitProgress

DATA = Path(__file__).resolve().parents[2] / "data"
CHURN = str(DATA / "customer_churn.csv")
IRIS = str(DATA / "iris.csv")
DIABETES = str(DATA / "diabetes.csv")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


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
    # A new table's recipe (spec.DEFAULT_RECIPE): the final network learned from every row.
    assert (spec["refit"], spec["ensemble"], spec["lr_plateau_factor"]) == (True, 4, 0.3)
    assert json.loads((out / "metrics.json").read_text())["training"]["refitted"] is True
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
            "--no-refit",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    spec = json.loads((out / "spec.json").read_text())
    assert spec["refit"] is False  # a new table's default is True
    assert json.loads((out / "metrics.json").read_text())["training"]["refitted"] is False
    assert spec["layers"] == [
        {"kind": "dense", "units": 8, "activation": "tanh", "l2": 0.0},
        {"kind": "dense", "units": 4, "activation": "relu", "l2": 0.0},
    ]
    assert (spec["optimizer"], spec["learning_rate"], spec["batch_size"]) == ("sgd", 0.05, 64)
    assert (spec["patience"], spec["seed"], spec["epochs"]) == (2, 7, 2)
    stderr = capsys.readouterr().err
    assert "[--layers dense:8:tanh,dense:4:relu]" in stderr
    assert "epoch 2/2" in stderr  # without --quiet, one progress line per epoch
    # The summary holds gradient boosting's score, and says how the network compares.
    assert "gradient boosting gives" in stderr
    assert "The network beats " in stderr or "The network's accuracy is not better than" in stderr


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
        (["train", CHURN, "--target", "churned", "--out", "{spec}"], "is a file, and a bundle"),
        (
            ["train", DIABETES, "--target", "disease_progression", "--class-weight", "balanced"],
            "'class_weight' can be balanced only when predicting classes",
        ),
    ],
    ids=[
        "missing-file",
        "unknown-target",
        "bad-layers",
        "bad-learning-rate",
        "missing-spec-file",
        "spec-for-another-table",
        "not-a-bundle",
        "out-is-a-file",
        "balanced-regression",
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


def test_quiet_training_prints_only_the_final_result_lines(tmp_path, capsys):
    out = tmp_path / "iris-model"
    assert (
        main(["train", IRIS, "--target", "species", "--epochs", "1", "--out", str(out), "--quiet"])
        == 0
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Training ran all 1 epochs.")
    assert lines[1].startswith("The network's accuracy on the test set is")
    assert "gradient boosting gives" in lines[1]
    assert lines[2].startswith(("The network beats ", "The network's accuracy is not better"))
    assert lines[3].startswith(f"Bundle written to {out}/")


def test_class_weight_balanced_is_kept_in_the_spec(tmp_path):
    out = tmp_path / "balanced"
    argv = ["train", CHURN, "--target", "churned", "--class-weight", "balanced", "--epochs", "1"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "spec.json").read_text())["class_weight"] == "balanced"


def test_quiet_predict_prints_nothing_but_the_predictions(trained_bundle, capsys):
    _, out = trained_bundle
    capsys.readouterr()
    assert main(["predict", str(out), CHURN, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(pd.read_csv(io.StringIO(captured.out))) == 1500


def test_predictions_that_cannot_be_written_say_where_and_why(trained_bundle, tmp_path, capsys):
    _, out = trained_bundle
    target = tmp_path / "no-such-folder" / "predictions.csv"
    assert main(["predict", str(out), CHURN, "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot write the predictions to '{target}'")
    assert "Traceback" not in err


def _bundle_with_model(bundle: Path, folder: Path, write_model) -> Path:
    copy = folder / "bundle"
    shutil.copytree(bundle, copy)
    write_model(copy / "model.keras")
    return copy


def _lambda_model(path: Path) -> None:
    import keras

    inputs = keras.Input((1,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)


def _truncated_model(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(
    "write_model", [_lambda_model, _truncated_model], ids=["lambda", "truncated"]
)
def test_a_bundle_layerlab_did_not_write_is_refused_without_a_traceback(
    trained_bundle, tmp_path, capsys, write_model
):
    _, out = trained_bundle
    bundle = _bundle_with_model(out, tmp_path, write_model)
    capsys.readouterr()
    assert main(["predict", str(bundle), CHURN]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "model.keras" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_a_bug_is_not_dressed_up_as_bad_input(trained_bundle, monkeypatch):
    # Only LayerlabError is the user's to fix; anything else must surface with its traceback.
    import layerlab.cli.main

    def broken_read_table(*args, **kwargs):
        raise RuntimeError("a bug in Layerlab")

    monkeypatch.setattr(layerlab.cli.main, "read_table", broken_read_table)
    _, out = trained_bundle
    with pytest.raises(RuntimeError, match="a bug in Layerlab"):
        main(["predict", str(out), CHURN])


# ---------------------------------------------------------------- the progress display


def _epochs(epochs: int = 3) -> list[EpochEnd | EpochProgress]:
    events: list[EpochEnd | EpochProgress] = []
    for epoch in range(1, epochs + 1):
        metrics = {"loss": 1 / epoch, "accuracy": 0.5, "val_loss": 1.1 / epoch, "val_accuracy": 0.6}
        events.append(EpochProgress(epoch, epochs, 0.5, epoch - 0.5))
        events.append(EpochEnd(epoch, epochs, metrics, float(epoch), epoch))
    return events


def _terminal(stream: io.StringIO) -> Console:
    return Console(file=stream, force_terminal=True, width=100, color_system=None)


def test_on_a_terminal_one_bar_is_redrawn_in_place_with_the_time_left():
    stream = io.StringIO()
    display = epoch_display(_terminal(stream))
    assert isinstance(display, EpochBar)
    with display:
        for event in _epochs():
            display(event)
    text = stream.getvalue()
    assert "\r" in text and "\x1b[2K" in text  # back to the line's start, clear it, redraw
    screens = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", part) for part in text.split("\r")]
    drawn = [screen.strip() for screen in screens if screen.strip()]
    assert "\n" not in "".join(drawn[:-1])  # one line, drawn over and over
    # Epoch 1 pays for compiling: no time left until a steady epoch is measured.
    assert re.search(r"epoch 1/3 .* estimating the time left…$", drawn[1])
    assert any(
        re.search(r"epoch 2/3 .* validation loss 0\.55 .* about 1 s left$", line) for line in drawn
    )
    assert re.search(
        r"epoch 3/3 .* loss 0\.3333  validation loss 0\.3667  validation accuracy 0\.6 ", drawn[-1]
    )


def test_with_early_stopping_the_time_left_is_a_range_ending_patience_after_the_best():
    stream = io.StringIO()
    with EpochBar(_terminal(stream), patience=2) as display:
        for event in _epochs(60)[:6]:  # the validation loss falls: epoch 3 is the best so far
            display(event)
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue().split("\r")[-2]).strip()
    assert last.startswith("epoch 3/60 ") and last.endswith("2 s to 57 s left")
    assert time_left_text(3, 60, None, 2, 3) == "estimating the time left…"
    assert time_left_text(3, 60, 1.0, 2, None) == "at most 57 s left"
    assert time_left_text(3, 60, 1.0, 0, None) == "about 57 s left"


def test_a_bar_stopped_early_stays_at_its_epoch_and_shows_the_time_taken():
    stream = io.StringIO()
    with EpochBar(_terminal(stream)) as display:
        for event in _epochs(10)[:8]:
            display(event)
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue().split("\r")[-1]).strip()
    assert last.startswith("epoch 4/10 ")
    assert last.endswith("took 4 s")


def test_off_a_terminal_each_epoch_is_one_plain_line():
    stream = io.StringIO()
    display = epoch_display(Console(file=stream))
    assert isinstance(display, EpochLines)
    with display:
        for event in _epochs():
            display(event)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "epoch 1/3  loss 1  accuracy 0.5  validation loss 1.1  validation accuracy 0.6  (1.0s)",
        "epoch 2/3  loss 0.5  accuracy 0.5  validation loss 0.55  validation accuracy 0.6  (2.0s)",
        "epoch 3/3  loss 0.3333  accuracy 0.5  validation loss 0.3667  validation accuracy 0.6  (3.0s)",
    ]


def test_the_final_fit_on_every_row_gets_its_own_line_and_bar():
    refit = [RefitProgress(epoch, 2, fraction, 1_200, 3.0 + epoch) for epoch in (1, 2)
             for fraction in (0.5, 1.0)]  # fmt: skip
    stream = io.StringIO()
    with epoch_display(Console(file=stream)) as display:
        for event in [*_epochs(), *refit]:
            display(event)
    assert stream.getvalue().splitlines()[-2:] == [
        "final fit on all 1,200 rows: epoch 1/2  (4.0s)",
        "final fit on all 1,200 rows: epoch 2/2  (5.0s)",
    ]
    stream = io.StringIO()
    with EpochBar(_terminal(stream)) as display:
        for event in [*_epochs(), *refit]:
            display(event)
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "final fit on all 1,200 rows" in drawn and "epoch 2/2" in drawn


# ------------------------------------------- real processes: quiet stderr, safe predictions

# Class labels a spreadsheet would run as formulas (OWASP CSV injection).
FORMULA_LABELS = ("=1+1", "@SUM(A1)")


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    return subprocess.run(
        [sys.executable, "-m", "layerlab", *argv],
        cwd=cwd,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train on a small table whose labels look like formulas, then predict: as a user would."""
    folder = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    x, noise = rng.normal(size=(2, 120)).round(1)
    label = np.where(x + noise / 2 < 0, *FORMULA_LABELS)  # x tells, but not so well it is a leak
    table = pd.DataFrame({"x": x, "noise": noise, "label": label})
    table.to_csv(folder / "formulas.csv", index=False)
    train = ["train", "formulas.csv", "--target", "label", "--out", "model"]
    done = {"train": _run([*train, "--epochs", "30", "--learning-rate", "0.01"], folder)}
    done["predict"] = _run(["predict", "model", "formulas.csv", "--out", "p.csv"], folder)
    done["verbose"] = _run(["predict", "model", "formulas.csv", "--verbose"], folder)
    return folder, done


def test_a_cli_run_shows_no_tensorflow_log_lines(runs):
    _, done = runs
    for name in ("train", "predict"):
        assert done[name].returncode == 0, done[name].stderr
        noise = [line for line in done[name].stderr.splitlines() if is_tensorflow_log_line(line)]
        assert noise == []
        for words in ("absl", "oneDNN", "Unable to register", "This TensorFlow binary"):
            assert words not in done[name].stderr
        assert "Warning" not in done[name].stderr
    assert done["predict"].stderr == "120 predictions written to p.csv\n"


def test_off_a_terminal_training_logs_one_plain_line_per_epoch(runs):
    _, done = runs
    stderr = done["train"].stderr
    assert not CONTROL_CHARACTERS.search(stderr)
    epochs = [line for line in stderr.splitlines() if line.startswith("epoch ")]
    assert epochs[0].startswith("epoch 1/30  loss ")
    assert re.fullmatch(
        r"epoch \d+/30  loss \S+  accuracy \S+  validation loss \S+  validation accuracy \S+  "
        r"learning rate \S+  \(\d+\.\ds\)",  # the rate each epoch trained at (plateau)
        epochs[-1],
    )


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="TensorFlow's CPU notice is for x86"
)
def test_verbose_lets_tensorflows_own_lines_through(runs):
    _, done = runs
    assert done["verbose"].returncode == 0, done["verbose"].stderr
    assert any(is_tensorflow_log_line(line) for line in done["verbose"].stderr.splitlines())


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_predicted_labels_that_look_like_formulas_are_written_as_text(runs):
    folder, done = runs
    for written in ((folder / "p.csv").read_text(), done["verbose"].stdout):
        cells = _cells(written)
        assert "'=1+1" in cells and "'@SUM(A1)" in cells
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
        assert pd.read_csv(io.StringIO(written))["probability_@SUM(A1)"].between(0, 1).all()


def test_a_score_too_good_to_be_true_is_questioned_in_the_summary(tmp_path, capsys):
    """The total is the sum of its parts: no single column leaks, but a linear model finds it."""
    rng = np.random.default_rng(0)
    parts = pd.DataFrame({"reading": rng.normal(650, 20, 300), "maths": rng.normal(650, 20, 300)})
    parts["total"] = (parts["reading"] + parts["maths"]) / 2
    parts.to_csv(tmp_path / "scores.csv", index=False)
    argv = ["train", str(tmp_path / "scores.csv"), "--target", "total", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "bundle"), "--quiet"]) == 0
    summary = capsys.readouterr().err
    assert "Linear regression predicts the test rows almost exactly" in summary


def test_train_keeps_its_run_in_a_workspace_folder_and_runs_lists_it(tmp_path, capsys):
    from layerlab.report.run_files import TrainedModel
    from layerlab.runs.store import WorkspaceStore

    workspace = tmp_path / "study"
    argv = ["train", IRIS, "--target", "species", "--epochs", "2", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "b1"), "--workspace", str(workspace)]) == 0
    assert main([*argv, "--out", str(tmp_path / "b2"), "--workspace", str(workspace)]) == 0
    store = WorkspaceStore(workspace, create=False)
    runs = store.runs()
    assert [run.status for run in runs] == ["finished", "finished"]
    assert [len(run.history) for run in runs] == [2, 2]
    assert len(store.tables()) == 1  # the same file twice is one table
    opened = TrainedModel.from_record(runs[0], store.folder)
    assert opened is not None and opened.evaluation.metrics["accuracy"] >= 0
    capsys.readouterr()

    assert main(["runs", str(workspace)]) == 0
    listing = capsys.readouterr().out
    assert listing.count("iris.csv") == 2
    assert "Run 1: " in listing and "Run 2: " in listing  # numbered as the app numbers runs
    assert "finished" in listing and "2 of 2" in listing


def test_runs_of_a_folder_that_is_no_workspace_is_a_plain_error(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nothing here")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_finished_command_leaves_every_line_and_file_behind(runs):
    """The command ends without Python's slow shutdown; nothing it printed or wrote is lost."""
    folder, done = runs
    assert done["train"].stderr.splitlines()[-1].startswith("Bundle written to model")
    for name in ("model.keras", "spec.json", "importance.csv", "MODEL_CARD.md", "train.py"):
        assert (folder / "model" / name).stat().st_size > 0
    piped = pd.read_csv(io.StringIO(done["verbose"].stdout))  # 120 rows through a pipe
    assert len(piped) == 120
    assert len(pd.read_csv(folder / "p.csv")) == 120


def test_predict_keeps_chosen_columns_as_written_and_warns_of_unseen_values(
    trained_bundle, tmp_path, capsys
):
    _, out = trained_bundle
    rows = pd.read_csv(CHURN, dtype=str).head(4)
    rows.loc[0, "region"] = "Antarctica"  # never seen in training
    rows.loc[1, "region"] = "EAST"  # seen, as "east"
    rows.loc[2, "customer_id"] = "007"
    rows.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    argv = ["predict", str(out), str(tmp_path / "new.csv"), "--keep", "customer_id,region"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out), dtype=str)
    assert list(table.columns) == [
        "prediction",
        "probability_no",
        "probability_yes",
        "customer_id",
        "region",
    ]
    assert table["customer_id"].tolist() == rows["customer_id"].tolist()
    assert table["region"].tolist() == ["Antarctica", "EAST", *rows["region"][2:]]
    [warning] = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        'warning: Column "region": 1 row holds a value the model never saw in training: '
        '"Antarctica" (1 row).'
    )

    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["predict", str(out), str(tmp_path / "new.csv"), "--keep", "id"]) == 2
    assert "no column(s) 'id' to keep" in capsys.readouterr().err
