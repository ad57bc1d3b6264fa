"""What a search is asked to do: its budget, and the rows and spec each trial trains on.

The lessons Layerlab is built on say how to tune a network: search the settings
that are not learned, at random rather than on a grid, with few epochs and a
sample of the rows per trial; then train the winner on all the data. These are
those choices as plain values, checked in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from layerlab.schema import limits
from layerlab.schema.errors import SpecError
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import Task
from layerlab.tabular.task import drop_missing_target
from layerlab.tabular.values import as_category_text

# Each trial sees at least this many rows (all of a smaller table), so that its
# validation split (a fifth of them by default) is large enough to rank trials by.
MIN_SEARCH_ROWS = 500
SAMPLERS = ("random", "tpe")


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs: its budget and what each trial trains on.

    ``trials`` and ``minutes`` are the budget (either or both; with neither, 12
    trials). Each trial trains on a seeded ``sample`` share of the rows (never
    fewer than ``MIN_SEARCH_ROWS``) for at most ``epochs`` epochs, with early
    stopping after ``patience`` epochs without improvement: the lessons' few
    epochs on part of the data. ``seed`` seeds the row sample and the sampler;
    each trial's network keeps the seed of the spec the search starts from, so
    every trial is scored on the same validation rows.
    """

    trials: int | None = None
    minutes: float | None = None
    sample: float = 0.3
    epochs: int = 30
    patience: int = 5
    seed: int = 0
    sampler: str = "random"

    def __post_init__(self) -> None:
        if self.trials is None and self.minutes is None:
            object.__setattr__(self, "trials", 12)

    def validate(self) -> SearchSettings:
        problems = []
        if self.trials is not None and not _whole(self.trials, 1):
            problems.append(f"The 'trials' must be a whole number, 1 or more; got {self.trials!r}.")
        if self.minutes is not None and not (_number(self.minutes) and self.minutes > 0):
            problems.append(f"The 'minutes' must be a number above 0; got {self.minutes!r}.")
        if not (_number(self.sample) and 0 < self.sample <= 1):
            problems.append(
                "The 'sample' (the share of rows each trial trains on) must be above 0 and at "
                f"most 1; got {self.sample!r}."
            )
        for name, limit in (("epochs", limits.EPOCHS), ("patience", limits.PATIENCE)):
            if not limit.allows(getattr(self, name)):
                problems.append(
                    f"The '{name}' must be {limit.describe()}; got {getattr(self, name)!r}."
                )
        if not limits.SEED.allows(self.seed):
            problems.append(f"The 'seed' must be {limits.SEED.describe()}; got {self.seed!r}.")
        if self.sampler not in SAMPLERS:
            problems.append(
                f"The 'sampler' must be one of {', '.join(SAMPLERS)}; got {self.sampler!r}."
            )
        if problems:
            raise SpecError(problems, settings="search settings")
        return self


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def search_rows(frame: pd.DataFrame, spec: ModelSpec, share: float, seed: int) -> pd.DataFrame:
    """The rows every trial trains on: a seeded ``share`` of those with a target, stratified by
    class where each class has two rows or more, and never fewer than ``MIN_SEARCH_ROWS``."""
    from sklearn.model_selection import train_test_split  # seconds to import: only when used

    rows = drop_missing_target(frame, spec.target)
    wanted = max(math.ceil(share * len(rows)), MIN_SEARCH_ROWS)
    if wanted >= len(rows):
        return rows
    stratify = None
    if spec.task != Task.REGRESSION:
        labels = pd.Series(as_category_text(rows[spec.target]))
        if labels.value_counts().min() >= 2:
            stratify = labels
    try:
        sample, _ = train_test_split(rows, train_size=wanted, random_state=seed, stratify=stratify)
    except ValueError:  # too few rows of some class for a stratified draw of this size
        sample = rows.sample(n=wanted, random_state=seed)
    return sample.reset_index(drop=True)


# What a trial sets for itself (short and plain), and the winner takes back from the base spec.
TRIAL_OWN_FIELDS = ("epochs", "patience", "ensemble", "refit")


def trial_spec(base_spec: ModelSpec, settings: SearchSettings) -> ModelSpec:
    """The spec a trial starts from: the base spec with the search's epochs and patience, one
    network and no refit. A trial is judged on its validation rows and should be quick; the
    winner trains with the base spec's ensemble and refit."""
    own = dict(zip(TRIAL_OWN_FIELDS, (settings.epochs, settings.patience, 1, False), strict=True))
    return base_spec.replace(**own)


def full_training_spec(spec: ModelSpec, base_spec: ModelSpec) -> ModelSpec:
    """A trial's spec made ready to train on all the data: the base spec's epochs, patience,
    ensemble and refit."""
    return spec.replace(**{name: getattr(base_spec, name) for name in TRIAL_OWN_FIELDS})
