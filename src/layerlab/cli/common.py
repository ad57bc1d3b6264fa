"""What the command line's commands share: the spec built from the flags, the verdict
line, and writes that fail as plain messages."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import DEFAULT_LEARNING_RATES, ModelSpec, default_spec, parse_layers
from layerlab.tabular.data import profile_columns
from layerlab.tabular.evaluation import BEHIND_STRONGEST
from layerlab.tabular.task import check_target


def spec_from_args(args: argparse.Namespace, frame: pd.DataFrame) -> ModelSpec:
    """The spec a command trains: the spec file's or the default network, with the flags."""
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
        "class_weight": args.class_weight,
        "seed": args.seed,
        "refit": args.refit,
    }
    if args.optimizer and args.learning_rate is None and not args.spec:
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


def comparison_line(evaluation, *, searched: bool = False) -> str:
    """How the network compares with its baselines, and what to try when gradient boosting
    does better (``searched``: the network is already a search's winner)."""
    outcome, sentence = evaluation.comparison()
    if outcome != BEHIND_STRONGEST:
        return sentence
    if searched:
        return sentence + " Search longer, or use gradient boosting."
    return sentence + " Try `python -m layerlab search`, or use gradient boosting."


@contextlib.contextmanager
def writing(what: str, where: str | Path, fix: str) -> Iterator[None]:
    """A write that fails (a missing folder, no permission, a full disk) as a plain message."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error).rstrip(".")  # the system's words, or pandas'
        raise LayerlabError(f"Cannot write {what} to '{where}': {reason}. {fix}") from None
