"""Command line: train a model from a CSV and write its bundle; score new data with a bundle.

    python -m layerlab train DATA.csv --target COLUMN [--spec spec.json] [--out DIR]
    python -m layerlab predict BUNDLE new.csv [--out predictions.csv] [--keep COL,...]
    python -m layerlab runs WORKSPACE
    python -m layerlab search DATA.csv --target COLUMN --trials N --out DIR  (search.py)
    python -m layerlab best DATA.csv --target COLUMN [--minutes M] [--out DIR]  (best.py)

``train --workspace DIR`` also keeps the run in a workspace folder, as the app
keeps its runs; ``runs DIR`` lists a workspace's runs.

The command line is for when a table outgrows the browser: it reads files of any
size (the app's upload limit is the shared server's), and budgets one run's memory
by what this machine has free (``schema.machine_memory``), not by the shared
server's 600 MB, unless ``LAYERLAB_MEMORY_BUDGET_MB`` says otherwise.

Exit status: 0 when done; 2 when the input cannot be used (``error: ...`` says
why, the same plain message as the app, no traceback); 130 when interrupted.
Anything else is a bug in Layerlab and shows its traceback (status 1).

``layerlab.model`` is imported inside the commands that train or score: it brings
TensorFlow (about 4 s), which ``--help``, ``runs`` and a refused flag never pay.

Standard error carries Layerlab's own lines only: TensorFlow's C++ log lines,
its Python loggers and library warnings (about internals a user cannot change)
show only with ``--verbose``. ``--quiet`` leaves the final result lines.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

from layerlab.cli.best import add_best_command, best_command
from layerlab.cli.common import spec_from_args, writing
from layerlab.cli.search import add_search_command, search_command
from layerlab.cli.training import bundle_folder, train_and_write
from layerlab.report.run_table import runs_frame
from layerlab.runs.store import WorkspaceStore
from layerlab.runs.workspace_paths import DATABASE_FILE, is_workspace
from layerlab.schema.errors import LayerlabError
from layerlab.schema.machine_memory import budget_from_the_machine
from layerlab.schema.spec import (
    CLASS_WEIGHTS,
    OPTIMIZERS,
    format_layers,
)
from layerlab.schema.vocabulary import Task
from layerlab.tabular.model_io import scored_table
from layerlab.tabular.predict import check_columns
from layerlab.tabular.reading import read_table
from layerlab.tabular.writing import write_csv

EPILOG = """examples:
  python -m layerlab train data/customer_churn.csv --target churned
  python -m layerlab train data/diabetes.csv --target disease_progression \\
      --layers dense:64:relu,dropout:0.2,dense:32:tanh --epochs 300 --patience 20
  python -m layerlab predict layerlab-churned data/customer_churn.csv > predictions.csv

The network learns on the training split, early stopping watches the validation
split, and the test split is only used for the final scores.
"""


def _add_output_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--quiet", action="store_true", help="print only the final result lines (no progress)"
    )
    command.add_argument(
        "--verbose",
        action="store_true",
        help="also show TensorFlow's own log lines and library warnings (for bug reports)",
    )


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
    train.add_argument("data", help="the training table, a CSV or Parquet file")
    train.add_argument("--target", required=True, help="the column to predict")
    train.add_argument(
        "--task",
        choices=tuple(Task),
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
    train.add_argument(
        "--class-weight",
        choices=CLASS_WEIGHTS,
        help="balanced: every class counts the same in the loss, however rare (classification)",
    )
    train.add_argument("--seed", type=int, help="seed for the split, initial weights and shuffling")
    train.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        help="once validation has chosen the epochs, train a fresh network on the training and "
        "validation rows together for that many epochs and keep it (default: the spec's)",
    )
    train.add_argument(
        "--workspace",
        metavar="DIR",
        help="also keep this run (table, settings, curves, scores, model) in the workspace "
        "folder DIR, created if needed; list its runs with `runs DIR`",
    )
    _add_output_flags(train)

    predict = commands.add_parser(
        "predict",
        help="predict new rows with a trained bundle",
        description="Predict each row of a CSV with a bundle written by `train`; "
        "writes a CSV of predictions to standard output (or --out).",
    )
    predict.add_argument("bundle", help="the bundle folder written by `train`")
    predict.add_argument(
        "data", help="a CSV or Parquet file with the columns the model was trained on"
    )
    predict.add_argument("--out", help="write predictions here instead of standard output")
    predict.add_argument(
        "--keep",
        action="append",
        metavar="COL,...",
        help="input columns to carry beside the predictions, as written in the file "
        "(e.g. an ID to join them back on); comma-separated, or repeat the flag",
    )
    _add_output_flags(predict)

    runs = commands.add_parser(
        "runs",
        help="list the runs kept in a workspace folder",
        description="List the runs kept in a workspace folder (written by `train --workspace`).",
    )
    runs.add_argument("workspace", help="the workspace folder")
    runs.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)

    add_search_command(commands, _add_output_flags)
    add_best_command(commands, _add_output_flags)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        from layerlab.model.runtime import let_tensorflow_speak  # see _libraries_quiet

        let_tensorflow_speak()
    try:
        with (
            contextlib.nullcontext() if args.verbose else _libraries_quiet(),
            budget_from_the_machine(),  # the shared server's 600 MB is not this machine's
        ):
            if args.command == "train":
                return _train(args)
            if args.command == "runs":
                return _runs(args)
            if args.command == "search":
                return search_command(args)
            if args.command == "best":
                return best_command(args)
            return _predict(args)
    except LayerlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def exit_without_teardown(code: int) -> None:
    """End the process now, once the command is done, if TensorFlow was imported.

    Python's own shutdown then tears down TensorFlow's modules and C++ objects
    one by one, 1 to 1.5 s after every file is written and every line printed
    (bench/END_TO_END.md), while the person waits for their prompt. Everything
    the command made is already closed: its files, its worker pools (``search``
    closes its own) and the gradient-boosting thread ``evaluate`` waited for.
    Log handlers and the standard streams are flushed first.
    """
    if "tensorflow" not in sys.modules:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


@contextlib.contextmanager
def _libraries_quiet() -> Iterator[None]:
    """No TensorFlow log lines and no library warnings while the command runs."""
    from layerlab.model.runtime import keep_tensorflow_quiet

    keep_tensorflow_quiet()
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _train(args) -> int:
    frame = read_table(args.data, max_bytes=None)
    spec = spec_from_args(args, frame)
    out = bundle_folder(args.out, spec)
    if not args.quiet:
        print(
            f"Predicting '{spec.target}' ({spec.task}) from {len(spec.features)} columns: "
            f"{', '.join(spec.feature_names)}",
            file=sys.stderr,
        )
        print(
            f"Network: {spec.describe()}  [--layers {format_layers(spec.layers)}]", file=sys.stderr
        )
    train_and_write(args, frame, spec, out)
    return 0


def _runs(args) -> int:

    if not is_workspace(args.workspace):
        raise LayerlabError(
            f"'{args.workspace}' is not a Layerlab workspace folder (it has no {DATABASE_FILE}). "
            "Give the folder you passed to `train --workspace`."
        )
    store = WorkspaceStore(args.workspace, create=False)
    records = store.runs()
    if not records:
        print(f"No runs in the workspace {args.workspace}/ yet.", file=sys.stderr)
        return 0
    table = runs_frame(records).drop(columns=["Chosen"])
    names = {kept.id: kept.name for kept in store.tables()}
    newest_first = sorted(records, key=lambda record: record.created, reverse=True)
    table.insert(1, "Table", [names.get(record.table_id, "") for record in newest_first])
    print(table.to_string(index=False))
    return 0


def _predict(args) -> int:
    from layerlab.model.export import load_bundle
    from layerlab.model.scoring import score, unseen_categories

    bundle = load_bundle(args.bundle)
    frame = read_table(args.data, max_bytes=None)
    extra = check_columns(frame, bundle.spec)
    if extra and not args.quiet:
        print(
            f"note: ignoring column(s) the model does not use: {', '.join(extra)}", file=sys.stderr
        )
    table = score(bundle.model, bundle.spec, bundle.classes, frame)
    if not args.quiet:
        for warning in unseen_categories(bundle.model, bundle.spec, frame):
            print(f"warning: {warning}", file=sys.stderr)
    if args.keep:
        keep = [name.strip() for names in args.keep for name in names.split(",") if name.strip()]
        table = scored_table(table, read_table(args.data, max_bytes=None, as_written=True), keep)
    if not args.out:
        write_csv(table, sys.stdout)
        return 0
    with writing("the predictions", args.out, "Choose another path with --out."):
        write_csv(table, args.out)
    print(f"{len(table)} predictions written to {args.out}", file=sys.stderr)
    return 0
