"""The seeded train / validation / test split of a table, the same in every process.

Plain pandas and scikit-learn: the trainer splits with it, and the app splits again to show
a run's rows (the split is seeded, so both get the same rows) without importing Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import Task
from layerlab.tabular.values import as_category_text


@dataclass(frozen=True)
class Splits:
    """The three disjoint parts of the table: fit on train, tune on validation, report on test."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split_frame(frame: pd.DataFrame, spec: ModelSpec) -> Splits:
    """Seeded train/validation/test split, stratified by class for classification.

    Stratification is skipped when a class is too small for it; the split is
    then random but still seeded.
    """
    # Here: scikit-learn takes about 1 s to import, and the server imports this module at start-up.
    from sklearn.model_selection import train_test_split

    def split(part: pd.DataFrame, fraction: float, seed: int):
        stratify = None
        if spec.task != Task.REGRESSION:
            labels = as_category_text(part[spec.target])
            if pd.Series(labels).value_counts().min() >= 2:
                stratify = labels
        try:
            return train_test_split(part, test_size=fraction, random_state=seed, stratify=stratify)
        except ValueError:
            return train_test_split(part, test_size=fraction, random_state=seed)

    rest, test = split(frame, spec.test_split, spec.seed)
    train, validation = split(rest, spec.validation_split / (1 - spec.test_split), spec.seed + 1)
    return Splits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
    )
