"""The memory estimate against the measured peak of real training runs: five networks.

    python -m bench.memory [--write bench/MEMORY.md]

Each network trains in a fresh subprocess, so one run's peak cannot hide
another's. There, TensorFlow is imported and warmed up with a tiny training run
first (a training worker has done both before its first user's run), the
table is loaded, and the peak resident memory is reset (``/proc/self/clear_refs``,
or a 5 ms sampler where that is refused). The number reported is the peak
resident memory during ``TrainingRun(frame, spec).run()`` above the memory
held right before it: what the run itself costs the worker. The estimate is
``layerlab.tabular.memory.estimate_training_memory(spec, frame)`` for the same spec and
table. Target: within 30% of the measured peak for each of the five networks; a
sixth row, issue 15's 4 layers of 4096 units, is shown for scale.

The tables are real data that ship with the repository or scikit-learn,
enlarged where a case needs more rows by drawing rows again with a little
noise on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


DATA_DIR = Path(__file__).resolve().parents[1] / "data"
TARGET_RATIO = 0.30

CASES = {
    "small": {
        "table": "churn",
        "rows": 20_000,
        "layers": "dense:64:relu,dense:32:relu",
        "batch_size": 32,
        "epochs": 3,
        "about": "the default network (64, 32) on the churn table, enlarged",
    },
    "wide": {
        "table": "digits",
        "rows": 1_797,
        "layers": ",".join(["dense:2048:relu"] * 4),
        "batch_size": 256,
        "epochs": 3,
        "about": "4 layers of 2048 units on the digits (8x8 pixels)",
    },
    "deep": {
        "table": "breast_cancer",
        "rows": 20_000,
        "layers": ",".join(["dense:384:relu,batchnorm,dropout:0.1"] * 10),
        "batch_size": 128,
        "epochs": 3,
        "about": "10 blocks of Dense 384, BatchNorm, Dropout on breast cancer",
    },
    "wide_categorical": {
        "table": "churn_categorical",
        "rows": 60_000,
        "layers": "dense:256:relu,dense:128:relu",
        "batch_size": 64,
        "epochs": 2,
        "about": "2 layers (256, 128) on churn read as 15 categorical columns",
    },
    "big_batch": {
        "table": "diabetes",
        "rows": 50_000,
        "layers": "dense:512:relu,dense:512:relu,dense:512:relu",
        "batch_size": 16_384,
        "epochs": 3,
        "about": "3 layers of 512 units, batches of 16,384 rows",
    },
    "issue_15": {
        "table": "digits",
        "rows": 1_797,
        "layers": ",".join(["dense:4096:relu"] * 4),
        "batch_size": 256,
        "epochs": 3,
        "about": "issue 15's 4 layers of 4096 units (shown, not one of the five)",
        "target": False,
    },
}


# --------------------------------------------------------------------- tables
def _enlarge(frame, rows: int, seed: int, skip: tuple[str, ...] = ()):
    """``rows`` rows drawn again from ``frame``, numbers moved by 2% of their spread."""
    import numpy as np

    rng = np.random.default_rng(seed)
    picked = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    for name in picked.columns:
        column = picked[name]
        if name in skip or column.dtype.kind not in "fi":
            continue
        noise = rng.normal(0, 0.02 * float(column.std() or 1.0), rows)
        picked[name] = (column.astype("float64") + noise).round(3)
    return picked


def load_table(name: str, rows: int):
    """(frame, target column, task) for one of the cases' tables."""
    import numpy as np

    from layerlab.tabular.reading import read_csv

    if name in ("churn", "churn_categorical"):
        base = read_csv(DATA_DIR / "customer_churn.csv")
        frame = _enlarge(base, rows, seed=1, skip=("age", "tenure_months", "support_calls"))
        frame["customer_id"] = [f"CUST-{i:07d}" for i in range(rows)]
        if name == "churn_categorical":
            frame = _categorical_churn(frame)
        return frame, "churned", "binary"
    if name == "diabetes":
        base = read_csv(DATA_DIR / "diabetes.csv")
        return _enlarge(base, rows, seed=2), "disease_progression", "regression"
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer}[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    if name == "digits":  # the digit 0-9 as a class label
        frame["target"], task = bunch.target.astype(str), "multiclass"
    else:  # "malignant" / "benign"
        frame["target"], task = np.asarray(bunch.target_names)[bunch.target.to_numpy()], "binary"
    if rows != len(frame):
        frame = _enlarge(frame, rows, seed=3)
    return frame, "target", task


def _categorical_churn(frame):
    """The churn columns read as categories, binned and crossed: up to 100 kept levels each."""
    frame = frame.copy()
    text = {name: frame[name].astype(str) for name in ("region", "contract", "payment_method")}
    frame["region_contract"] = text["region"] + "/" + text["contract"]
    frame["region_payment"] = text["region"] + "/" + text["payment_method"]
    frame["contract_payment"] = text["contract"] + "/" + text["payment_method"]
    frame["age_group"] = frame["age"].astype(int).astype(str)
    frame["tenure_group"] = frame["tenure_months"].astype(int).astype(str)
    frame["charges_band"] = (frame["monthly_charges"] // 1).astype(int).astype(str)
    frame["charges_fine"] = (frame["monthly_charges"] // 0.5).astype(int).astype(str)
    frame["calls_age"] = frame["support_calls"].astype(str) + "/" + frame["age_group"]
    frame["account"] = frame["customer_id"]  # an ID read as a category: 100 kept, rest OOV
    return frame


def make_spec(case: dict):
    from layerlab.schema.spec import Feature, ModelSpec, parse_layers
    from layerlab.tabular.data import profile_columns

    frame, target, task = load_table(case["table"], case["rows"])
    if case["table"] == "churn_categorical":
        numeric = {"monthly_charges", "tenure_months"}
        features = [
            Feature(name, "numeric" if name in numeric else "categorical")
            for name in frame.columns
            if name not in (target, "customer_id")
        ]
    else:
        features = [
            Feature(profile.name, profile.model_kind)
            for profile in profile_columns(frame, target)
            if profile.role == "feature" and profile.model_kind
        ]
    spec = ModelSpec(
        target=target,
        task=task,
        features=features,
        layers=parse_layers(case["layers"]),
        batch_size=case["batch_size"],
        epochs=case["epochs"],
        optimizer=case.get("optimizer", "adam"),
        momentum=case.get("momentum", 0.9),
        patience=0,
        seed=1,
    )
    return frame, spec


# --------------------------------------------------------------------- worker
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """The peak resident memory from now on, in bytes above the memory resident now."""

    def __init__(self) -> None:
        import gc

        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # resets VmHWM, the kernel's exact peak, to VmRSS
            self.method = "VmHWM after clear_refs"
        except OSError:
            self.method = "VmRSS sampled every 5 ms"
        self.baseline_kb = _status_kb("VmRSS")
        self._sampled_kb = self.baseline_kb
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self._sampled_kb = max(self._sampled_kb, _status_kb("VmRSS"))

    def stop(self) -> int:
        self._done.set()
        self._sampler.join()
        peak_kb = self._sampled_kb
        if self.method.startswith("VmHWM"):
            peak_kb = max(peak_kb, _status_kb("VmHWM"))
        return (peak_kb - self.baseline_kb) * 1024


def _warm_up() -> None:
    """Import TensorFlow and train once, tiny: what a worker has done before its first real run."""
    import tensorflow as tf  # noqa: F401

    from layerlab.model.train import TrainingRun
    from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
    from layerlab.tabular.reading import read_csv

    frame = read_csv(DATA_DIR / "iris.csv")
    spec = ModelSpec(
        target="species",
        task="multiclass",
        features=[Feature(name, "numeric") for name in frame.columns[:4]],
        layers=[LayerSpec.dense(8)],
        epochs=2,
        patience=0,
    )
    TrainingRun(frame, spec).run()


def run_worker(case: dict) -> dict:
    import gc

    _warm_up()
    from layerlab.model.train import TrainingRun
    from layerlab.tabular.memory import estimate_training_memory

    frame, spec = make_spec(case)
    started = time.perf_counter()
    estimate = estimate_training_memory(spec, frame)
    estimate_seconds = time.perf_counter() - started
    gc.collect()
    peak = PeakMemory()
    started = time.perf_counter()
    result = TrainingRun(frame, spec).run()
    seconds = time.perf_counter() - started
    measured = peak.stop()
    return {
        "rows": len(frame),
        "features": estimate.n_features,
        "parameters": estimate.parameters,
        "estimate": estimate.total,
        "parts": estimate.parts(),
        "phase": estimate.phase,
        "measured": measured,
        "method": peak.method,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "train_seconds": seconds,
        "estimate_seconds": estimate_seconds,
    }


def measure(name: str, case: dict) -> dict:
    command = [sys.executable, "-m", "bench.memory", "--worker", json.dumps(case)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{done.stderr[-2000:]}")
    return {"case": name, **json.loads(done.stdout.strip().splitlines()[-1])}


# --------------------------------------------------------------------- driver
NOTES = """\
## How to read this

- **Measured peak**: the peak resident memory of the worker process during
  `TrainingRun(frame, spec).run()` (splitting, building, preprocessing, training,
  validation), above what the process held right before it, after TensorFlow was
  imported and one tiny run had trained. The estimate is
  `layerlab.tabular.memory.estimate_training_memory(spec, frame)`, computed beforehand.
- **Phase**: the estimate is the largest of three phases (splitting the table,
  preprocessing it, training); the second table shows what it says is alive then.
- **Preprocessing**: `train.preprocess` makes each split's float32 matrix in chunks
  of 32,768 rows and joins them; while a chunk is made, about four copies of its
  features are alive (the one-hot columns, their concatenation, its NumPy copy),
  and joining holds two copies of the matrix. With many categories that is the
  run's peak (`wide_categorical`).
- **Snapshots**: the estimate counts three copies of the weights and optimizer
  slots (the last good epoch, the best epoch, the epoch being validated), which
  is what the trainer holds once the validation loss has stopped improving. In a
  run whose every epoch is its best (the "best epoch" column), the best and the
  last good epoch are one copy, and the estimate is high by one snapshot: that is
  most of the gap in `wide` and `issue_15`, where snapshots are most of the memory.
- **Overhead**: the compiled XLA programs stay resident, a base of 33 MB and a
  few MB per layer (more for BatchNormalization and Dropout), whatever the widths:
  in `deep`, 30 layers of which 20 are BatchNorm or Dropout, they are most of it.
"""


def _table(results: list[dict]) -> tuple[list[str], int, int]:
    from layerlab.tabular.memory import format_bytes

    lines = [
        "| network | rows | inputs | parameters | best epoch | estimate | measured peak | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    failures = targets = 0
    for result in results:
        case = CASES[result["case"]]
        ratio = result["estimate"] / max(result["measured"], 1)
        met = abs(ratio - 1) <= TARGET_RATIO
        counted = case.get("target", True)
        targets += counted
        failures += counted and not met
        note = "" if met or not counted else " (not met)"
        lines.append(
            f"| {result['case']}: {case['about']} | {result['rows']:,} | "
            f"{result['features']:,} | {result['parameters']:,} | "
            f"{result['best_epoch']} of {result['epochs']} | "
            f"{format_bytes(result['estimate'])} | {format_bytes(result['measured'])} | "
            f"{ratio:.2f}{note} |"
        )
    return lines, failures, targets


def _parts(results: list[dict]) -> list[str]:
    names = list(results[0]["parts"])
    lines = [
        "| network | phase | " + " | ".join(name.replace("_", " ") for name in names) + " |",
        "| --- | --- |" + " ---: |" * len(names),
    ]
    for result in results:
        cells = " | ".join(f"{result['parts'][name] / 1e6:,.1f}" for name in names)
        lines.append(f"| {result['case']} | {result['phase']} | {cells} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", help="also save the findings to this markdown file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0
    started = time.perf_counter()
    results = []
    for name, case in CASES.items():
        results.append(measure(name, case))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    table, failures, targets = _table(results)
    verdict = "met" if not failures else f"not met in {failures} of {targets} cases"
    findings = [
        *table,
        "",
        f"Target: every estimate of the {targets} networks within {TARGET_RATIO:.0%} of its "
        f"measured peak: {verdict}.",
        "",
        "The estimate by part, in MB:",
        "",
        *_parts(results),
        "",
        f"Peak measured as {results[0]['method']}. Training seconds: "
        + ", ".join(f"{r['case']} {r['train_seconds']:.0f}" for r in results)
        + f". Slowest estimate: {max(r['estimate_seconds'] for r in results) * 1000:.0f} ms. "
        f"Whole benchmark: {time.perf_counter() - started:.0f} s.",
    ]
    text = "\n".join(findings)
    print(text)
    if args.write:
        from bench.train_speed import machine

        Path(args.write).write_text(
            f"# Memory estimate against measured peaks\n\nMachine: {machine()}.\n\n"
            f"Reproduce: `python -m bench.memory --write {args.write}` (each network in its "
            f"own process).\n\n{text}\n\n{NOTES}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
