"""``python -m layerlab best``: the best network Layerlab finds for a table in a few minutes.

    python -m layerlab best DATA.csv --target COL [--minutes 3] [--out DIR]

Most of what separates a tuned network from a default one on a table is its settings
and its ensemble (issue 31, ``bench/QUALITY.md``). So ``best`` spends about
``SEARCH_SHARE`` of the minutes on a random search of the lessons' space (depth,
widths, activation, dropout, optimizer, learning rate, batch size), whose first trial
is the default network itself, each trial a single network on a sample of the rows
for few epochs. Then it trains the winner, and the default network if another won,
as a new table's default trains (an ensemble of networks, the learning rate lowered
on a plateau, the refit on every training and validation row) on all the rows; keeps
the one with the lower validation loss (the same validation rows for both: short
trials rank networks noisily, and a search's best often owes its place to the
noise); and writes one bundle as ``train`` does, with the search's trials beside it
in ``search_trials.csv``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable

from layerlab.cli.common import writing
from layerlab.cli.search import base_spec_from_args, trial_line
from layerlab.cli.training import bundle_folder, train_and_write, train_with_display
from layerlab.report.progress import format_duration
from layerlab.runs.search import Search
from layerlab.runs.search_settings import SearchSettings, full_training_spec
from layerlab.runs.search_space import default_space
from layerlab.runs.study import trials_frame
from layerlab.runs.trials import PoolTrials
from layerlab.runs.workers import WorkerPool, worker_count
from layerlab.schema.errors import LayerlabError
from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import Task
from layerlab.tabular.reading import read_table
from layerlab.tabular.writing import write_csv

# The share of the minutes the search may take; the rest is for training its winner, which
# trains several networks on every row and ends by early stopping, not by the clock.
SEARCH_SHARE = 0.6
DEFAULT_MINUTES = 3.0
# Below this, the search has time for the default network and little else.
LEAST_MINUTES = 0.5
TRIALS_FILE = "search_trials.csv"

EPILOG = """examples:
  python -m layerlab best data/diabetes.csv --target disease_progression
  python -m layerlab best data/customer_churn.csv --target churned --minutes 10 --out churn-best

The bundle is the same as `train` writes (model.keras, spec.json, metrics.json,
train.py, predict.py, ...); its metrics.json and the last lines say how the network
compares with gradient boosting and whether the gap is larger than the test rows'
own noise.
"""


def add_best_command(commands, add_output_flags: Callable[[argparse.ArgumentParser], None]):
    best = commands.add_parser(
        "best",
        help="find the best network for a table in a few minutes and write its bundle",
        description="Search the network's settings for part of the minutes (the default "
        "network is the first trial), then train the winner as an ensemble on all the rows "
        "and write its bundle, as `train` does.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    best.add_argument("data", help="the training table, a CSV or Parquet file")
    best.add_argument("--target", required=True, help="the column to predict")
    best.add_argument(
        "--task", choices=tuple(Task), help="override the task inferred from the target column"
    )
    best.add_argument(
        "--spec",
        help="a spec.json to start from (its features, its network as the first trial, its "
        "recipe for the winner)",
    )
    best.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        metavar="M",
        help=f"about how long it may take (default {DEFAULT_MINUTES:g}); the search takes "
        f"{SEARCH_SHARE:.0%} of it, training the finalists the rest, however long they need",
    )
    best.add_argument("--out", help="folder to write the bundle to (default: layerlab-best-TARGET)")
    best.add_argument("--seed", type=int, help="seed for the split, the search and each network")
    best.add_argument(
        "--workers", type=int, metavar="K", help="trials at once (default: one per core)"
    )
    best.add_argument(
        "--workspace",
        metavar="DIR",
        help="also keep the winner's run in the workspace folder DIR, for the app's Results page",
    )
    add_output_flags(best)


def best_command(args: argparse.Namespace) -> int:
    if not args.minutes >= LEAST_MINUTES:  # also refuses NaN
        raise LayerlabError(
            f"--minutes must be {LEAST_MINUTES:g} or more, time for the default network and a "
            f"few others; got {args.minutes:g}."
        )
    if args.workers is not None and args.workers < 1:
        raise LayerlabError(f"--workers must be 1 or more; got {args.workers}.")
    if not args.verbose:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    frame = read_table(args.data, max_bytes=None)
    base = base_spec_from_args(args, frame)
    out = bundle_folder(args.out or f"layerlab-best-{base.target}", base)
    settings = SearchSettings(minutes=args.minutes * SEARCH_SHARE, seed=base.seed).validate()
    rows, winner = _search(args, frame, base, settings)
    searched_seconds = time.monotonic() - started

    default = rows[0]  # the first trial: the default network (start_from_base)
    challenger = default.number != winner.number and default.validation_loss is not None
    finalists = [winner, default] if challenger else [winner]
    chosen = _train_finalists(args, frame, base, finalists)
    train_and_write(args, frame, chosen.spec, out, searched=True, trained=chosen)
    with writing("the search's trials", out / TRIALS_FILE, "Choose another folder with --out."):
        write_csv(trials_frame(rows), out / TRIALS_FILE)
    scored = sum(row.validation_loss is not None for row in rows)
    print(
        f"Done in {format_duration(time.monotonic() - started)}: "
        f"{format_duration(searched_seconds)} searching {len(rows)} networks ({scored} scored; "
        f"{out / TRIALS_FILE}), the rest training the finalists.",
        file=sys.stderr,
    )
    return 0


def _train_finalists(args, frame, base, finalists):
    """Train each finalist as the winner trains (the recipe, all rows, full epochs) and keep
    the one whose validation loss is lowest: a search's short trials on part of the rows
    rank networks noisily, and its best often owes its place to that noise."""
    results = []
    for row in finalists:
        final = full_training_spec(row.spec, base)
        name = "the default network" if row.number == 0 else f"trial {row.shown_number}"
        _say(
            args,
            f"Training {name} on all {len(frame):,} rows: "
            + (f"an ensemble of {final.ensemble} networks" if final.ensemble > 1 else "one network")
            + (", then trained again on every training and validation row" if final.refit else "")
            + f", up to {final.epochs:,} epochs ...",
        )
        result = train_with_display(args, frame, final)
        results.append((validation_loss(result), name, result))
    _, name, chosen = min(results, key=lambda found: found[0])
    if len(results) > 1:
        shown = "; ".join(f"{found[1]} {readable_number(found[0])}" for found in results)
        _say(args, f"Validation loss after full training: {shown}. Keeping {name}.")
    return chosen


def validation_loss(result) -> float:
    """A run's best finite validation loss, as a search scores its trials (inf for none)."""
    losses = [row["val_loss"] for row in result.history if math.isfinite(row["val_loss"])]
    return min(losses, default=math.inf)


def _search(args, frame, base, settings: SearchSettings):
    """Run the search on a pool of workers; every trial's rows, and the best one."""
    space = default_space()
    pool = WorkerPool(args.workers or worker_count())
    try:
        # The trials' own files (each network's bundle) are not kept: only their scores are.
        with tempfile.TemporaryDirectory(prefix="layerlab-best-") as scratch:
            search = Search(
                PoolTrials(pool, scratch),
                frame,
                space,
                base,
                settings,
                study_name="layerlab-best",
                start_from_base=True,
            )
            _say(
                args,
                f"Searching for {format_duration(60 * settings.minutes)} for '{base.target}' "
                f"({base.task}): the default network first, then networks drawn at random, each "
                f"on {len(search.training_rows):,} of {len(frame):,} rows for up to "
                f"{settings.epochs} epochs, {search.parallel} at once.",
            )
            seen: list[float] = []

            def heard(row) -> None:
                if row.validation_loss is not None and row.status != "stopped":
                    seen.append(row.validation_loss)
                _say(args, trial_line(row, min(seen) if seen else None))

            rows = search.run(heard)
    finally:
        pool.close()
    winner = search.best()
    if winner is None:
        reasons = sorted({row.message for row in rows if row.message})
        raise LayerlabError(
            "No network of the search finished, so there is no best one."
            + (f" The trials said: {' / '.join(reasons)}" if reasons else "")
            + " Give it more --minutes, or train the default with `python -m layerlab train`."
        )
    first = rows[0] if rows else None
    against = ""
    if first is not None and first.validation_loss is not None and winner.number != first.number:
        against = f" (the default network's: {readable_number(first.validation_loss)})"
    _say(
        args,
        f"Best: trial {winner.shown_number}, validation loss "
        f"{readable_number(winner.validation_loss)}{against}: {winner.spec.describe()}; "
        f"{winner.spec.optimizer}, learning rate {readable_number(winner.spec.learning_rate)}, "
        f"batch {winner.spec.batch_size}.",
    )
    return rows, winner


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr)
