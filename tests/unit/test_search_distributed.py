"""A search grows past one machine: two processes started with the same command on one
PostgreSQL study split its trials, lose none, run none twice, and report the same best.

The database is real: ``.ci/run`` starts Debian's PostgreSQL on localhost and sets
``LAYERLAB_TEST_POSTGRES_URL``; without it this test is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pandas as pd
import pytest

import layerlab

URL_VARIABLE = "LAYERLAB_TEST_POSTGRES_URL"
URL = os.environ.get(URL_VARIABLE, "").strip()
IRIS = Path(__file__).resolve().parents[2] / "data" / "iris.csv"
TRIALS = 6

pytestmark = pytest.mark.skipif(
    not URL,
    reason=f"{URL_VARIABLE} is not set, so there is no PostgreSQL server to share a study "
    "through (.ci/run starts one on localhost and sets it)",
)


@pytest.fixture
def study_name():
    name = f"test-distributed-{uuid.uuid4().hex[:12]}"
    yield name
    with contextlib.suppress(KeyError):  # the processes never got to create it
        optuna.delete_study(study_name=name, storage=URL)


def test_two_processes_on_one_postgresql_study_split_its_trials_and_agree_on_the_best(
    tmp_path, study_name
):
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps({"units": [4, 8, 16], "learning_rate": {"low": 0.001, "high": 0.1}})
    )
    command = [
        sys.executable,
        "-m",
        "layerlab",
        "search",
        str(IRIS),
        "--target",
        "species",
        "--trials",
        str(TRIALS),
        "--epochs",
        "3",
        "--space",
        str(space),
        "--workers",
        "1",
        "--storage",
        URL,
        "--study",
        study_name,
    ]
    outs = [tmp_path / "machine-a", tmp_path / "machine-b"]
    # The processes run the Layerlab this test imported, wherever it is installed.
    env = {**os.environ, "PYTHONPATH": str(Path(layerlab.__file__).resolve().parents[1])}
    processes = [
        subprocess.Popen(
            [*command, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for out in outs
    ]
    errors = [process.communicate(timeout=600)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors

    # None lost: the study holds the budget, every trial finished, none left waiting.
    study = optuna.load_study(study_name=study_name, storage=URL)
    assert sorted(trial.number for trial in study.trials) == list(range(TRIALS))
    assert {trial.state.name for trial in study.trials} == {"COMPLETE"}

    # Split between them, none run twice: each trial's files are on one machine only.
    ran_on = {
        number: [out.name for out in outs if (out / "trials" / f"trial-{number + 1}").is_dir()]
        for number in range(TRIALS)
    }
    assert all(len(machines) == 1 for machines in ran_on.values()), ran_on
    assert {machines[0] for machines in ran_on.values()} == {"machine-a", "machine-b"}
    tables = [pd.read_csv(out / "trials.csv") for out in outs]
    assert tables[0]["worker"].nunique() == 2
    pd.testing.assert_frame_equal(tables[0], tables[1])  # both report the whole study

    # Both report the same best, and train it again on all the rows.
    bests = [re.search(r"^Best: trial \d+, .*$", error, re.MULTILINE) for error in errors]
    assert all(bests), errors
    assert bests[0].group() == bests[1].group()
    assert f"Best: trial {study.best_trial.number + 1}," in bests[0].group()
    specs = [(out / "best" / "spec.json").read_text() for out in outs]
    assert specs[0] == specs[1]
