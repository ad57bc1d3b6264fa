"""The diagnosis on real learning curves, labelled by hand.

``data/diagnosis_runs.json`` holds the histories of small networks trained on the tables in
``data/`` (``data/record_diagnosis_runs.py`` trains them again). Each was looked at as a
person would look at its curves and given the findings below; the rules must say those and
nothing else, at the end of the run and, for the healthy ones, at every epoch on the way.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from layerlab.report.diagnosis import apply_action, diagnose
from layerlab.schema.spec import ModelSpec, default_spec
from layerlab.schema.vocabulary import DiagnosisKind, FixAction
from layerlab.tabular.data import profile_columns
from layerlab.tabular.reading import read_csv

HERE = Path(__file__).parent / "data"
RUNS = json.loads((HERE / "diagnosis_runs.json").read_text())

EARLY = DiagnosisKind.EARLY_STOPPING
# What each run's curves show, read by eye.
LABELS = {
    # The issue's penguins settings (rmsprop, 0.003, batch 16, patience 15) on easy tables:
    # 94-100% validation accuracy, validation loss 2-17% of the naive guess's. The training
    # loss wobbles near 0 and the validation loss drifts up after its best epoch, both far
    # inside what the curves move by chance at that level: nothing to advise.
    **{f"wine_rmsprop_seed{seed}": [EARLY] for seed in (1, 2, 3, 4, 5)},
    "iris_rmsprop_seed1": [EARLY],
    "iris_rmsprop_seed3": [EARLY],
    # The same settings, but this validation split holds 83%: the training loss falls to 0.02
    # while the validation loss climbs from 0.25 (epoch 18) to 0.44, beyond its noise.
    "iris_rmsprop_seed2": [DiagnosisKind.OVERFITTING, EARLY],
    # The default network on churn: falls, levels off, early stopping keeps the best epoch.
    "churn_default": [EARLY],
    "churn_early_stopping": [EARLY],
    # SGD at 0.00001: straight lines falling 0.04-0.08% an epoch, noise-free.
    "churn_sgd_1e-5": [DiagnosisKind.LEARNING_RATE_TOO_LOW],
    "churn_sgd_1e-5_seed2": [DiagnosisKind.LEARNING_RATE_TOO_LOW],
    "wine_sgd_1e-5": [DiagnosisKind.LEARNING_RATE_TOO_LOW],
    # Adam at 0.1: the training loss falls to 0.34-0.38, then climbs back and jumps about;
    # validation accuracy falls from 76% to 67%.
    "churn_adam_0.1": [DiagnosisKind.LEARNING_RATE_TOO_HIGH],
    "churn_adam_0.1_seed2": [DiagnosisKind.LEARNING_RATE_TOO_HIGH],
    # Adam at 0.3: the training loss leaps from 0.63 to 0.93, then sits at the naive guess.
    "churn_adam_0.3": [DiagnosisKind.LEARNING_RATE_TOO_HIGH],
    # 3 x 512 without early stopping on 534 (and 265) training rows: the training loss goes
    # to 0 while the validation loss climbs from 0.46 to 2.8 (0.63 to 0.81).
    "churn534_3x512": [DiagnosisKind.OVERFITTING],
    "churn534_3x512_seed2": [DiagnosisKind.OVERFITTING],
    "diabetes_3x512": [DiagnosisKind.OVERFITTING],
    # L2 of 1 on every layer: both losses settle at the naive guess's 0.66.
    "churn_l2_smothered": [DiagnosisKind.UNDERFITTING, EARLY],
    # SGD at 0.0000001: both losses move 0.0004% an epoch, which is not moving.
    "churn_sgd_1e-7": [DiagnosisKind.PLATEAU],
}
HEALTHY = [name for name, kinds in LABELS.items() if kinds == [EARLY]]


def findings_of(run: dict, epochs: int | None = None, *, finished: bool = True):
    history = run["history"][:epochs]
    return diagnose(
        history,
        naive_val_loss=run["naive_val_loss"],
        stop_reason=run["stop_reason"] if finished else None,
        spec=ModelSpec.from_dict(run["spec"]),
    )


def test_every_recorded_run_is_labelled():
    assert sorted(RUNS) == sorted(LABELS)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_a_recorded_run_gets_the_findings_a_person_sees_in_its_curves(name):
    findings = findings_of(RUNS[name])
    assert [finding.kind for finding in findings] == LABELS[name], [f.sentence for f in findings]


@pytest.mark.parametrize("name", HEALTHY)
def test_a_healthy_run_gets_no_advice_at_any_epoch_while_it_trains(name):
    run = RUNS[name]
    for epochs in range(1, len(run["history"]) + 1):
        advice = [f.sentence for f in findings_of(run, epochs, finished=False)]
        assert advice == [], f"after epoch {epochs}: {advice}"


@pytest.mark.parametrize("name", [n for n, kinds in LABELS.items() if "too_high" in kinds[0]])
def test_a_learning_rate_too_high_is_never_called_overfitting_while_it_trains(name):
    """Its validation loss is thrown about while the training loss barely falls: the live view
    says nothing until the rate shows, not "overfitting" first."""
    run = RUNS[name]
    for epochs in range(1, len(run["history"]) + 1):
        kinds = [f.kind for f in findings_of(run, epochs, finished=False)]
        assert DiagnosisKind.OVERFITTING not in kinds, f"after epoch {epochs}"


def test_the_penguins_settings_at_their_ceiling_get_no_advice_on_any_seed():
    penguins_like = [name for name in RUNS if "_rmsprop_seed" in name and name in HEALTHY]
    assert len(penguins_like) >= 7
    for name in penguins_like:
        assert all(f.action is None for f in findings_of(RUNS[name])), name


def test_the_issues_three_runs_are_told_what_is_wrong_and_what_to_change():
    spec_of = {name: ModelSpec.from_dict(RUNS[name]["spec"]) for name in RUNS}
    [too_low] = findings_of(RUNS["churn_sgd_1e-5"])
    assert apply_action(spec_of["churn_sgd_1e-5"], too_low).learning_rate == pytest.approx(1e-4)
    [too_high] = findings_of(RUNS["churn_adam_0.1"])
    assert apply_action(spec_of["churn_adam_0.1"], too_high).learning_rate == pytest.approx(0.05)
    assert "climbed back" in too_high.sentence
    [overfitting] = findings_of(RUNS["churn534_3x512"])
    assert overfitting.action == FixAction.ADD_DROPOUT
    assert overfitting.began_epoch is not None and overfitting.began_epoch < 10


def test_the_recorded_runs_are_the_ones_the_script_trains():
    spec = importlib.util.spec_from_file_location("record", HERE / "record_diagnosis_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert sorted(script.RUNS) == sorted(RUNS)
    tables: dict[str, list] = {}
    for name, (table, changes, _, rows) in script.RUNS.items():
        target, task = script.TABLES[table]
        if table not in tables:
            tables[table] = profile_columns(read_csv(script.DATA / table), target)
        wanted = ModelSpec.from_dict(
            {
                **default_spec(target, task, tables[table]).replace(**script.PLAIN).to_dict(),
                **changes,
            }
        )
        assert ModelSpec.from_dict(RUNS[name]["spec"]) == wanted, name
        if rows is not None:
            assert RUNS[name]["rows"] == rows, name
