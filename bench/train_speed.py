"""Training speed: Layerlab's trainer against model.fit, scikit-learn's MLP and a bare compiled loop.

    python -m bench.train_speed                     # all cases, 20 epochs, table to stdout
    python -m bench.train_speed --cases binary --epochs 5
    python -m bench.train_speed --write bench/RESULTS.md

Every contender trains the same architecture, batch size and epochs on the same
data and validation split, each in its own subprocess (so peak memory is its
own and nothing warms up for the next). Reported per contender: steady-state
seconds per epoch (median of epochs after the first), total wall time for the
run including compilation, peak resident memory above the process's baseline
after imports and data loading, and the final validation metric. Ratios are
against contenders measured in the same run, never against fixed numbers.

Contenders:
- layerlab: ``layerlab.model.train.TrainingRun`` from the raw table (its time includes
  preprocessing and per-epoch validation, like fit's), as users get it: on one
  TensorFlow intra-op thread (``layerlab/model/runtime.py``).
- layerlab_tf_threads: the same with ``LAYERLAB_TF_THREADS=0``, TensorFlow's
  default thread pool, to show what the one-thread setting is worth.
- fit_default: ``network.compile()`` + ``fit`` with defaults (batch 32).
- fit_best_spe: ``fit`` with the best ``steps_per_execution`` of a short sweep.
- sklearn: ``MLPClassifier`` / ``MLPRegressor``, same hidden sizes, batch, Adam,
  learning rate and epochs (it has no Dropout or BatchNormalization: its row in
  that case trains the dense layers only).
- floor: the minimal loop, one XLA-compiled ``tf.function`` running the epoch
  as a ``tf.while_loop`` over shuffled batch indices with plain Keras layers and
  Keras Adam, data resident; for the Dropout/BatchNormalization case it is
  measured twice: with those layers as Keras ships them (``floor``) and with
  the Dense layers alone (``floor_dense``, a stricter lower bound).
- floor_one_thread: the floor on one intra-op thread, like Layerlab: the fair
  floor for Layerlab's own overhead.

Every contender except the two ``layerlab`` rows and ``floor_one_thread`` runs
with TensorFlow's default threads, as its users would get it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CASES = {
    "binary": {
        "rows": 100_000,
        "numeric": 20,
        "categorical": 0,
        "task": "binary",
        "layers": "dense:64:relu,dense:64:relu",
    },
    "regression": {
        "rows": 100_000,
        "numeric": 20,
        "categorical": 0,
        "task": "regression",
        "layers": "dense:64:relu,dense:64:relu",
    },
    "wide": {
        "rows": 50_000,
        "numeric": 200,
        "categorical": 0,
        "task": "binary",
        "layers": "dense:64:relu,dense:64:relu",
    },
    "categorical": {
        "rows": 50_000,
        "numeric": 6,
        "categorical": 6,
        "task": "binary",
        "layers": "dense:64:relu,dense:64:relu",
    },
    "big_dropout_bn": {
        "rows": 50_000,
        "numeric": 20,
        "categorical": 0,
        "task": "binary",
        "layers": "dense:256:relu,dropout:0.2,batchnorm,dense:256:relu,dropout:0.2,batchnorm,dense:256:relu",
    },
    # Issue 14's pieces, all on: the floor trains the same network on the same (wider) inputs.
    "recipe": {
        "rows": 100_000,
        "numeric": 20,
        "categorical": 0,
        "task": "binary",
        "layers": "dense:64:relu,dense:64:relu",
        "spec": {
            "scaling": "robust",
            "numeric_embedding": "piecewise",
            "optimizer": "adamw",
            "beta_2": 0.95,
            "weight_decay": 0.02,
            "lr_schedule": "cosine",
            "label_smoothing": 0.1,
        },
    },
    "ensemble": {
        "rows": 100_000,
        "numeric": 20,
        "categorical": 0,
        "task": "binary",
        "layers": "dense:64:relu,dense:64:relu",
        "spec": {"ensemble": 4},
    },
}
CONTENDERS = (
    "layerlab",
    "layerlab_tf_threads",
    "floor",
    "floor_one_thread",
    "floor_dense",
    "fit_default",
    "fit_best_spe",
    "sklearn",
)
# The LAYERLAB_TF_THREADS each contender's process gets; None leaves it unset (the default).
THREAD_SETTINGS = {"layerlab": None, "floor_one_thread": "1"}
SPE_SWEEP = (32, 256, 2500)
BATCH_SIZE = 32


# --------------------------------------------------------------------- data
def make_table(case: dict, seed: int = 0):
    """A synthetic table with a learnable, noisy signal."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = case["rows"]
    columns = {f"x{i}": rng.normal(size=rows).astype("float32") for i in range(case["numeric"])}
    signal = sum(columns[f"x{i}"] * (1.0 / (1 + i)) for i in range(min(5, case["numeric"])))
    for i in range(case["categorical"]):
        levels = np.array([f"level_{j}" for j in range(5 + 3 * i)])
        picks = rng.integers(0, len(levels), size=rows)
        columns[f"c{i}"] = levels[picks]
        signal = signal + (picks % 3 - 1) * 0.5
    frame = pd.DataFrame(columns)
    noise = rng.normal(size=rows)
    if case["task"] == "regression":
        frame["y"] = 3.0 * signal + noise + 0.3 * signal**2
    else:
        frame["y"] = np.where(signal + noise > 0, "yes", "no")
    return frame


def make_spec(case: dict, epochs: int):
    from layerlab.schema.spec import Feature, ModelSpec, parse_layers

    features = [Feature(f"x{i}", "numeric") for i in range(case["numeric"])]
    features += [Feature(f"c{i}", "categorical") for i in range(case["categorical"])]
    return ModelSpec(
        target="y",
        task=case["task"],
        features=features,
        layers=parse_layers(case["layers"]),
        batch_size=BATCH_SIZE,
        epochs=epochs,
        patience=0,
        seed=1,
    ).replace(**case.get("spec", {}))


# ------------------------------------------------------------------ workers
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(case_name: str, contender: str, epochs: int) -> dict:
    """Train one contender once; return its measurements."""
    import numpy as np
    import tensorflow as tf  # imported before the baseline memory reading

    from layerlab.model.build import encode_target
    from layerlab.model.train import TrainingRun, preprocess

    case = CASES[case_name]
    frame = make_table(case)
    spec = make_spec(case, epochs)
    if contender == "floor_dense" or contender == "sklearn":
        spec = spec.replace(layers=[layer for layer in spec.layers if layer.kind == "dense"])
    run = TrainingRun(frame, spec)  # the same split and preprocessing for every contender
    built = run.built
    x_train = preprocess(built, run.splits.train)
    y_train = encode_target(run.splits.train["y"], built)
    x_val = preprocess(built, run.splits.validation)
    y_val = encode_target(run.splits.validation["y"], built)
    baseline_mb = _peak_rss_mb()
    metric_name = "val_rmse" if spec.task == "regression" else "val_accuracy"

    def score(predict) -> float:
        predicted = np.asarray(predict(x_val)).reshape(len(x_val), -1)
        if spec.task == "regression":
            std = built.target_scaling.std
            return float(np.sqrt(np.mean((predicted[:, 0] - y_val[:, 0]) ** 2)) * std)
        return float(np.mean((predicted[:, 0] > 0.5) == (y_val[:, 0] > 0.5)))

    epoch_times: list[float] = []
    started = time.perf_counter()
    extra: dict = {}
    if contender.startswith("layerlab"):
        marks = [started]

        def on_event(event):
            if hasattr(event, "metrics"):
                marks.append(time.perf_counter())

        started = time.perf_counter()
        marks[0] = started
        result = run.run(on_event=on_event)
        total = time.perf_counter() - started
        epoch_times = [b - a for a, b in itertools.pairwise(marks)]
        value = score(lambda x: result.built.network.predict(x, batch_size=8192, verbose=0))
        extra["engine"] = result.engine
    elif contender.startswith("floor"):
        network = built.network
        total, epoch_times = _floor_loop(network, spec, x_train, y_train, epochs)
        value = score(lambda x: network.predict(x, batch_size=8192, verbose=0))
    elif contender.startswith("fit"):
        if contender == "fit_best_spe":
            sweep = {}
            for spe in SPE_SWEEP:
                network = _rebuild_network(case_name, spec)
                times = _fit(network, spec, x_train, y_train, x_val, y_val, 3, spe)[1]
                sweep[spe] = statistics.median(times[1:])
            best = min(sweep, key=sweep.get)
            extra["steps_per_execution"] = best
            extra["sweep_seconds_per_epoch"] = {str(k): round(v, 3) for k, v in sweep.items()}
            network = _rebuild_network(case_name, spec)
            started = time.perf_counter()
            total, epoch_times = _fit(network, spec, x_train, y_train, x_val, y_val, epochs, best)
        else:
            network = built.network
            started = time.perf_counter()
            total, epoch_times = _fit(network, spec, x_train, y_train, x_val, y_val, epochs, 1)
        value = score(lambda x: network.predict(x, batch_size=8192, verbose=0))
    elif contender == "sklearn":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        sizes = tuple(layer.units for layer in spec.layers)
        kind = MLPRegressor if spec.task == "regression" else MLPClassifier
        model = kind(
            hidden_layer_sizes=sizes,
            batch_size=BATCH_SIZE,
            learning_rate_init=spec.learning_rate,
            max_iter=epochs,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            shuffle=True,
            random_state=0,
        )
        target = y_train[:, 0] if spec.task == "regression" else y_train[:, 0].astype(int)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            model.fit(x_train, target)
            total = time.perf_counter() - started
        epoch_times = [total / epochs] * epochs
        if spec.task == "regression":
            value = score(lambda x: model.predict(x))
        else:
            value = score(lambda x: model.predict_proba(x)[:, 1])
    else:
        raise ValueError(contender)
    steady = statistics.median(epoch_times[1:]) if len(epoch_times) > 1 else epoch_times[0]
    return {
        "case": case_name,
        "contender": contender,
        "epochs": epochs,
        "seconds_per_epoch": steady,
        "total_seconds": total,
        "peak_memory_mb": max(0.0, _peak_rss_mb() - baseline_mb),
        "metric": metric_name,
        "value": value,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        **extra,
    }


def _rebuild_network(case_name: str, spec):
    """A freshly initialized network of the same spec, for the steps_per_execution sweep."""
    import keras

    from layerlab.model.build import build_model
    from layerlab.model.train import split_frame

    keras.utils.clear_session()
    splits = split_frame(make_table(CASES[case_name]), spec)
    classes = () if spec.task == "regression" else ("no", "yes")
    return build_model(spec, splits.train, classes).network


def _fit(network, spec, x_train, y_train, x_val, y_val, epochs, steps_per_execution):
    import keras

    from layerlab.model.train import _optimizer

    _, loss = spec.resolved_output()
    network.compile(
        optimizer=_optimizer(spec),
        loss=loss,
        metrics=["mae"] if spec.task == "regression" else ["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    marks = []

    class Marks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    started = time.perf_counter()
    network.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(x_val, y_val),
        shuffle=True,
        verbose=0,
        callbacks=[Marks()],
    )
    total = time.perf_counter() - started
    return total, [b - a for a, b in zip([started, *marks], marks, strict=False)]


def _floor_loop(network, spec, x_train, y_train, epochs):
    """The minimal compiled loop of the issue: plain Keras layers and Adam in one XLA while_loop."""
    import numpy as np
    import tensorflow as tf

    from layerlab.model.train import _optimizer, _per_sample_loss

    optimizer = _optimizer(spec)
    optimizer.build(network.trainable_variables)
    loss_fn = _per_sample_loss(spec)
    x, y = tf.constant(x_train), tf.constant(y_train)
    n = len(x_train)
    steps = n // BATCH_SIZE

    @tf.function(jit_compile=True)
    def epoch(order):
        def body(step):
            rows = tf.slice(order, [step * BATCH_SIZE], [BATCH_SIZE])
            xb, yb = tf.gather(x, rows), tf.gather(y, rows)
            with tf.GradientTape() as tape:
                # An ensemble's members sit side by side: one loss each, as Layerlab trains them.
                parts = tf.split(network(xb, training=True), spec.ensemble, axis=-1)
                loss = tf.add_n([tf.reduce_mean(loss_fn(yb, part)) for part in parts])
            grads = tape.gradient(loss, network.trainable_variables)
            optimizer.apply(grads, network.trainable_variables)
            return (step + 1,)

        return tf.while_loop(lambda step: step < steps, body, (tf.constant(0),))

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    marks = [started]
    for _ in range(epochs):
        epoch(tf.constant(rng.permutation(n).astype("int32")))
        marks.append(time.perf_counter())
    return marks[-1] - started, [b - a for a, b in itertools.pairwise(marks)]


# ------------------------------------------------------------------ driver
def measure(case_name: str, contender: str, epochs: int) -> dict:
    from layerlab.model.runtime import THREADS_VARIABLE

    env = dict(os.environ)
    env.pop(THREADS_VARIABLE, None)
    threads = THREAD_SETTINGS.get(contender, "0")
    if threads is not None:
        env[THREADS_VARIABLE] = threads
    command = [sys.executable, "-m", "bench.train_speed", "--worker", case_name, contender]
    command += ["--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"case": case_name, "contender": contender, "error": done.stderr.strip()[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(results: list[dict], epochs: int) -> str:
    lines = []
    for case_name in dict.fromkeys(r["case"] for r in results):
        rows = {r["contender"]: r for r in results if r["case"] == case_name}
        case = CASES[case_name]
        lines.append(
            f"### {case_name}: {case['rows']:,} rows x {case['numeric']} numeric + "
            f"{case['categorical']} categorical, {case['task']}, layers `{case['layers']}`, "
            f"batch {BATCH_SIZE}, Adam, {epochs} epochs\n"
        )
        lines.append(
            "| contender | TF threads | s/epoch (steady) | total s (incl. compile) | peak MB | "
            "validation | layerlab speed-up per epoch | layerlab speed-up total |"
        )
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        mine = rows.get("layerlab", {})
        for name in CONTENDERS:
            row = rows.get(name)
            if row is None:
                continue
            if "error" in row:
                lines.append(f"| {name} | error: {row['error'][-120:]} | | | | | | |")
                continue
            per_epoch = (
                f"{row['seconds_per_epoch'] / mine['seconds_per_epoch']:.2f}x"
                if mine and "error" not in mine
                else ""
            )
            total = (
                f"{row['total_seconds'] / mine['total_seconds']:.2f}x"
                if mine and "error" not in mine
                else ""
            )
            note = ""
            if "steps_per_execution" in row:
                note = f" (steps_per_execution={row['steps_per_execution']})"
            threads = "" if name == "sklearn" else row.get("intra_op_threads") or "all"
            lines.append(
                f"| {name}{note} | {threads} | {row['seconds_per_epoch']:.3f} | {row['total_seconds']:.2f} | "
                f"{row['peak_memory_mb']:.0f} | {row['metric']} {row['value']:.4f} | "
                f"{per_epoch} | {total} |"
            )
        lines.append("")
    return "\n".join(lines)


# (label, numerator contender, denominator contender, field, target, "min"/"max").
# The rows with no target show how far the floor itself gets.
TARGETS = (
    (
        "Layerlab ÷ floor, same threads (≤ 1.5x)",
        "layerlab",
        "floor_one_thread",
        "seconds_per_epoch",
        1.5,
        "max",
    ),
    (
        "Layerlab ÷ floor, TF defaults (≤ 1.5x)",
        "layerlab",
        "floor",
        "seconds_per_epoch",
        1.5,
        "max",
    ),
    (
        "Layerlab ÷ dense-only floor (≤ 1.5x)",
        "layerlab",
        "floor_dense",
        "seconds_per_epoch",
        1.5,
        "max",
    ),
    (
        "fit defaults ÷ Layerlab per epoch (≥ 50x)",
        "fit_default",
        "layerlab",
        "seconds_per_epoch",
        50,
        "min",
    ),
    ("sklearn ÷ Layerlab per epoch (≥ 10x)", "sklearn", "layerlab", "seconds_per_epoch", 10, "min"),
    (
        "fit defaults ÷ Layerlab, 20-epoch total (≥ 10x)",
        "fit_default",
        "layerlab",
        "total_seconds",
        10,
        "min",
    ),
    (
        "for scale: fit defaults ÷ floor on one thread, per epoch",
        "fit_default",
        "floor_one_thread",
        "seconds_per_epoch",
        None,
        "",
    ),
    (
        "for scale: sklearn ÷ floor on one thread, per epoch",
        "sklearn",
        "floor_one_thread",
        "seconds_per_epoch",
        None,
        "",
    ),
    (
        "for scale: fit defaults ÷ dense-only floor, per epoch",
        "fit_default",
        "floor_dense",
        "seconds_per_epoch",
        None,
        "",
    ),
)


NOTES = """\
## How to read this

- **Threads.** Layerlab runs TensorFlow on one intra-op thread (`src/layerlab/model/runtime.py`):
  at batch size 32 the matrices are so small that splitting each op over cores costs more
  than it saves. Every other TensorFlow contender runs on TensorFlow's defaults (all
  cores), as its users would get it. Two extra rows show each effect alone:
  `layerlab_tf_threads` (Layerlab on TensorFlow's default threads) and `floor_one_thread`
  (the issue's floor on one thread: the fair floor for Layerlab's own overhead).
- **What an epoch includes.** Layerlab's and `fit`'s epochs include a validation pass
  (Layerlab runs it on a helper thread while the next epoch trains); the floor and
  scikit-learn rows validate nothing. Layerlab's total also includes preprocessing the raw
  table; the others start from the preprocessed arrays.
- **Validation metric.** Layerlab keeps the best epoch's weights (restore-best-weights); the
  others keep the last epoch's. scikit-learn has no Dropout or BatchNormalization: in
  `big_dropout_bn` its row trains the dense layers only.
- **Fallback.** No configuration falls back: every layer, optimizer and loss the builder
  offers runs in the compiled XLA loop (the line under the targets names the engine each
  case used). If XLA ever cannot compile a network, the trainer runs the same loop as a
  plain TensorFlow graph rather than `model.fit`: the graph loop keeps every behaviour
  (events, Stop, restore-best, the divergence guard) and is still several times faster than
  `fit`. The result message on the Train page and in the CLI then says so in one sentence.
- **Where a per-epoch target is not met**, compare with the "for scale" rows: the floor
  on one thread (for the big network also the dense-only floor, which skips Dropout and
  BatchNormalization altogether) validates nothing and is still short of the same ratio.
  Those cases (200 input columns, ~90 one-hot columns, 256-wide layers) are bound by the
  arithmetic of the matrix products, not by per-step overhead, so a leaner loop cannot
  close the gap; only faster matrix kernels or lower precision could, and neither is
  used here.
"""


def summary(results: list[dict]) -> str:
    """The issue's targets, one row each, one column per case, from this run's numbers."""
    cases = list(dict.fromkeys(r["case"] for r in results))
    found = {(r["case"], r["contender"]): r for r in results if "error" not in r}
    lines = ["| target | " + " | ".join(cases) + " |", "| --- |" + " ---: |" * len(cases)]
    for label, top, bottom, field, target, kind in TARGETS:
        cells = []
        for case in cases:
            a, b = found.get((case, top)), found.get((case, bottom))
            if a is None or b is None:
                cells.append("")
                continue
            ratio = a[field] / b[field]
            met = target is None or (ratio <= target if kind == "max" else ratio >= target)
            cells.append(f"{ratio:.2f}x" + ("" if met else " (not met)"))
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    engines = [
        found[(case, "layerlab")].get("engine", "") for case in cases if (case, "layerlab") in found
    ]
    lines.append("")
    lines.append(f"Layerlab's engine in every case: {', '.join(sorted(set(engines))) or 'n/a'}.")
    return "\n".join(lines)


def machine() -> str:
    import keras
    import tensorflow as tf

    return (
        f"{platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=tuple(CASES), default=list(CASES))
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--write", help="write the markdown table to this file")
    parser.add_argument(
        "--results", help="render from these JSON lines (a run's stderr) instead of measuring"
    )
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "CONTENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(*args.worker, args.epochs)))
        return 0
    if args.results:
        with open(args.results) as handle:
            results = [json.loads(line) for line in handle if line.startswith("{")]
        command = "python -m bench.train_speed --write bench/RESULTS.md"
    else:
        results = []
        for case_name in args.cases:
            for contender in args.contenders:
                if contender == "floor_dense" and "dropout" not in CASES[case_name]["layers"]:
                    continue
                result = measure(case_name, contender, args.epochs)
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
        command = "python -m bench.train_speed " + " ".join(sys.argv[1:])
    epochs = results[0].get("epochs", args.epochs) if results else args.epochs
    report = f"## Targets\n\n{summary(results)}\n\n## All measurements\n\n{render(results, epochs)}"
    print(report)
    if args.write:
        raw = os.path.splitext(args.write)[0] + ".jsonl"
        if not args.results:
            with open(raw, "w") as handle:
                handle.writelines(json.dumps(result) + "\n" for result in results)
        with open(args.write, "w") as handle:
            handle.write(
                f"# Training speed\n\nMachine: {machine()}.\n\nReproduce: `{command}` "
                f"(one run; each contender in its own process). Its raw measurements are in "
                f"`{raw}`; `--results {raw} --write {args.write}` re-renders this file from "
                f"them.\n\n{NOTES}\n{report}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
