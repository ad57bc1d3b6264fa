"""What a run's learning curves say, in plain sentences, each with one next step.

``diagnose`` reads the history a ``TrainingRun`` records (one dict per closed epoch:
``epoch``, ``loss``, ``val_loss`` and the main metric) and returns what it finds, most
important first. It is cheap and safe on a partial history, so the app can call it
after every epoch: below ``MIN_EPOCHS`` it reports only what is certain (a loss that
became NaN or infinite, a run that diverged or stopped early).

Every rule weighs what it sees against how much the curve moves by chance (``_noise``: the
curve's own epoch-to-epoch wobble, robust to a few real jumps) and against the progress the
run made, and a run whose validation score sits at its ceiling (``_near_perfect``) gets no
advice: at 100% accuracy no change can show it helped, and following advice drawn from the
wobble of a loss near 0 only makes a perfect model worse. Calibrated on real runs labelled
by hand (``tests/unit/data/diagnosis_runs.json``).

Each finding carries its ``action``, a ``FixAction`` (``fixes.py`` chooses the one that fits
the spec, names it for the button and makes it); ``apply_action`` turns a finding into a
validated copy of the spec with the change made.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from layerlab.report.fixes import (
    FIX_LABELS,
    STRONG_DROPOUT,
    STRONG_L2,
    apply_fix,
    capacity_fix,
    raising_fix,
    regularising_fix,
    usual_learning_rates,
)
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import (
    DiagnosisKind,
    FixAction,
    LayerKind,
    StopReason,
    member_or_value,
)

__all__ = [
    "KINDS",
    "MIN_EPOCHS",
    "Diagnosis",
    "apply_action",
    "diagnose",
]

KINDS = tuple(DiagnosisKind)

# Fewer closed epochs than this and a trend is indistinguishable from the first steps' noise.
MIN_EPOCHS = 5

# Overfitting: validation loss this many epochs past its best, risen by more than both margins.
OVERFIT_EPOCHS_PAST_BEST = 3
OVERFIT_RELATIVE_RISE = 0.05
OVERFIT_NOISE_RISE = 2.5
# ... while the training loss fell by a quarter since that best epoch: a learning rate too high
# throws the validation loss about while the training loss barely moves (Adam at 0.1 on the
# churn table: 0.45 to 0.39 in the 19 epochs its validation loss "rose"; a network that
# memorises, 0.44 to 0.29 in six).
OVERFIT_TRAIN_FALL = 0.25
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
# What moves by chance: a change must beat this many times the curve's own epoch-to-epoch
# noise (``_noise``) to count.
NOISE_FACTOR = 3.0
# A score at its ceiling leaves nothing to advise (``_near_perfect``): validation accuracy of
# 99.5% or more; or 95% with a log loss under a quarter of the naive guess's (so not a
# majority class on a lopsided table); or a log loss under 15% of the naive guess's (at most
# a few validation rows wrong: penguins at 100% accuracy had almost 0); or a regression's
# mean squared error under 2% of the naive guess's (98% of the variance explained).
CEILING_ACCURACY = 0.995
HIGH_ACCURACY = 0.95
HIGH_ACCURACY_LOSS = 0.25
CEILING_CLASSIFICATION_LOSS = 0.15
CEILING_REGRESSION_LOSS = 0.02
# Training-loss trouble is measured against the progress the run made (its first epoch's
# loss less its lowest; its level if larger), not against the level alone: near 0 every
# wobble is a large share of the level. A jump of a quarter of that progress (and of half
# the lowest loss so far) ...
SPIKE_SHARE = 0.25
SPIKE_RISE = 0.5
# ... giving a fifth of it back at the end ...
GIVE_BACK_SHARE = 0.2
GIVE_BACK_WINDOW = 5
# ... or a zigzag over the last OSCILLATION_WINDOW epochs (at least 9 steps): at least half
# the steps turn around, the typical step is 5% of the progress (or level), and the later
# half of the window is not a typical step below the earlier (a noisy fall is settling).
OSCILLATION_WINDOW = 12
OSCILLATION_TURNS = 0.5
OSCILLATION_STEP = 0.05
# Learning rate too low: falling on 80% of the epochs, still 0.01% an epoch at the end
# (slower, it would take over a thousand epochs to move 10%: a plateau), the fall beyond the
# noise, and the second half fell at least half as much as the first (a line, not a decay
# curve). SGD at 0.00001 on the churn table falls 0.04% an epoch, in a line; at 0.0000001,
# 0.0004%.
STEADY_SHARE = 0.8
STILL_FALLING = 0.0001
LINEAR_RATIO = 0.5


@dataclass(frozen=True)
class Diagnosis:
    """One finding: its ``kind``, one sentence for a person, the fix to try (None: nothing to
    do), and the epoch it began (if known)."""

    kind: DiagnosisKind
    sentence: str
    action: FixAction | None
    began_epoch: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", member_or_value(DiagnosisKind, self.kind))
        object.__setattr__(self, "action", member_or_value(FixAction, self.action))

    def to_dict(self) -> dict[str, str | None]:
        """Plain values for metrics.json: ``kind``, ``sentence`` and ``action`` (None: no fix)."""
        return {
            "kind": str(self.kind),
            "sentence": self.sentence,
            "action": None if self.action is None else str(self.action),
        }

    @property
    def action_label(self) -> str | None:
        """The words of the fix's button (None: no button)."""
        return FIX_LABELS.get(self.action) if self.action is not None else None


def apply_action(spec: ModelSpec, diagnosis: Diagnosis) -> ModelSpec:
    """A validated copy of ``spec`` with the diagnosis's fix made; ``spec`` is untouched.

    Raises ``ValueError`` for a diagnosis without a fix (the app shows no button for it)
    and ``SpecError`` if the spec was invalid to begin with.
    """
    if diagnosis.action is None:
        raise ValueError(
            f"The diagnosis '{diagnosis.kind}' suggests no fix; fixes that change a spec are: "
            f"{', '.join(FixAction)}."
        )
    return apply_fix(spec, diagnosis.action)


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
    ``StopReason`` (None while training runs). ``spec``, when given, picks the
    fitting action (dropout only if there is none yet) and fills ``planned_epochs`` and
    ``patience``. A diverged run gets only its divergence: advice on its other traits
    would be noise. A run whose validation score sits at its ceiling gets no advice at all
    (a better run cannot exist to agree with it), and every rule asks its change to stand
    out of the curve's own epoch-to-epoch noise.
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
        if len(history) >= MIN_EPOCHS and not _near_perfect(history, val, naive):
            unstable = _unstable(epochs, train)
            too_slow = _too_slow(train, val, naive, stop_reason, planned_epochs, spec)
            plateau = None if too_slow else _plateau(epochs, train, val, naive, spec)
            found += [
                unstable,
                plateau,
                None if plateau or too_slow else _underfitting(train, val, naive, spec),
                # A loss thrown about by too large steps rises on validation too: not memorising.
                None if unstable else _overfitting(epochs, train, val, spec),
                too_slow,
            ]
        found.append(_early_stop(epochs, val, stop_reason, patience, spec))
    return [_titled(item) for item in found if item is not None]


# Each sentence starts with the lesson's name for what it found, so the word is met where
# it applies.
TITLES = {
    DiagnosisKind.LEARNING_RATE_TOO_HIGH: "Learning rate too high",
    DiagnosisKind.PLATEAU: "Plateau",
    DiagnosisKind.UNDERFITTING: "Underfitting",
    DiagnosisKind.OVERFITTING: "Overfitting",
    DiagnosisKind.LEARNING_RATE_TOO_LOW: "Learning rate too low",
    DiagnosisKind.EARLY_STOPPING: "Early stopping",
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
    action = FixAction.DIVIDE_LEARNING_RATE
    bad = ~(np.isfinite(train) & np.isfinite(val))
    if bad.any():
        epoch = epochs[int(np.argmax(bad))]
        return Diagnosis(
            DiagnosisKind.LEARNING_RATE_TOO_HIGH,
            f"The loss stopped being a number at epoch {epoch}, which means the learning rate "
            "is far too high: the steps overshoot until the numbers overflow.",
            action,
            epoch,
        )
    if stop_reason == StopReason.DIVERGED:
        epoch = (epochs[-1] + 1) if epochs else 1
        return Diagnosis(
            DiagnosisKind.LEARNING_RATE_TOO_HIGH,
            f"The loss blew up in epoch {epoch}, so training stopped: the learning rate is "
            "far too high and each step overshoots the answer.",
            action,
            epoch,
        )
    if len(train) >= 3:
        lowest = np.minimum.accumulate(train)
        if train[-1] > EXPLOSION_FACTOR * max(lowest[-1], 0) and train[-1] > train[0]:
            exploded = train > EXPLOSION_FACTOR * np.maximum(lowest, 0)
            began = epochs[int(np.argmax(exploded))]
            return Diagnosis(
                DiagnosisKind.LEARNING_RATE_TOO_HIGH,
                f"The training loss exploded from {_number(lowest[-1])} to "
                f"{_number(train[-1])} from epoch {began} on: the learning rate is far too "
                "high.",
                action,
                began,
            )
    return None


def _unstable(epochs: list[int], train: np.ndarray) -> Diagnosis | None:
    """Spikes, a zigzag, or progress given back in the training loss, which averages over a
    whole epoch and so moves smoothly when the steps are small enough. Validation loss is
    left out: a small validation set is noisy whatever the learning rate.

    Each is measured against the progress the run made (or, for a curve that never moved,
    its level) and against the curve's own noise, so a loss wobbling near 0 (0.0055 to 0.015
    after falling from 1) is not a jump.
    """
    progress = float(train[0] - np.min(train))
    noise = _noise(train)
    # A curve that never moved is measured against its level, as in a plateau.
    scale = max(progress, float(np.median(np.abs(train[-OSCILLATION_WINDOW:]))))
    steps = np.diff(train)
    lowest = np.minimum.accumulate(train)[:-1]
    spikes = (
        (steps > SPIKE_RISE * np.abs(lowest))
        & (steps > SPIKE_SHARE * scale)
        & (steps > NOISE_FACTOR * noise)
    )
    if spikes.any():
        at = int(np.argmax(spikes))
        return Diagnosis(
            DiagnosisKind.LEARNING_RATE_TOO_HIGH,
            f"The training loss jumped from {_number(train[at])} to {_number(train[at + 1])} "
            f"at epoch {epochs[at + 1]}, a sign that the learning rate is too high.",
            FixAction.HALVE_LEARNING_RATE,
            epochs[at + 1],
        )
    best = int(np.argmin(train))
    late = float(np.median(train[-GIVE_BACK_WINDOW:]))
    given_back = late - float(train[best])
    if (
        best < len(train) - GIVE_BACK_WINDOW
        and progress > NOISE_FACTOR * noise
        and given_back > GIVE_BACK_SHARE * progress
        and given_back > NOISE_FACTOR * noise
    ):
        return Diagnosis(
            DiagnosisKind.LEARNING_RATE_TOO_HIGH,
            f"The training loss fell to {_number(train[best])} at epoch {epochs[best]}, then "
            f"climbed back to about {_number(late)}: the steps are too large to settle, a sign "
            "that the learning rate is too high.",
            FixAction.HALVE_LEARNING_RATE,
            epochs[best],
        )
    window = steps[-(OSCILLATION_WINDOW - 1) :]
    signs = np.sign(window[window != 0])
    if len(signs) < OSCILLATION_WINDOW - 3:  # four steps turn half the time by chance
        return None
    turns = np.count_nonzero(signs[1:] != signs[:-1]) / (len(signs) - 1)
    typical_step = float(np.median(np.abs(window)))
    recent = train[-OSCILLATION_WINDOW:]
    half = len(recent) // 2
    settling = np.mean(recent[half:]) < np.mean(recent[:half]) - typical_step
    if turns >= OSCILLATION_TURNS and typical_step >= OSCILLATION_STEP * scale > 0 and not settling:
        began = epochs[-len(window) - 1]
        return Diagnosis(
            DiagnosisKind.LEARNING_RATE_TOO_HIGH,
            f"The training loss zigzags up and down by about {_number(typical_step)} an epoch "
            f"instead of settling, a sign that the learning rate is too high.",
            FixAction.HALVE_LEARNING_RATE,
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
    if not (_within_band(train) and _within_band(val)) or _steady_decline(train):
        return None
    action = raising_fix(spec)
    if spec is not None and spec.learning_rate >= usual_learning_rates(spec)[1]:
        action = FixAction.HALVE_LEARNING_RATE
    return Diagnosis(
        DiagnosisKind.PLATEAU,
        f"Both losses have stayed flat since epoch {epochs[0]}, near the "
        f"{_number(naive)} of a guess that ignores every column: the network is stuck, "
        "so change the learning rate (or check that the columns can predict the target).",
        action,
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
        reason = f"its regularisation ({held_back}) holds it back"
        action = FixAction.EASE_REGULARISATION
    else:
        reason = "the network is probably too small to learn the pattern"
        action = capacity_fix(spec)
    return Diagnosis(
        DiagnosisKind.UNDERFITTING,
        f"Both losses stayed poor: the best validation loss, {_number(best_val)}, is "
        f"{comparison} the {_number(naive)} of a guess that ignores every column, so "
        f"{reason}.",
        action,
        None,
    )


def _strong_regularisation(spec: ModelSpec | None) -> str:
    """The heavy regularisation in ``spec`` in words ("L2 1 and dropout 0.95"), or ""."""
    if spec is None:
        return ""
    layers = spec.layers
    l2 = max((layer.l2 or 0.0 for layer in layers if layer.kind == LayerKind.DENSE), default=0.0)
    rate = max((layer.rate for layer in layers if layer.kind == LayerKind.DROPOUT), default=0.0)
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
    back, and the smoothed rise must beat both 5% of the best and 2.5 times the noise of the
    curve since its best (``_noise``), while the training loss fell by ``OVERFIT_TRAIN_FALL``.
    """
    best = int(np.argmin(val))
    if len(val) - 1 - best < OVERFIT_EPOCHS_PAST_BEST:
        return None
    smooth = np.convolve(val, np.ones(3) / 3, mode="valid")
    rise = float(smooth[-1] - np.min(smooth))
    noise = _noise(val[best:])
    margin = max(OVERFIT_RELATIVE_RISE * abs(float(np.min(smooth))), OVERFIT_NOISE_RISE * noise)
    if rise <= margin or not np.mean(train[-3:]) < (1 - OVERFIT_TRAIN_FALL) * train[best]:
        return None
    began = epochs[best]
    return Diagnosis(
        DiagnosisKind.OVERFITTING,
        f"The model began memorising the training rows after epoch {began}: since then the "
        f"validation loss rose from {_number(val[best])} to {_number(val[-1])} while the "
        f"training loss kept falling to {_number(train[-1])}.",
        regularising_fix(spec),
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
    ran_out = stop_reason == StopReason.COMPLETED or (
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
    return Diagnosis(DiagnosisKind.LEARNING_RATE_TOO_LOW, sentence, raising_fix(spec), None)


def _early_stop(
    epochs: list[int],
    val: np.ndarray,
    stop_reason: str | None,
    patience: int | None,
    spec: ModelSpec | None,
) -> Diagnosis | None:
    """Early stopping worked as meant: good news, so no button."""
    if stop_reason != StopReason.EARLY_STOPPING:
        return None
    if not epochs:
        return Diagnosis(
            DiagnosisKind.EARLY_STOPPING,
            "Training stopped early because the validation loss stopped improving.",
            None,
        )
    best = epochs[int(np.argmin(val))]
    waited = patience if patience else epochs[-1] - best
    kept = f"the weights of epoch {best}, its best, so the extra epochs cost nothing"
    if spec is not None and not spec.restore_best_weights:
        kept = f"its last weights (epoch {best} was its best)"
    return Diagnosis(
        DiagnosisKind.EARLY_STOPPING,
        f"Training stopped early at epoch {epochs[-1]} because the validation loss had not "
        f"improved for {waited} epochs; the model keeps {kept}.",
        None,
        best,
    )


# ------------------------------------------------------------------- helpers
def _near_perfect(
    history: Sequence[dict[str, float]], val: np.ndarray, naive: float | None
) -> bool:
    """Whether the validation score sits at its ceiling, where no change could show that it
    helped (``CEILING_*``). The history's metric names tell the task."""
    accuracies = [row["val_accuracy"] for row in history if "val_accuracy" in row]
    best = int(np.argmin(val))
    accuracy = accuracies[best] if best < len(accuracies) else None
    if accuracy is not None and accuracy >= CEILING_ACCURACY:
        return True
    if naive is None:
        return False
    share = float(np.min(val)) / naive
    if accuracy is not None and accuracy >= HIGH_ACCURACY and share <= HIGH_ACCURACY_LOSS:
        return True
    return share <= (CEILING_CLASSIFICATION_LOSS if accuracies else CEILING_REGRESSION_LOSS)


def _noise(series: np.ndarray) -> float:
    """How much ``series`` moves by chance from one epoch to the next: each epoch's distance
    from the mean of its two neighbours (which ignores a steady trend), its median scaled to
    a normal noise's standard deviation; robust to a few real jumps. 0 below 3 epochs."""
    if len(series) < 3:
        return 0.0
    wobble = np.abs(series[1:-1] - (series[:-2] + series[2:]) / 2)
    return float(np.median(wobble)) * 1.2


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _within_band(series: np.ndarray) -> bool:
    scale = abs(float(series[0]))
    return scale > 0 and float(np.max(np.abs(series - series[0]))) <= PLATEAU_BAND * scale


def _steady_decline(train: np.ndarray) -> bool:
    """Falling on most epochs, still falling at the end by more than its noise, and about as
    fast in the second half as in the first: a line, where a good learning rate draws a
    curve that levels off."""
    if np.mean(np.diff(train) < 0) < STEADY_SHARE or _recent_fall(train) < STILL_FALLING:
        return False
    middle = len(train) // 2
    second_half = float(train[middle] - train[-1])
    if second_half <= NOISE_FACTOR * _noise(train[middle:]):
        return False
    return bool(second_half >= LINEAR_RATIO * (train[0] - train[middle]))


def _recent_fall(series: np.ndarray) -> float:
    """How fast the curve falls now: the share of its level lost per epoch, over the last
    few epochs (negative when it rises)."""
    span = min(3, len(series) // 2)
    before, now = float(np.mean(series[-2 * span : -span])), float(np.mean(series[-span:]))
    level = max(abs(now), 1e-300)
    return (before - now) / (span * level)


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
