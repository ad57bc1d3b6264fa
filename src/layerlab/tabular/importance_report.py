"""Permutation importance as a person reads it: the table's columns and the sentence.

The worker measures importance (``importance.py``, which needs the trained network); the
app and the bundle read the table it kept and say what it means, without Keras.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerlab.schema.numbers import readable_number
from layerlab.schema.vocabulary import METRIC_WORDS, Task
from layerlab.tabular.writing import csv_bytes

SCORE_NAMES = {
    Task.REGRESSION: METRIC_WORDS["mae"],
    Task.BINARY: METRIC_WORDS["log_loss"],
    Task.MULTICLASS: METRIC_WORDS["log_loss"],
}
# ``rows``: the test rows the importance was judged on (missing in runs kept before it was).
COLUMNS = ["column", "importance", "spread", "score", "rows"]
# The sentence names this many columns; the rest are summed up in a few words.
SENTENCE_COLUMNS = 3
# Importance may take this share of the training's seconds, and never less than
# ``MIN_SECONDS`` (a run of a few seconds still gets its columns measured).
TIME_SHARE = 0.25
MIN_SECONDS = 2.0


def importance_csv(table: pd.DataFrame) -> bytes:
    """The importance table as UTF-8 CSV, for the bundle's ``importance.csv``."""
    # A table kept before ``rows`` existed goes without it; names like formulas are quoted.
    return csv_bytes(table[[name for name in COLUMNS if name in table]])


def importance_sentence(table: pd.DataFrame) -> str:
    """One sentence for people: the columns whose shuffling hurts the test score most, on how
    many test rows, and how many columns were not measured in the time allowed."""
    if table.empty:
        return "There is no feature column to judge."
    measured = table[table["importance"].notna()]
    unmeasured = len(table) - len(measured)
    rows = table["rows"].iloc[0] if "rows" in table else np.nan
    judged = f" on {int(rows):,} test rows" if pd.notna(rows) else ""
    if measured.empty:
        return (
            f"No column was measured{judged}: shuffling them took longer than the "
            f"{TIME_SHARE:.0%} of the training time that importance may take."
        )
    sentence = _ranking(measured)
    if unmeasured:
        sentence += (
            f" Measured{judged} for the {len(measured):,} columns likeliest to matter; the "
            f"other {unmeasured:,} were not measured within the {TIME_SHARE:.0%} of the "
            "training time that importance may take."
        )
    elif judged:
        sentence += f" Measured{judged}."
    return sentence


def _ranking(table: pd.DataFrame) -> str:
    score = table["score"].iloc[0]
    if not table["importance"].iloc[0] > 0:
        return (
            f"Shuffling no single column makes the test {score} worse: "
            "the model does not lean on any one of them."
        )
    parts = []
    for position, row in enumerate(table.head(SENTENCE_COLUMNS).itertuples(index=False)):
        importance, spread = readable_number(row.importance), readable_number(row.spread)
        verb = f" makes the test {score} worse" if position == 0 else ""
        if row.importance > 0:
            parts.append(f"{row.column}{verb} by {importance} (± {spread})")
        else:
            parts.append(f"{row.column} not at all ({importance} ± {spread})")
    sentence = "Shuffling " + ", ".join(parts)
    rest = len(table) - len(parts)
    if rest == 1:
        sentence += "; the other column matters less"
    elif rest > 1:
        sentence += f"; the other {rest} columns matter less"
    return sentence + "."
