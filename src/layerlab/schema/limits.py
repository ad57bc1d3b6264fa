"""What each setting may be: numeric limits and lists of choices, written once.

``ModelSpec.validate()`` checks values against these records and the widgets
take their ``min_value``, ``max_value`` and ``step`` from the same records, so
a value the form offers is one the spec accepts (a test checks every bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limit:
    """The values one numeric setting may take, and the step its widget moves by.

    ``whole`` settings take integers only. With ``low_inclusive`` false, ``low``
    itself is refused; the widget still starts there (a number input has no open
    bound), and ``validate()`` says why the value is refused.
    """

    low: float
    high: float
    step: float
    whole: bool = False
    low_inclusive: bool = True

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.whole and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above_low = self.low <= value if self.low_inclusive else self.low < value
        return above_low and value <= self.high

    def describe(self) -> str:
        """What is allowed, as a message ends it: ``a whole number from 1 to 4096``."""
        if self.whole:
            return f"a whole number from {self.low} to {self.high}"
        if not self.low_inclusive:
            return f"> {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"


def check_limit(
    field: str, value: Any, limit: Limit, *, meaning: str = "", hint: str = ""
) -> list[str]:
    """One message template for every numeric setting: the field, what is allowed, what it got."""
    if limit.allows(value):
        return []
    return [f"The {field} must be {limit.describe()}{meaning}; got {value!r}.{hint}"]


# Network.
UNITS = Limit(1, 4096, 1, whole=True)
LAYERS = Limit(0, 32, 1, whole=True)
# Keras allows any rate below 1; above 0.95 nearly every unit is dropped, which is a slip.
DROPOUT_RATE = Limit(0.0, 0.95, 0.05)
L2 = Limit(0.0, 1.0, 0.0001)

# Training. A learning rate of 0 learns nothing; the cap of 10 catches a slipped decimal point.
LEARNING_RATE = Limit(0.0, 10.0, 0.0001, low_inclusive=False)
MOMENTUM = Limit(0.0, 0.999, 0.05)
# Adam's (and AdamW's, Nadam's) decay of its running mean of squared gradients.
BETA_2 = Limit(0.5, 0.9999, 0.001)
# Decoupled weight decay, as Keras applies it: each step shrinks weights by rate x decay.
WEIGHT_DECAY = Limit(0.0, 1.0, 0.001)
# Networks averaged in one model: each trains on every row from its own starting weights.
ENSEMBLE = Limit(1, 16, 1, whole=True)
# A share of each class label spread over all classes; past one half it drowns the label.
LABEL_SMOOTHING = Limit(0.0, 0.5, 0.01)
# What the learning rate is multiplied by when the validation loss stalls (1: kept as it is).
LR_PLATEAU_FACTOR = Limit(0.0, 1.0, 0.05, low_inclusive=False)
BATCH_SIZE = Limit(1, 65_536, 1, whole=True)
EPOCHS = Limit(1, 10_000, 10, whole=True)
PATIENCE = Limit(0, EPOCHS.high, 1, whole=True)
SEED = Limit(0, 2**31 - 1, 1, whole=True)

# Splits: each at least 5% so its metrics mean something, together leaving
# at least MIN_TRAINING_SHARE of the rows to learn from.
VALIDATION_SPLIT = Limit(0.05, 0.5, 0.05)
TEST_SPLIT = Limit(0.05, 0.5, 0.05)
MIN_TRAINING_SHARE = 0.2

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "tanh",
    "sigmoid",
    "linear",
)
# Activations a hidden layer once accepted, with why they are refused now (a spec file that
# used one still loads; validation names the layer and the way out).
RETIRED_ACTIVATIONS = {
    "softmax": (
        "softmax makes a hidden layer's outputs add up to 1, which usually stops it from "
        "learning; use relu (the output layer gets its softmax from the task)"
    ),
}
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad", "adamw", "nadam")
# "balanced" weighs each training row by n_rows / (n_classes * rows of its class), scikit-learn's
# formula, so every class counts the same in the loss.
CLASS_WEIGHTS = ("none", "balanced")
# How numeric columns are put on a common scale inside the model.
SCALINGS = ("standard", "robust")
# An extra encoding of each numeric column: piecewise-linear over quantile bins.
NUMERIC_EMBEDDINGS = ("none", "piecewise")
# How the learning rate moves over the planned epochs.
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
