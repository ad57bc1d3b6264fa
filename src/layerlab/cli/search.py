"""``python -m layerlab search``: a random search (or the capacity ladder) from the command line.

    python -m layerlab search DATA.csv --target COL --trials 12 --out DIR
    python -m layerlab search DATA.csv --target COL --capacity --out DIR

writes ``DIR/trials.csv`` (or ``DIR/ladder.csv``), ``DIR/best/`` (the best
network's bundle, trained again on all the rows with the full epochs),
``DIR/trials/`` (each trial's own files) and, unless ``--storage`` names a
shared database, the study in ``DIR/study.db``. Started with the same
``--storage URL --study NAME`` on several machines, the processes share one
study and each trial runs once.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from layerlab.cli.common import comparison_line, spec_from_args, writing
from layerlab.runs.capacity import CapacityLadder, Ladder
from layerlab.runs.search import Search
from layerlab.runs.search_settings import SAMPLERS, SearchSettings, full_training_spec
from layerlab.runs.search_space import SearchSpace, default_space
from layerlab.runs.study import shown_url, trials_frame
from layerlab.runs.trials import PoolTrials, retrain_best
from layerlab.runs.workers import WorkerPool, worker_count
from layerlab.schema.errors import LayerlabError
from layerlab.schema.numbers import readable_number
from layerlab.tabular.reading import read_table
from layerlab.tabular.too_good import suspiciously_good, too_good_sentence
from layerlab.tabular.writing import write_csv

if TYPE_CHECKING:
    from layerlab.runs.capacity import LadderStep
    from layerlab.runs.study import TrialRow
    from layerlab.runs.trials import TrialOutcome, TrialRunner
    from layerlab.schema.spec import ModelSpec

DEFAULT_STUDY = "layerlab-search"
EPILOG = """examples:
  python -m layerlab search data/diabetes.csv --target disease_progression --trials 12 --out diabetes-search
  python -m layerlab search data/customer_churn.csv --target churned --minutes 10 \\
      --space space.json --sampler tpe --out churn-search
  python -m layerlab search data/iris.csv --target species --capacity --out iris-ladder

A search space file names what varies, for example:
  {"hidden_layers": {"low": 1, "high": 3}, "units": [16, 32, 64, 128],
   "activations": ["relu", "tanh"], "dropout_rate": {"low": 0, "high": 0.3, "step": 0.1},
   "optimizers": ["adam", "rmsprop"], "learning_rate": {"low": 0.0001, "high": 0.01},
   "batch_sizes": [16, 32, 64]}
A setting it leaves out keeps the value of the spec (--spec, or the default network).

Several machines on one search: start the same command on each with
--storage postgresql+psycopg://USER:PASSWORD@HOST/DATABASE --study NAME.
"""
# Flags of `train` that the search does not take; the spec it starts from is the spec file's.
_TRAIN_ONLY = (
    "optimizer",
    "learning_rate",
    "batch_size",
    "epochs",
    "patience",
    "class_weight",
    "layers",
    "refit",
)


def add_search_command(commands, add_output_flags: Callable[[argparse.ArgumentParser], None]):
    search = commands.add_parser(
        "search",
        help="search for a good network (random search, or the capacity ladder)",
        description="Train many networks on a sample of the rows for a few epochs each, keep "
        "every trial, and train the best one on all the rows. Trials run side by side, one "
        "per worker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("data", help="the training table, a CSV or Parquet file")
    search.add_argument("--target", required=True, help="the column to predict")
    search.add_argument(
        "--task",
        choices=("regression", "binary", "multiclass"),
        help="override the task inferred from the target column",
    )
    search.add_argument(
        "--spec",
        help="a spec.json to start from: its features, fixed settings, and the epochs the best "
        "network trains for at the end",
    )
    search.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    search.add_argument("--trials", type=int, metavar="N", help="how many trials (default 12)")
    search.add_argument(
        "--minutes",
        type=float,
        metavar="M",
        help="start no trial after M minutes, and stop those still running then",
    )
    search.add_argument("--space", help="a search space JSON file (default: the lessons' space)")
    search.add_argument(
        "--sample",
        type=float,
        default=SearchSettings.sample,
        metavar="SHARE",
        help=f"the share of rows each trial trains on (default {SearchSettings.sample}; "
        "never fewer than 500 rows)",
    )
    search.add_argument(
        "--epochs",
        type=int,
        default=SearchSettings.epochs,
        metavar="N",
        help=f"the most epochs per trial (default {SearchSettings.epochs}; early stopping "
        f"after {SearchSettings.patience} without improvement)",
    )
    search.add_argument(
        "--seed",
        type=int,
        help="seed for the row sample, the settings drawn and each network (default: the spec's)",
    )
    search.add_argument(
        "--workers", type=int, metavar="K", help="trials at once (default: one per core)"
    )
    search.add_argument(
        "--storage",
        metavar="URL",
        help="the study's database (default sqlite:///DIR/study.db); a shared one, e.g. "
        "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE, lets several machines work on "
        "one study",
    )
    search.add_argument(
        "--study", default=DEFAULT_STUDY, metavar="NAME", help="the study's name in the storage"
    )
    search.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="random",
        help="random (default: the lessons' choice) or tpe (learns from finished trials)",
    )
    search.add_argument(
        "--capacity",
        action="store_true",
        help="run the capacity ladder instead: start small, widen, then deepen while the "
        "validation loss improves by more than its noise",
    )
    add_output_flags(search)


def search_command(args: argparse.Namespace) -> int:

    _check_flags(args)
    if not args.verbose:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise LayerlabError(
            f"'{out}' is a file, and the results go in a folder. Choose a folder with --out."
        )
    frame = read_table(args.data, max_bytes=None)
    base_spec = base_spec_from_args(args, frame)
    settings = SearchSettings(
        trials=args.trials,
        minutes=args.minutes,
        sample=args.sample,
        epochs=args.epochs,
        seed=base_spec.seed,
        sampler=args.sampler,
    ).validate()
    space = _space(args.space)

    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
    pool = WorkerPool(args.workers or worker_count())
    try:
        runner = PoolTrials(pool, out / "trials")
        if args.capacity:
            best_spec = _ladder(args, runner, frame, base_spec, settings, out)
        else:
            best_spec = _search(args, runner, frame, base_spec, settings, space, out)
        _train_best(args, pool, frame, best_spec, base_spec, out)
    finally:
        pool.close()
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise LayerlabError(f"--workers must be 1 or more; got {args.workers}.")
    if args.capacity:
        given = [
            flag
            for flag, value in (
                ("--trials", args.trials),
                ("--minutes", args.minutes),
                ("--space", args.space),
                ("--storage", args.storage),
                ("--sampler", None if args.sampler == "random" else args.sampler),
                ("--study", None if args.study == DEFAULT_STUDY else args.study),
            )
            if value is not None
        ]
        if given:
            raise LayerlabError(
                f"--capacity runs the capacity ladder, which takes no {', '.join(given)}: it "
                "grows one network step by step. Leave them out, or search without --capacity."
            )


def base_spec_from_args(args: argparse.Namespace, frame) -> ModelSpec:
    """The spec the search starts from: the spec file's or the default network, as `train`
    reads it, with ``--seed``."""
    return spec_from_args(argparse.Namespace(**{**vars(args), **dict.fromkeys(_TRAIN_ONLY)}), frame)


def _space(path: str | None):

    if path is None:
        return default_space()
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise LayerlabError(
            f"Cannot read the search space file '{path}': {error.strerror}."
        ) from None
    return SearchSpace.from_json(text)


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr)


# --------------------------------------------------------------------------- the search
def _search(args, runner: TrialRunner, frame, base_spec, settings, space, out: Path) -> ModelSpec:

    storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    search = Search(
        runner,
        frame,
        space,
        base_spec,
        settings,
        storage=storage,
        study_name=args.study,
        data_fingerprint=hashlib.sha256(Path(args.data).read_bytes()).hexdigest(),
        parallel=runner.slots,
    )
    budget = [f"{settings.trials} trials"] if settings.trials else []
    budget += [f"{settings.minutes:g} minutes"] if settings.minutes else []
    _say(
        args,
        f"Searching {' or '.join(budget)} ({settings.sampler} sampler, seed {settings.seed}) "
        f"for '{base_spec.target}' ({base_spec.task}): each trial on "
        f"{len(search.training_rows)} of {len(frame)} rows, up to {settings.epochs} epochs, "
        f"{search.parallel} at once. Study '{args.study}' in {shown_url(storage)}.",
    )
    for line in space.describe():
        _say(args, f"  {line}")
    seen: list[float] = []

    def heard(row: TrialRow) -> None:
        if row.validation_loss is not None and row.status != "stopped":
            seen.append(row.validation_loss)
        _say(args, trial_line(row, min(seen) if seen else None))

    try:
        search.run(heard)
        others = search.others_running()
        if others:
            _say(
                args,
                f"Waiting for trial(s) {', '.join(map(str, others))}, which other processes run.",
            )
            slowest = max((row.seconds or 0 for row in search.rows_so_far()), default=0)
            left = search.wait_for_others(max(120.0, 3 * slowest))
            if left:
                _say(
                    args,
                    f"Trial(s) {', '.join(map(str, left))} still run elsewhere; they are not in "
                    "the best reported here.",
                )
    finally:
        rows = search.rows_so_far()
        with _writing(out / "trials.csv"):
            write_csv(trials_frame(rows), out / "trials.csv")
    best = search.best()
    if best is None:
        reasons = sorted({row.message for row in rows if row.message})
        raise LayerlabError(
            "No trial finished, so there is no best network."
            + (f" The trials said: {' / '.join(reasons)}" if reasons else "")
        )
    print(
        f"Best: trial {best.shown_number}, validation loss {best.validation_loss:.4g}: "
        f"{best.spec.describe()}; {best.spec.optimizer}, learning rate "
        f"{readable_number(best.spec.learning_rate)}, batch {best.spec.batch_size}.",
        file=sys.stderr,
    )
    print(f"{len(rows)} trials written to {out / 'trials.csv'}", file=sys.stderr)
    return best.spec


def trial_line(row: TrialRow, best: float | None) -> str:
    loss = "no score" if row.validation_loss is None else f"val_loss {row.validation_loss:.4g}"
    spec = row.spec
    settings = (
        f"{spec.describe()}; {spec.optimizer} lr {readable_number(spec.learning_rate)} batch {spec.batch_size}"
        if spec
        else ""
    )
    best_text = "" if best is None else f"  (best so far {best:.4g})"
    line = (
        f"trial {row.shown_number}  {row.status}  {loss}  {row.epochs or 0} epochs  "
        f"{row.seconds or 0:.1f}s  {settings}{best_text}"
    )
    if row.status == "failed" and row.message:
        line += f"\n  {row.message}"
    return line


# --------------------------------------------------------------------------- the ladder
def _ladder(args, runner: TrialRunner, frame, base_spec, settings, out: Path) -> ModelSpec:

    ladder = CapacityLadder(runner, frame, base_spec, settings)
    _say(
        args,
        f"Capacity ladder for '{base_spec.target}' ({base_spec.task}): each step on "
        f"{len(ladder.training_rows)} of {len(frame)} rows, up to {settings.epochs} epochs. "
        "The first two steps measure the noise.",
    )

    def heard(step: LadderStep) -> None:
        loss = step.validation_loss
        _say(
            args,
            f"step {step.step}  {step.phase:<6}  {step.hidden_layers} x {step.units}  "
            f"{step.outcome.parameters or 0:,} parameters  "
            + ("no score" if loss is None else f"val_loss {loss:.4g}")
            + ("  better" if step.improved else ""),
        )

    result = None
    try:
        result = ladder.run(heard)
    finally:
        done = result or Ladder(list(ladder.steps), ladder.noise, None)
        with _writing(out / "ladder.csv"):
            write_csv(done.frame(), out / "ladder.csv")
    print(result.noise_sentence(), file=sys.stderr)
    chosen = result.chosen
    if chosen is None:
        raise LayerlabError("The ladder was stopped before it could choose a network.")
    print(
        f"Chosen: step {chosen.step}, {chosen.hidden_layers} x {chosen.units} "
        f"({chosen.outcome.parameters or 0:,} parameters), validation loss "
        f"{chosen.validation_loss:.4g}.",
        file=sys.stderr,
    )
    print(f"{len(result.steps)} steps written to {out / 'ladder.csv'}", file=sys.stderr)
    return chosen.spec


# --------------------------------------------------------------------------- the best, again
def _train_best(args, pool, frame, spec: ModelSpec, base_spec: ModelSpec, out: Path) -> None:
    """Train the chosen network on all the rows with the full epochs; its bundle is DIR/best/."""

    final = full_training_spec(spec, base_spec)
    _say(
        args,
        f"Training the best network on all {len(frame)} rows, up to {final.epochs} epochs ...",
    )
    with tempfile.TemporaryDirectory(prefix="layerlab-best-", dir=out) as folder:
        handle = retrain_best(PoolTrials(pool, folder, final=True), frame, spec, base_spec)
        try:
            handle.wait()
        except KeyboardInterrupt:
            handle.stop()
            raise
        outcome: TrialOutcome = handle.outcome()
        trained = outcome.trained
        if trained is None or trained.evaluation is None:
            raise LayerlabError(f"Training the best network on all rows failed: {outcome.message}")
        with _writing(out / "best"):
            _unpack_bundle(trained.bundle_file, out / "best")
    print(trained.message, file=sys.stderr)
    print(trained.evaluation.headline(), file=sys.stderr)
    print(_verdict_line(trained), file=sys.stderr)
    print(
        f"Bundle written to {out / 'best'}/ (try: python {out / 'best'}/predict.py NEW.csv)",
        file=sys.stderr,
    )


def _verdict_line(trained) -> str:
    """The winner against its baselines, or the question a score close to perfect raises."""

    if suspiciously_good(trained.evaluation, trained.leak_suspect):
        return too_good_sentence(trained.evaluation, trained.leak_suspect)
    return comparison_line(trained.evaluation, searched=True)


def _unpack_bundle(archive: Path, folder: Path) -> None:
    """The bundle zip a training job wrote, as the bundle folder `train --out` writes."""
    from layerlab.model.export import unpack_bundle

    folder.mkdir(parents=True, exist_ok=True)
    unpack_bundle(archive, folder)


@contextlib.contextmanager
def _writing(where: Path):
    with writing("the results", where, "Choose another folder with --out."):
        yield
