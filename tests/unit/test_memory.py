"""The memory estimate: what a run needs, what makes it grow, and a refusal that says what fits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.errors import LayerlabError, TrainingError
from layerlab.schema.spec import MAX_LAYERS, MAX_UNITS, Feature, LayerSpec, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns
from layerlab.tabular.memory import (
    BUDGET_VARIABLE,
    DEFAULT_BUDGET_MB,
    MB,
    PART_NAMES,
    check_memory,
    estimate_training_memory,
    format_bytes,
    memory_budget_bytes,
    suggest_smaller,
)

SUGGESTED_LAYERS = re.compile(r"Try \d+ layers? of [\d,]+ units \(about [\d.,]+ [kMG]B\)\.")


@pytest.fixture(autouse=True)
def default_budget(monkeypatch):
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)


def numbers_table(rows: int = 5_000, columns: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(columns)]
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=names)
    frame["label"] = rng.choice(["no", "yes"], rows)
    return frame


def numbers_spec(
    units: int = 64, n_layers: int = 2, batch_size: int = 32, columns: int = 10, **changes
) -> ModelSpec:
    spec = ModelSpec(
        target="label",
        task="binary",
        features=[Feature(f"x{i}", "numeric") for i in range(columns)],
        layers=[LayerSpec.dense(units) for _ in range(n_layers)],
        batch_size=batch_size,
    )
    return spec.replace(**changes)


def test_the_default_network_on_the_churn_table_needs_little(churn_frame):
    spec = default_spec("churned", "binary", profile_columns(churn_frame, "churned"))

    estimate = check_memory(spec, churn_frame)

    assert estimate.total < 100 * MB
    assert re.fullmatch(r"about [\d.]+ MB", estimate.describe())
    assert estimate.rows == len(churn_frame)


def test_more_units_layers_rows_and_bigger_batches_need_more_memory():
    # Wide enough that training, not scoring it afterwards, is the peak.
    frame = numbers_table()
    base = estimate_training_memory(numbers_spec(units=1024), frame)
    assert base.phase == "training"

    assert estimate_training_memory(numbers_spec(units=2048), frame).total > base.total
    assert estimate_training_memory(numbers_spec(1024, n_layers=6), frame).total > base.total
    assert estimate_training_memory(numbers_spec(1024, batch_size=2048), frame).total > base.total
    bigger = numbers_table(rows=50_000)
    assert estimate_training_memory(numbers_spec(units=1024), bigger).total > base.total


def test_the_parts_add_up_to_the_total_at_the_peak_phase():
    estimate = estimate_training_memory(numbers_spec(units=512), numbers_table())

    assert estimate.total == sum(estimate.parts().values())
    assert list(estimate.parts()) == list(PART_NAMES)
    assert estimate.phase == "training"
    assert estimate.snapshots > estimate.weights > 0


@pytest.mark.parametrize(
    ("optimizer", "momentum", "slots"),
    [
        ("adam", 0.9, 2),
        ("adamw", 0.9, 2),
        ("nadam", 0.9, 2),
        ("rmsprop", 0.9, 1),
        ("adagrad", 0.9, 1),
        ("sgd", 0.9, 1),
        ("sgd", 0.0, 0),
    ],
)
def test_optimizer_state_is_the_optimizers_slots_per_weight(optimizer, momentum, slots):
    spec = numbers_spec(units=256, optimizer=optimizer, momentum=momentum)

    estimate = estimate_training_memory(spec, numbers_table())

    assert estimate.optimizer_state == slots * estimate.weights


def test_feature_widths_and_parameters_match_the_built_network():
    rng = np.random.default_rng(1)
    rows = 3_000
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, rows),
            "age": rng.uniform(18, 80, rows),
            "shop": rng.choice([f"shop_{i}" for i in range(150)], rows),  # over the cap of 100
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "member": rng.choice(["yes", "no"], rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
        }
    )
    frame.loc[::7, "age"] = np.nan  # gaps: a second, missing-value column
    frame.loc[::11, "city"] = None  # missing is a category of its own
    kinds = {"income": "numeric", "age": "numeric", "shop": "categorical"}
    kinds |= {"city": "categorical", "member": "boolean"}
    spec = ModelSpec(
        target="plan",
        task="multiclass",
        features=[Feature(name, kind) for name, kind in kinds.items()],
        layers=[
            LayerSpec.dense(16),
            LayerSpec.batch_norm(),
            LayerSpec.dropout(0.2),
            LayerSpec.dense(8),
        ],
    )
    from layerlab.model.train import TrainingRun

    built = TrainingRun(frame, spec).built  # split and built, not trained
    estimate = estimate_training_memory(spec, frame)

    assert estimate.n_features == built.n_features == 1 + 2 + 101 + 5 + 1
    assert estimate.parameters == built.network.count_params()


def test_a_huge_network_is_refused_naming_the_budget_and_a_smaller_run_that_fits():
    frame = numbers_table(columns=54)
    spec = numbers_spec(units=4096, n_layers=8, columns=54)
    estimate = estimate_training_memory(spec, frame)

    with pytest.raises(TrainingError) as refused:
        check_memory(spec, frame)

    message = str(refused.value)
    suggestion = suggest_smaller(spec, frame)
    assert f"needs {estimate.describe()} of memory" in message
    assert f"{DEFAULT_BUDGET_MB} MB" in message and BUDGET_VARIABLE in message
    assert suggestion.text in message and SUGGESTED_LAYERS.search(message)
    assert suggestion.rows is None
    assert max(layer.units for layer in suggestion.spec.layers) < 4096
    assert suggestion.estimate.total <= DEFAULT_BUDGET_MB * MB
    assert check_memory(suggestion.spec, frame) == suggestion.estimate


def test_the_largest_network_allowed_needs_gigabytes_and_is_told_one_that_fits():
    frame = numbers_table(columns=54)
    spec = numbers_spec(units=MAX_UNITS, n_layers=MAX_LAYERS, columns=54)

    estimate = estimate_training_memory(spec, frame)
    suggestion = suggest_smaller(spec, frame)

    assert estimate.total > 10_000 * MB
    assert format_bytes(estimate.total).endswith(" GB")
    check_memory(suggestion.spec, frame)


def test_a_run_dominated_by_its_batch_is_told_a_smaller_batch():
    frame = numbers_table(rows=100_000)
    spec = numbers_spec(units=512, batch_size=32_768)
    estimate = estimate_training_memory(spec, frame)
    assert max(estimate.parts(), key=estimate.parts().get) == "batch_activations"
    budget = estimate.total * 2 // 3

    suggestion = suggest_smaller(spec, frame, budget)

    assert suggestion.spec.layers == spec.layers
    assert suggestion.spec.batch_size < spec.batch_size
    assert re.fullmatch(r"Try a batch size of [\d,]+ \(about \d+ MB\)\.", suggestion.text)
    check_memory(suggestion.spec, frame, budget)


def test_a_table_too_big_for_the_budget_is_told_a_sample_of_its_rows():
    frame = numbers_table(rows=200_000, columns=50)
    spec = numbers_spec(columns=50)
    estimate = estimate_training_memory(spec, frame)
    budget = estimate.total // 2

    with pytest.raises(TrainingError, match=r"a random sample of [\d,]+ of the 200,000 rows"):
        check_memory(spec, frame, budget)
    suggestion = suggest_smaller(spec, frame, budget)

    assert suggestion.spec == spec
    assert 1_000 <= suggestion.rows < 200_000
    check_memory(spec, frame.sample(suggestion.rows, random_state=0), budget)


def test_a_budget_below_any_network_says_to_raise_it():
    with pytest.raises(TrainingError, match=f"raise {BUDGET_VARIABLE}"):
        check_memory(numbers_spec(), numbers_table(), budget_bytes=1 * MB)


def test_the_environment_variable_raises_the_budget(monkeypatch):
    frame = numbers_table(columns=54)
    spec = numbers_spec(units=4096, n_layers=8, columns=54)
    with pytest.raises(TrainingError):
        check_memory(spec, frame)

    monkeypatch.setenv(BUDGET_VARIABLE, "100000")

    assert memory_budget_bytes() == 100_000 * MB
    assert check_memory(spec, frame).total < 100_000 * MB


@pytest.mark.parametrize("setting", ["lots", "2GB", "-5", "0", "nan", "inf"])
def test_a_bad_budget_setting_says_what_to_set(monkeypatch, setting):
    monkeypatch.setenv(BUDGET_VARIABLE, setting)

    with pytest.raises(LayerlabError, match=f"{BUDGET_VARIABLE} must be a number of megabytes"):
        memory_budget_bytes()


def test_the_default_budget_is_600_megabytes():
    assert memory_budget_bytes() == 600 * MB


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (512, "512 bytes"),
        (3_020, "3 kB"),
        (4_500_000, "4.5 MB"),
        (340_000_000, "340 MB"),
        (999_700_000, "1 GB"),
        (1_200_000_000, "1.2 GB"),
        (17_300_000_000, "17 GB"),
        (1_234_000_000_000, "1,234 GB"),
    ],
)
def test_sizes_read_as_a_person_would_write_them(size, text):
    assert format_bytes(size) == text


def test_a_wide_categorical_table_peaks_while_it_is_preprocessed():
    rng = np.random.default_rng(2)
    rows = 60_000
    frame = pd.DataFrame(
        {f"c{i}": rng.choice([f"v{j}" for j in range(150)], rows) for i in range(8)}
    )
    frame["label"] = rng.choice(["no", "yes"], rows)
    spec = ModelSpec(
        target="label",
        task="binary",
        features=[Feature(f"c{i}", "categorical") for i in range(8)],
        layers=[LayerSpec.dense(16)],
    )

    estimate = estimate_training_memory(spec, frame)

    assert estimate.n_features == 8 * 101
    assert estimate.phase == "preprocessing"
    assert estimate.resident_data > estimate.total * 0.9


def test_estimating_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import pandas as pd\n"
        "from layerlab.tabular.memory import check_memory\n"
        "from layerlab.schema.spec import Feature, ModelSpec\n"
        "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0] * 20, 'y': ['a', 'b', 'a'] * 20})\n"
        "spec = ModelSpec(target='y', task='binary', features=[Feature('x', 'numeric')])\n"
        "check_memory(spec, frame)\n"
        "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_training_refuses_a_run_over_the_budget_before_it_builds(monkeypatch):
    from layerlab.model.train import TrainingRun
    from layerlab.tabular.reading import read_csv

    frame = read_csv(Path(__file__).resolve().parents[2] / "data" / "customer_churn.csv")
    spec = default_spec("churned", "binary", profile_columns(frame, "churned"))
    monkeypatch.setenv("LAYERLAB_MEMORY_BUDGET_MB", "30")
    with pytest.raises(TrainingError, match="more than the 30 MB one run may use here"):
        TrainingRun(frame, spec.replace(layers=[LayerSpec.dense(4096, "relu")] * 3))


def test_a_wide_table_of_numbers_peaks_while_it_is_scored_against_the_baselines():
    """Gradient boosting reads the raw columns as float64 and keeps histograms per column:
    on a wide table that, not the network, is the run's peak (issue 27: a 12,000 x 2,000
    table measured 2.6x an estimate that stopped at training)."""
    narrow = estimate_training_memory(numbers_spec(columns=200), numbers_table(1_200, 200))
    wide = estimate_training_memory(numbers_spec(columns=400), numbers_table(1_200, 400))

    assert wide.phase == narrow.phase == "evaluation"
    assert wide.evaluation > wide.total / 2
    assert 1.8 < wide.evaluation / narrow.evaluation < 2.2  # it grows with the columns


def test_when_scoring_dominates_a_smaller_run_is_a_sample_of_the_rows():
    frame = numbers_table(20_000, 100)
    spec = numbers_spec(columns=100)
    estimate = estimate_training_memory(spec, frame)
    suggestion = suggest_smaller(spec, frame, budget_bytes=estimate.total * 3 // 4)

    assert estimate.phase == "evaluation"
    assert suggestion is not None and suggestion.rows is not None
    assert suggestion.rows < len(frame)
    assert suggestion.estimate.total <= estimate.total * 3 // 4
