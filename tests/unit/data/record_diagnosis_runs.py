"""Train the small networks whose learning curves ``test_diagnosis_real_runs.py`` labels by hand.

``python tests/unit/data/record_diagnosis_runs.py`` trains each run below on a table from
``data/`` and writes ``diagnosis_runs.json`` beside this script: per run, its spec, history,
naive validation loss and stop reason, which is all ``diagnose`` reads. The tests then read
the file, so they are fast and the same on every machine; run this again (a few minutes on
two cores) after a change to training that could change the curves. ``--only NAME`` trains
just the runs whose names contain NAME and keeps the others as recorded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "data"
OUT = HERE / "diagnosis_runs.json"

PENGUINS_LIKE = {"optimizer": "rmsprop", "learning_rate": 0.003, "batch_size": 16, "patience": 15}
WIDE_3x512 = [{"kind": "dense", "units": 512, "activation": "relu"}] * 3
SMOTHERED = [
    {"kind": "dense", "units": 64, "activation": "relu", "l2": 1.0},
    {"kind": "dense", "units": 32, "activation": "relu", "l2": 1.0},
]

# Each table's target and task.
TABLES = {
    "wine.csv": ("cultivar", "multiclass"),
    "iris.csv": ("species", "multiclass"),
    "customer_churn.csv": ("churned", "binary"),
    "diabetes.csv": ("disease_progression", "regression"),
}
SGD_1E5 = {"optimizer": "sgd", "learning_rate": 1e-5, "patience": 0}
ADAM_01 = {"learning_rate": 0.1, "epochs": 40, "patience": 0}
OVERFIT = {"layers": WIDE_3x512, "epochs": 80, "patience": 0}

# name: (table, changes to the default spec, what it was made to show, rows kept (None:
# all; 890 leaves 534 training rows)). The label each run is held to is in the test file.
RUNS: dict[str, tuple[str, dict, str, int | None]] = {
    **{
        f"wine_rmsprop_seed{seed}": ("wine.csv", {**PENGUINS_LIKE, "seed": seed}, "healthy", None)
        for seed in (1, 2, 3, 4, 5)
    },
    **{
        f"iris_rmsprop_seed{seed}": ("iris.csv", {**PENGUINS_LIKE, "seed": seed}, "healthy", None)
        for seed in (1, 2, 3)
    },
    "churn_default": ("customer_churn.csv", {"epochs": 60}, "healthy", None),
    "churn_sgd_1e-5": ("customer_churn.csv", {**SGD_1E5, "epochs": 30}, "too slow", None),
    "churn_sgd_1e-5_seed2": (
        "customer_churn.csv",
        {**SGD_1E5, "epochs": 30, "seed": 2},
        "too slow",
        None,
    ),
    "wine_sgd_1e-5": ("wine.csv", {**SGD_1E5, "epochs": 40}, "too slow", None),
    "churn_adam_0.1": ("customer_churn.csv", ADAM_01, "too fast", None),
    "churn_adam_0.1_seed2": ("customer_churn.csv", {**ADAM_01, "seed": 2}, "too fast", None),
    "churn_adam_0.3": ("customer_churn.csv", {**ADAM_01, "learning_rate": 0.3}, "too fast", None),
    "churn534_3x512": ("customer_churn.csv", OVERFIT, "overfitting", 890),
    "churn534_3x512_seed2": ("customer_churn.csv", {**OVERFIT, "seed": 2}, "overfitting", 890),
    "diabetes_3x512": ("diabetes.csv", {**OVERFIT, "epochs": 150}, "overfitting", None),
    "churn_l2_smothered": (
        "customer_churn.csv",
        {"layers": SMOTHERED, "epochs": 40},
        "underfitting",
        None,
    ),
    "churn_sgd_1e-7": (
        "customer_churn.csv",
        {"optimizer": "sgd", "learning_rate": 1e-7, "epochs": 10, "patience": 0},
        "plateau",
        None,
    ),
    "churn_early_stopping": (
        "customer_churn.csv",
        {"epochs": 300, "patience": 3},
        "early stopping",
        None,
    ),
}


# One network without refit or plateau, as these runs were recorded (spec.DEFAULT_RECIPE came
# later): the curves of a plain Keras loop.
PLAIN = {"ensemble": 1, "refit": False, "lr_plateau_factor": 1.0}


def record(name: str) -> dict:
    from layerlab.model.train import TrainingRun
    from layerlab.schema.spec import ModelSpec, default_spec
    from layerlab.tabular.data import profile_columns
    from layerlab.tabular.reading import read_csv

    table, changes, made_to_show, rows = RUNS[name]
    target, task = TABLES[table]
    frame = read_csv(DATA / table)
    if rows is not None:
        frame = frame.sample(rows, random_state=0).reset_index(drop=True)
    spec = default_spec(target, task, profile_columns(frame, target)).replace(**PLAIN)
    spec = ModelSpec.from_dict({**spec.to_dict(), **changes}).validate()
    started = time.perf_counter()
    result = TrainingRun(frame, spec).run()
    print(
        f"{name}: {len(result.history)} epochs, {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return {
        "table": table,
        "rows": len(frame),
        "made_to_show": made_to_show,
        "spec": spec.to_dict(),
        "history": [{key: _float32(value) for key, value in row.items()} for row in result.history],
        "naive_val_loss": result.naive_val_loss,
        "stop_reason": result.stop_reason,
    }


def _float32(value: float) -> float:
    """A float32 loss without the digits float64 adds to it (8 significant are all it has)."""
    return float(f"{float(value):.8g}")


def _text(recorded: dict) -> str:
    """The runs as JSON, each innermost object (an epoch, a feature, a layer) on one line, so
    a diff shows which epochs changed."""
    text = json.dumps(recorded, indent=1)
    return re.sub(r"\{\n\s+([^{}\[\]]*?)\n\s+\}", _one_line, text) + "\n"


def _one_line(match: re.Match) -> str:
    return "{" + re.sub(r"\n\s+", " ", match.group(1)) + "}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="train only the runs whose names contain this")
    args = parser.parse_args()
    recorded = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in RUNS:
        if args.only is None or args.only in name:
            recorded[name] = record(name)
            OUT.write_text(_text(recorded))  # kept as it goes
    recorded = {name: recorded[name] for name in RUNS if name in recorded}
    OUT.write_text(_text(recorded))


if __name__ == "__main__":
    main()
