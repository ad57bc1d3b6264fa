"""What a run's learning curves say, in plain sentences, each with one next step.

``diagnose`` reads the history a ``TrainingRun`` records (one dict per closed epoch:
``epoch``, ``loss``, ``val_loss`` and the main metric) and returns what it finds, most
important first. It is cheap and safe on a partial history, so the app can call it
after every epoch: below ``MIN_EPOCHS`` it reports only what is certain (a loss that
became NaN or infinite, a run that diverged or stopped early).

Each finding carries ``action_label``, the text of a button; ``apply_action`` turns
that label into a validated copy of the spec with the change made.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from layerlab.schema import limits
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import USUAL_LEARNING_RATE_RANGES, LayerSpec, ModelSpec

__all__ = [
    "ACTIONS",
    "KINDS",
    "MIN_EPOCHS",
    "Diagnosis",
    "apply_action",
    "diagnose",
]

KINDS = (
    "learning_rate_too_high",
    "plateau",
    "underfitting",
    "overfitting",
    "learning_rate_too_low",
    "early_stopping",
)

# Fewer closed epochs than this and a trend is indistinguishable from the first steps' noise.
MIN_EPOCHS = 5

# Overfitting: validation loss this many epochs past its best, risen by more than both margins.
OVERFIT_EPOCHS_PAST_BEST = 3
OVERFIT_RELATIVE_RISE = 0.05
OVERFIT_NOISE_RISE = 2.5
# Underfitting and plateau: the best validation loss is not 10% below the naive answer's,
# and the training loss not 20% below it.
POOR_VALIDATION_RATIO = 0.9
POOR_TRAINING_RATIO = 0.8
# A curve still falling by 1% an epoch is still learning: too early to call it poor.
STILL_LEARNING_FALL = 0.01
# Plateau: both losses within 3% of their first epoch's.
PLATEAU_BAND = 0.03
# Divergence: the training loss 10 times its lowest so far.
EXPLOSION_FACTOR = 10
# Spikes: a rise of half the lowest training loss so far (and 1% of the first epoch's).
SPIKE_RISE = 0.5
# Oscillation, over the last OSCILLATION_WINDOW epochs: at least half the steps turn
# around, and the typical step is 5% of the loss.
OSCILLATION_WINDOW = 12
OSCILLATION_TURNS = 0.5
OSCILLATION_STEP = 0.05
# Learning rate too low: falling on 80% of the epochs, still 0.1% an epoch at the end, and
# the second half fell at least half as much as the first (a line, not a decay curve). SGD
# at a learning rate of 0.0001 on the churn table falls 0.2% an epoch, in a line.
STEADY_SHARE = 0.8
STILL_FALLING = 0.001
LINEAR_RATIO = 0.5

SUGGESTED_DROPOUT = 0.2
DROPOUT_STEP = 0.1
MAX_SUGGESTED_DROPOUT = 0.5

ADD_DROPOUT = "Add dropout 0.2"
RAISE_DROPOUT = "Raise dropout by 0.1"
NARROWER = "Make it narrower"
WIDER = "Make it wider"
DEEPER = "Make it deeper"
HALVE_LEARNING_RATE = "Halve the learning rate"
DIVIDE_LEARNING_RATE = "Divide the learning rate by 10"
DOUBLE_LEARNING_RATE = "Double the learning rate"
MULTIPLY_LEARNING_RATE = "Multiply the learning rate by 10"
EASE_REGULARISATION = "Ease the regularisation"

# Regularisation this strong can hold a network back by itself: an L2 factor of 0.01 or more
# on a Dense layer's weights, or a Dropout rate of one half or more.
STRONG_L2 = 0.01
STRONG_DROPOUT = 0.5


@dataclass(frozen=True)
class Diagnosis:
    """One finding: its ``kind`` (a key of ``KINDS``), one sentence for a person, the label of
    the button that tries the fix (None: nothing to do), and the epoch it began (if known)."""

    kind: str
    sentence: str
    action_label: str | None
    began_epoch: int | None = None


def diagnose(
    history: Sequence[dict[str, float]],
    *,
    naive_val_loss: float | None = None,
    stop_reason: str | None = None,
    planned_epochs: int | None = None,
    patience: int | None = None,
    spec: ModelSpec | None = None,
) -> list[Diagnosis]:
    """What the learning curves say, most important first; ``[]`` when nothing stands out.

    ``naive_val_loss`` is the validation loss of the guess that ignores every column
    (``NaiveLosses.validation``): without it, nothing is called poor. ``stop_reason`` is a
    key of ``STOP_REASONS`` (None while training runs). ``spec``, when given, picks the
    fitting action (dropout only if there is none yet) and fills ``planned_epochs`` and
    ``patience``. A diverged run gets only its divergence: advice on its other traits
    would be noise.
    """
    if spec is not None:
        planned_epochs = spec.epochs if planned_epochs is None else planned_epochs
        patience = spec.patience if patience is None else patience
    epochs = [int(row.get("epoch", index)) for index, row in enumerate(history, start=1)]
    train = np.array([row.get("loss", math.nan) for row in history], dtype="float64")
    val = np.array([row.get("val_loss", math.nan) for row in history], dtype="float64")
    naive = naive_val_loss if _positive(naive_val_loss) else None

    with np.errstate(all="ignore"):  # huge losses overflow in differences; the rules still hold
        diverged = _divergence(epochs, train, val, stop_reason)
        if diverged is not None:
            return [_titled(diverged)]
        found: list[Diagnosis | None] = []
        if len(history) >= MIN_EPOCHS:
            plateau = _plateau(epochs, train, val, naive, spec)
            found += [
                _unstable(epochs, train),
                plateau,
                None if plateau else _underfitting(train, val, naive, spec),
                _overfitting(epochs, train, val, spec),
                _too_slow(train, val, naive, stop_reason, planned_epochs, spec),
            ]
        found.append(_early_stop(epochs, val, stop_reason, patience, spec))
    return [_titled(item) for item in found if item is not None]


# Each sentence starts with the lesson's name for what it found, so the word is met where
# it applies.
TITLES = {
    "learning_rate_too_high": "Learning rate too high",
    "plateau": "Plateau",
    "underfitting": "Underfitting",
    "overfitting": "Overfitting",
    "learning_rate_too_low": "Learning rate too low",
    "early_stopping": "Early stopping",
}


def _titled(finding: Diagnosis) -> Diagnosis:
    sentence = finding.sentence
    return dataclasses.replace(
        finding, sentence=f"{TITLES[finding.kind]}: {sentence[:1].lower()}{sentence[1:]}"
    )


# ------------------------------------------------------------------- the kinds
def _divergence(
    epochs: list[int], train: np.ndarray, val: np.ndarray, stop_reason: str | None
) -> Diagnosis | None:
    """A NaN or infinite loss, a run the guard stopped, or a loss 10 times its lowest."""
    label = DIVIDE_LEARNING_RATE
    bad = ~(np.isfinite(train) & np.isfinite(val))
    if bad.any():
        epoch = epochs[int(np.argmax(bad))]
        return Diagnosis(
            "learning_rate_too_high",
            f"The loss stopped being a number at epoch {epoch}, which means the learning rate "
            "is far too high: the steps overshoot until the numbers overflow.",
            label,
            epoch,
        )
    if stop_reason == "diverged":
        epoch = (epochs[-1] + 1) if epochs else 1
        return Diagnosis(
            "learning_rate_too_high",
            f"The loss blew up in epoch {epoch}, so training stopped: the learning rate is "
            "far too high and each step overshoots the answer.",
            label,
            epoch,
        )
    if len(train) >= 3:
        lowest = np.minimum.accumulate(train)
        if train[-1] > EXPLOSION_FACTOR * max(lowest[-1], 0) and train[-1] > train[0]:
            exploded = train > EXPLOSION_FACTOR * np.maximum(lowest, 0)
            began = epochs[int(np.argmax(exploded))]
            return Diagnosis(
                "learning_rate_too_high",
                f"The training loss exploded from {_number(lowest[-1])} to "
                f"{_number(train[-1])} from epoch {began} on: the learning rate is far too "
                "high.",
                label,
                began,
            )
    return None


def _unstable(epochs: list[int], train: np.ndarray) -> Diagnosis | None:
    """Spikes or a zigzag in the training loss, which averages over a whole epoch and so
    moves smoothly when the steps are small enough. Validation loss is left out: a small
    validation set is noisy whatever the learning rate."""
    steps = np.diff(train)
    lowest = np.minimum.accumulate(train)[:-1]
    spikes = (steps > SPIKE_RISE * np.abs(lowest)) & (steps > 0.01 * abs(train[0]))
    if spikes.any():
        at = int(np.argmax(spikes))
        return Diagnosis(
            "learning_rate_too_high",
            f"The training loss jumped from {_number(train[at])} to {_number(train[at + 1])} "
            f"at epoch {epochs[at + 1]}, a sign that the learning rate is too high.",
            HALVE_LEARNING_RATE,
            epochs[at + 1],
        )
    window = steps[-(OSCILLATION_WINDOW - 1) :]
    signs = np.sign(window[window != 0])
    if len(signs) < MIN_EPOCHS - 1:
        return None
    turns = np.count_nonzero(signs[1:] != signs[:-1]) / (len(signs) - 1)
    level = float(np.median(np.abs(train[-OSCILLATION_WINDOW:])))
    typical_step = float(np.median(np.abs(window)))
    if turns >= OSCILLATION_TURNS and typical_step >= OSCILLATION_STEP * level > 0:
        began = epochs[-len(window) - 1]
        return Diagnosis(
            "learning_rate_too_high",
            f"The training loss zigzags up and down by about {_number(typical_step)} an epoch "
            f"instead of settling, a sign that the learning rate is too high.",
            HALVE_LEARNING_RATE,
            began,
        )
    return None


def _plateau(
    epochs: list[int],
    train: np.ndarray,
    val: np.ndarray,
    naive: float | None,
    spec: ModelSpec | None,
) -> Diagnosis | None:
    """Both losses still where epoch 1 left them, and no better than the naive guess.

    A run that converged moved a long way first; a plateau never moved. Without the
    naive loss a flat, good curve cannot be told from a flat, poor one, so nothing is said.
    """
    if naive is None or np.min(val) < POOR_VALIDATION_RATIO * naive:
        return None
    if not (_within_band(train) and _within_band(val)):
        return None
    label = _raising_label(spec)
    if spec is not None and spec.learning_rate >= _usual_high(spec):
        label = HALVE_LEARNING_RATE
    return Diagnosis(
        "plateau",
        f"Both losses have stayed flat since epoch {epochs[0]}, near the "
        f"{_number(naive)} of a guess that ignores every column: the network is stuck, "
        "so change the learning rate (or check that the columns can predict the target).",
        label,
        epochs[0],
    )


def _underfitting(
    train: np.ndarray, val: np.ndarray, naive: float | None, spec: ModelSpec | None
) -> Diagnosis | None:
    """Both losses settled at a level the naive guess nearly reaches: too little capacity.

    A curve still falling fast is still learning, so it waits; so does one falling slowly
    in a straight line, whose trouble is a learning rate too low, not the network's size."""
    if naive is None:
        return None
    best_val, best_train = float(np.min(val)), float(np.min(train))
    if best_val < POOR_VALIDATION_RATIO * naive or best_train < POOR_TRAINING_RATIO * naive:
        return None
    if _recent_fall(train) >= STILL_LEARNING_FALL or _steady_decline(train):
        return None
    if best_val >= naive:
        comparison = "no better than"
    elif best_val > 0.99 * naive:
        comparison = "hardly better than"
    else:
        comparison = f"only {_percent(1 - best_val / naive)} better than"
    held_back = _strong_regularisation(spec)
    if held_back:
        reason, label = f"its regularisation ({held_back}) holds it back", EASE_REGULARISATION
    else:
        reason, label = "the network is probably too small to learn the pattern", None
    return Diagnosis(
        "underfitting",
        f"Both losses stayed poor: the best validation loss, {_number(best_val)}, is "
        f"{comparison} the {_number(naive)} of a guess that ignores every column, so "
        f"{reason}.",
        label or _capacity_label(spec),
        None,
    )


def _strong_regularisation(spec: ModelSpec | None) -> str:
    """The heavy regularisation in ``spec`` in words ("L2 1 and dropout 0.95"), or ""."""
    if spec is None:
        return ""
    l2 = max((layer.l2 or 0.0 for layer in spec.layers if layer.kind == "dense"), default=0.0)
    rate = max((layer.rate for layer in spec.layers if layer.kind == "dropout"), default=0.0)
    parts = []
    if l2 >= STRONG_L2:
        parts.append(f"L2 {readable_number(l2)}")
    if rate >= STRONG_DROPOUT:
        parts.append(f"dropout {readable_number(rate)}")
    return " and ".join(parts)


def _overfitting(
    epochs: list[int], train: np.ndarray, val: np.ndarray, spec: ModelSpec | None
) -> Diagnosis | None:
    """Validation loss rising since its best epoch while the training loss kept falling.

    Noise is the worry: one bad validation epoch is not a trend. So the validation loss is
    smoothed over 3 epochs, the best must be at least ``OVERFIT_EPOCHS_PAST_BEST`` epochs
    back, and the smoothed rise must beat both 5% of the best and 2.5 times the
    epoch-to-epoch noise, measured as the distance of each epoch from the mean of its two
    neighbours (which ignores a steady trend).
    """
    best = int(np.argmin(val))
    if len(val) - 1 - best < OVERFIT_EPOCHS_PAST_BEST:
        return None
    smooth = np.convolve(val, np.ones(3) / 3, mode="valid")
    rise = float(smooth[-1] - np.min(smooth))
    wobble = np.abs(val[1:-1] - (val[:-2] + val[2:]) / 2)
    noise = float(np.median(wobble)) * 1.2  # about the standard deviation of normal noise
    margin = max(OVERFIT_RELATIVE_RISE * abs(float(np.min(smooth))), OVERFIT_NOISE_RISE * noise)
    if rise <= margin or not np.mean(train[-3:]) < train[best]:
        return None
    began = epochs[best]
    return Diagnosis(
        "overfitting",
        f"The model began memorising the training rows after epoch {began}: since then the "
        f"validation loss rose from {_number(val[best])} to {_number(val[-1])} while the "
        f"training loss kept falling to {_number(train[-1])}.",
        _regularising_label(spec),
        began,
    )


def _too_slow(
    train: np.ndarray,
    val: np.ndarray,
    naive: float | None,
    stop_reason: str | None,
    planned_epochs: int | None,
    spec: ModelSpec | None,
) -> Diagnosis | None:
    """Still falling, slowly and in a straight line, when the planned epochs ran out.

    A good learning rate makes the loss fall fast first and then level off; a line means
    each step is too small. More epochs are mentioned only for a run already better than
    the naive guess: a run worse than it needs a change, not more of the same.
    """
    ran_out = stop_reason == "completed" or (
        stop_reason is None and planned_epochs is not None and len(train) >= planned_epochs
    )
    if not ran_out or not _steady_decline(train):
        return None
    if _recent_fall(val) <= 0 or int(np.argmin(val)) < len(val) - 3:
        return None
    sentence = (
        f"Both losses were still falling slowly and steadily when the {len(train)} epochs "
        "ran out, so the learning rate is probably too low"
    )
    if naive is None or float(val[-1]) < naive:
        sentence += "; a higher one (or more epochs) should reach a better model."
    else:
        sentence += "; a higher one should help."
    return Diagnosis("learning_rate_too_low", sentence, _raising_label(spec), None)


def _early_stop(
    epochs: list[int],
    val: np.ndarray,
    stop_reason: str | None,
    patience: int | None,
    spec: ModelSpec | None,
) -> Diagnosis | None:
    """Early stopping worked as meant: good news, so no button."""
    if stop_reason != "early_stopping":
        return None
    if not epochs:
        return Diagnosis(
            "early_stopping",
            "Training stopped early because the validation loss stopped improving.",
            None,
        )
    best = epochs[int(np.argmin(val))]
    waited = patience if patience else epochs[-1] - best
    kept = f"the weights of epoch {best}, its best, so the extra epochs cost nothing"
    if spec is not None and not spec.restore_best_weights:
        kept = f"its last weights (epoch {best} was its best)"
    return Diagnosis(
        "early_stopping",
        f"Training stopped early at epoch {epochs[-1]} because the validation loss had not "
        f"improved for {waited} epochs; the model keeps {kept}.",
        None,
        best,
    )


# ---------------------------------------------------------------- the actions
def apply_action(spec: ModelSpec, diagnosis: Diagnosis) -> ModelSpec:
    """A validated copy of ``spec`` with the diagnosis's next step done; ``spec`` is untouched.

    Raises ``ValueError`` for a diagnosis without an action (the app shows no button for
    it) and ``SpecError`` if the spec was invalid to begin with.
    """
    label = diagnosis.action_label
    if label not in ACTIONS:
        raise ValueError(
            f"The diagnosis {diagnosis.kind!r} has the action {label!r}; actions that change "
            f"a spec are: {', '.join(ACTIONS)}."
        )
    return ACTIONS[label](copy.deepcopy(spec)).validate()


def _add_dropout(spec: ModelSpec) -> ModelSpec:
    """A Dropout(0.2) after each Dense (after its batch norm, if any) that has none."""
    room = int(limits.LAYERS.high) - len(spec.layers)
    layers: list[LayerSpec] = []
    for index, layer in enumerate(spec.layers):
        layers.append(layer)
        after = spec.layers[index + 1] if index + 1 < len(spec.layers) else None
        ends_block = after is None or after.kind == "dense"
        if room > 0 and ends_block and _needs_dropout(spec.layers, index):
            layers.append(LayerSpec.dropout(SUGGESTED_DROPOUT))
            room -= 1
    return spec.replace(layers=layers)


def _needs_dropout(layers: list[LayerSpec], index: int) -> bool:
    """Whether the block of layers ending at ``index`` has a Dense and no Dropout."""
    for layer in reversed(layers[: index + 1]):
        if layer.kind == "dropout":
            return False
        if layer.kind == "dense":
            return True
    return False


def _raise_dropout(spec: ModelSpec) -> ModelSpec:
    def stronger(layer: LayerSpec) -> LayerSpec:
        if layer.kind != "dropout":
            return layer
        rate = min(round(layer.rate + DROPOUT_STEP, 2), max(layer.rate, MAX_SUGGESTED_DROPOUT))
        return LayerSpec.dropout(rate)

    return spec.replace(layers=[stronger(layer) for layer in spec.layers])


def _ease_regularisation(spec: ModelSpec) -> ModelSpec:
    """A tenth of each strong L2 factor and half of each strong Dropout rate; the rest stays."""

    def eased(layer: LayerSpec) -> LayerSpec:
        if layer.kind == "dense" and (layer.l2 or 0.0) >= STRONG_L2:
            return LayerSpec.dense(layer.units, layer.activation, layer.l2 / 10)
        if layer.kind == "dropout" and layer.rate >= STRONG_DROPOUT:
            return LayerSpec.dropout(round(layer.rate / 2, 2))
        return layer

    return spec.replace(layers=[eased(layer) for layer in spec.layers])


def _scale_units(factor: float) -> Callable[[ModelSpec], ModelSpec]:
    def scale(spec: ModelSpec) -> ModelSpec:
        def scaled(layer: LayerSpec) -> LayerSpec:
            if layer.kind != "dense":
                return layer
            units = min(max(int(layer.units * factor), 1), int(limits.UNITS.high))
            return LayerSpec.dense(units, layer.activation, layer.l2)

        return spec.replace(layers=[scaled(layer) for layer in spec.layers])

    return scale


def _deeper(spec: ModelSpec) -> ModelSpec:
    """One more ReLU layer as wide as the last Dense (32 units in a network without one)."""
    dense = [layer for layer in spec.layers if layer.kind == "dense"]
    units = dense[-1].units if dense else 32
    return spec.replace(layers=[*spec.layers, LayerSpec.dense(units, "relu")])


def _scale_learning_rate(factor: float) -> Callable[[ModelSpec], ModelSpec]:
    def scale(spec: ModelSpec) -> ModelSpec:
        rate = min(spec.learning_rate * factor, limits.LEARNING_RATE.high)
        if not limits.LEARNING_RATE.allows(rate):
            return spec
        return spec.replace(learning_rate=rate)

    return scale


ACTIONS: dict[str, Callable[[ModelSpec], ModelSpec]] = {
    ADD_DROPOUT: _add_dropout,
    RAISE_DROPOUT: _raise_dropout,
    NARROWER: _scale_units(0.5),
    WIDER: _scale_units(2),
    DEEPER: _deeper,
    HALVE_LEARNING_RATE: _scale_learning_rate(0.5),
    DIVIDE_LEARNING_RATE: _scale_learning_rate(0.1),
    DOUBLE_LEARNING_RATE: _scale_learning_rate(2),
    MULTIPLY_LEARNING_RATE: _scale_learning_rate(10),
    EASE_REGULARISATION: _ease_regularisation,
}


def _raising_label(spec: ModelSpec | None) -> str:
    """Ten times for a rate near the bottom of its optimizer's usual range (doubling 0.00001
    would take many runs to matter); double otherwise."""
    if spec is not None and spec.learning_rate <= 10 * _usual_low(spec):
        return MULTIPLY_LEARNING_RATE
    return DOUBLE_LEARNING_RATE


def _regularising_label(spec: ModelSpec | None) -> str | None:
    """Dropout first, since it costs no capacity; then more of it; then fewer units (None for
    a network without a Dense layer: nothing to regularise)."""
    if spec is None:
        return ADD_DROPOUT
    layers = spec.layers
    if not any(layer.kind == "dense" for layer in layers):
        return None
    if (
        len(layers) < limits.LAYERS.high
        and any(_needs_dropout(layers, i) for i in range(len(layers)))
        and not any(layer.kind == "dropout" for layer in layers)
    ):
        return ADD_DROPOUT
    if any(layer.kind == "dropout" and layer.rate < MAX_SUGGESTED_DROPOUT for layer in layers):
        return RAISE_DROPOUT
    return NARROWER


def _capacity_label(spec: ModelSpec | None) -> str | None:
    """Wider while there is room; deeper when there is no Dense to widen or all are at the cap."""
    if spec is None:
        return WIDER
    dense = [layer for layer in spec.layers if layer.kind == "dense"]
    if dense and any(layer.units < limits.UNITS.high for layer in dense):
        return WIDER
    return DEEPER if len(spec.layers) < limits.LAYERS.high else None


# ------------------------------------------------------------------- helpers
def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _within_band(series: np.ndarray) -> bool:
    scale = abs(float(series[0]))
    return scale > 0 and float(np.max(np.abs(series - series[0]))) <= PLATEAU_BAND * scale


def _steady_decline(train: np.ndarray) -> bool:
    """Falling on most epochs, still falling at the end, and about as fast in the second
    half as in the first: a line, where a good learning rate draws a curve that levels off."""
    if np.mean(np.diff(train) < 0) < STEADY_SHARE or _recent_fall(train) < STILL_FALLING:
        return False
    middle = len(train) // 2
    return bool(train[middle] - train[-1] >= LINEAR_RATIO * (train[0] - train[middle]))


def _recent_fall(series: np.ndarray) -> float:
    """How fast the curve falls now: the share of its level lost per epoch, over the last
    few epochs (negative when it rises)."""
    span = min(3, len(series) // 2)
    before, now = float(np.mean(series[-2 * span : -span])), float(np.mean(series[-span:]))
    level = max(abs(now), 1e-300)
    return (before - now) / (span * level)


def _usual_low(spec: ModelSpec) -> float:
    return USUAL_LEARNING_RATE_RANGES.get(spec.optimizer, (1e-5, 1e-2))[0]


def _usual_high(spec: ModelSpec) -> float:
    return USUAL_LEARNING_RATE_RANGES.get(spec.optimizer, (0, 1e-2))[1]


def _number(value: float) -> str:
    """A loss as a person reads it: 0.042, 1.37, 12,345; never scientific notation."""
    value = float(value)
    size = abs(value)
    sign = "-" if value < 0 else ""
    if size >= 1e9:
        return f"{sign}over a billion"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:.2f}"
    if size < 0.00001:
        return "0" if size == 0 else "almost 0"
    decimals = 1 - math.floor(math.log10(size))  # two significant digits
    return f"{value:.{decimals}f}"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 else "less than 1%"
