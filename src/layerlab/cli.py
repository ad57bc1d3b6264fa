"""Command line: train a model from a CSV and write its bundle; score new data with a bundle.

    python -m layerlab train DATA.csv --target COLUMN [--spec spec.json] [--out DIR]
    python -m layerlab predict BUNDLE new.csv [--out predictions.csv]

Bad input gets the same plain messages as the app, a non-zero exit status and
no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from layerlab.errors import LayerlabError
from layerlab.spec import OPTIMIZERS, ModelSpec, default_spec, format_layers, parse_layers

EPILOG = """examples:
  python -m layerlab train data/customer_churn.csv --target churned
  python -m layerlab train data/diabetes.csv --target target \\
      --layers dense:64:relu,dropout:0.2,dense:32:tanh --epochs 300 --patience 20
  python -m layerlab predict layerlab-churned data/customer_churn.csv > predictions.csv

The network learns on the training split, early stopping watches the validation
split, and the test split is only used for the final scores.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m layerlab",
        description="Train Keras networks on tabular data, and predict with them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a model on a CSV and write its bundle",
        description="Train a model on a CSV and write its bundle (model.keras, spec.json, "
        "metrics.json, history.csv, predict.py, ...). Flags override the spec.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("data", help="the training table, a CSV file")
    train.add_argument("--target", required=True, help="the column to predict")
    train.add_argument(
        "--task",
        choices=("regression", "binary", "multiclass"),
        help="override the task inferred from the target column",
    )
    train.add_argument("--spec", help="a spec.json to start from (e.g. from an earlier bundle)")
    train.add_argument("--out", help="folder to write the bundle to (default: layerlab-TARGET)")
    train.add_argument(
        "--layers",
        help="hidden layers, comma-separated: dense:UNITS[:ACTIVATION], dropout:RATE or "
        "batchnorm (e.g. dense:64:relu,dropout:0.2,dense:32:tanh)",
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--learning-rate", type=float, metavar="LR")
    train.add_argument("--batch-size", type=int, metavar="N")
    train.add_argument("--epochs", type=int, metavar="N", help="the most epochs to run")
    train.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="stop after N epochs without validation improvement (0 turns early stopping off)",
    )
    train.add_argument("--seed", type=int, help="seed for the split, initial weights and shuffling")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = commands.add_parser(
        "predict",
        help="predict new rows with a trained bundle",
        description="Predict each row of a CSV with a bundle written by `train`; "
        "writes a CSV of predictions to standard output (or --out).",
    )
    predict.add_argument("bundle", help="the bundle folder written by `train`")
    predict.add_argument("data", help="a CSV with the columns the model was trained on")
    predict.add_argument("--out", help="write predictions here instead of standard output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if args.command == "train":
            return _train(args)
        return _predict(args)
    except LayerlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _spec_from_args(args, frame) -> ModelSpec:
    from layerlab.data import profile_columns
    from layerlab.task import check_target

    if args.spec:
        try:
            spec = ModelSpec.from_json(Path(args.spec).read_text())
        except OSError as error:
            raise LayerlabError(
                f"Cannot read the spec file '{args.spec}': {error.strerror}."
            ) from None
        spec = spec.replace(target=args.target, task=args.task or spec.task)
    else:
        info = check_target(frame, args.target, args.task)
        spec = default_spec(args.target, info.task, profile_columns(frame, args.target))
    overrides = {
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "patience": args.patience,
        "seed": args.seed,
    }
    if args.optimizer and args.learning_rate is None and not args.spec:
        from layerlab.spec import DEFAULT_LEARNING_RATES

        overrides["learning_rate"] = DEFAULT_LEARNING_RATES[args.optimizer]
    spec = spec.replace(**{key: value for key, value in overrides.items() if value is not None})
    if args.layers is not None:
        spec = spec.replace(layers=parse_layers(args.layers))
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise LayerlabError(
            f"The spec uses column(s) {missing} that are not in '{args.data}'. Use the table the "
            "spec was made for, or edit the spec's features."
        )
    return spec.validate()


def _train(args) -> int:
    from layerlab.evaluate import evaluate
    from layerlab.export import write_bundle
    from layerlab.reading import read_csv
    from layerlab.train import train

    frame = read_csv(args.data)
    spec = _spec_from_args(args, frame)
    print(
        f"Predicting '{spec.target}' ({spec.task}) from {len(spec.features)} columns: "
        f"{', '.join(spec.feature_names)}",
        file=sys.stderr,
    )
    print(f"Network: {spec.describe()}  [--layers {format_layers(spec.layers)}]", file=sys.stderr)
    progress = None if args.quiet else _ProgressBar(sys.stderr)
    result = train(frame, spec, on_event=progress)
    if progress:
        progress.close()
    print(result.message, file=sys.stderr)
    evaluation = evaluate(result)
    print(evaluation.headline(), file=sys.stderr)
    out = Path(args.out or f"layerlab-{_safe_name(spec.target)}")
    write_bundle(result, evaluation, out)
    print(f"Bundle written to {out}/ (try: python {out}/predict.py NEW.csv)", file=sys.stderr)
    return 0


def _predict(args) -> int:
    from layerlab.export import load_bundle
    from layerlab.predict import check_columns, score
    from layerlab.reading import read_csv

    bundle = load_bundle(args.bundle)
    frame = read_csv(args.data)
    extra = check_columns(frame, bundle.spec)
    if extra:
        print(
            f"note: ignoring column(s) the model does not use: {', '.join(extra)}", file=sys.stderr
        )
    table = score(bundle.model, bundle.spec, bundle.classes, frame)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"{len(table)} predictions written to {args.out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40] or "model"


class _ProgressBar:
    """One line per epoch (redrawn in place on a terminal) with all metrics."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, event) -> None:
        from layerlab.train import EpochEnd

        width = 24
        if isinstance(event, EpochEnd):
            fraction = event.epoch / event.epochs
            metrics = "  ".join(f"{name} {value:.4g}" for name, value in event.metrics.items())
            label = f"epoch {event.epoch}/{event.epochs}  {metrics}  ({event.elapsed_seconds:.1f}s)"
        else:
            fraction = (event.epoch - 1 + event.fraction) / event.epochs
            label = f"epoch {event.epoch}/{event.epochs}  {event.fraction:.0%} of epoch"
            if not self.tty:
                return
        filled = round(fraction * width)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {label}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
