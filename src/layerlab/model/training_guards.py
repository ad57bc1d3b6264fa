"""What a training run checks as each epoch closes: is the loss still sane, which weights to
keep, and whether to stop early.

Each is a small object the run calls with the closed epoch's numbers, as Keras
callbacks are called at ``on_epoch_end``; none of them trains or touches a tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import numpy as np

from layerlab.model.build import BuiltModel
from layerlab.model.engine import per_sample_loss
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import StopReason, Task

# A finite loss this many times the naive answer's ends the run as diverged.
DIVERGENCE_FACTOR = 1000

Snapshot = TypeVar("Snapshot")


@dataclass(frozen=True)
class NaiveLosses:
    """The loss of always predicting the training mean (or the training class shares)."""

    train: float
    validation: float
    predicts: Literal["mean", "class_shares"]


def naive_losses(built: BuiltModel, y_train, y_val) -> NaiveLosses:
    """The loss a model without features gets, on the training and the validation rows."""
    spec = built.spec
    loss_fn = per_sample_loss(spec)
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    if spec.task == Task.REGRESSION:
        predicts, guess = "mean", np.zeros((1, 1), "float32")
    else:
        predicts = "class_shares"
        activation, _ = spec.resolved_output()
        if activation == "sigmoid":
            guess = np.full((1, 1), y_train.mean(), "float32")
        else:
            counts = np.bincount(y_train, minlength=max(len(built.classes), 2))
            guess = (counts / counts.sum()).astype("float32").reshape(1, -1)

    def mean_loss(y: np.ndarray) -> float:
        predictions = np.repeat(guess, len(y), axis=0)
        return float(np.mean(np.asarray(loss_fn(y, predictions), dtype="float64")))

    return NaiveLosses(mean_loss(y_train), mean_loss(y_val), predicts)


@dataclass(frozen=True)
class Divergence:
    """Why a run diverged: a NaN or infinite loss, or (``exploded_to`` set) a finite validation
    loss (without the L2 penalty) far past the naive answer's."""

    exploded_to: float | None = None
    naive: NaiveLosses | None = None
    factor: int = DIVERGENCE_FACTOR


class DivergenceGuard:
    """Says when a closed epoch ends the run as diverged.

    A loss can grow to 1e24 without ever overflowing, and the model then predicts
    nonsense while training goes on. The yardstick is the naive answer (always the
    training mean, or the class shares), worth about 1 on the standardized target:
    the loss must be over ``factor`` times that (and over that many units) on the
    training rows and on the validation rows, so one wild outlier in validation is
    not enough. The L2 penalty is left out: a strong one on a wide network is large
    by itself. Cross-entropy is bounded (Keras clips the probabilities), so the
    explosion rule only ever stops regression; a classifier that diverges ends in
    NaN, which the rule for non-finite losses catches.
    """

    def __init__(self, naive: NaiveLosses, factor: int = DIVERGENCE_FACTOR) -> None:
        self.naive = naive
        self.factor = factor

    def check(
        self, val_loss: float, train_data_loss: float, val_data_loss: float
    ) -> Divergence | None:
        """Why the epoch with these losses ends the run as diverged, or None when it does not."""
        if not math.isfinite(val_loss):
            return Divergence()
        if train_data_loss <= self.factor * max(self.naive.train, 1.0):
            return None
        if val_data_loss <= self.factor * max(self.naive.validation, 1.0):
            return None
        return Divergence(val_data_loss, self.naive, self.factor)


class BestWeights(Generic[Snapshot]):
    """Keeps the best epoch's weights (lowest validation loss) and the last good epoch's, and
    says which a run ends with.

    With ``restore_best_weights`` the best are kept; without, the last epoch's,
    unless the run was stopped or diverged: then the best are kept anyway.
    """

    def __init__(self, restore_best_weights: bool) -> None:
        self.restore_best_weights = restore_best_weights
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.best: Snapshot | None = None
        self.last_epoch: int | None = None
        self.last: Snapshot | None = None

    def update(self, epoch: int, val_loss: float, snapshot: Snapshot) -> None:
        """Record a closed, good epoch."""
        self.last_epoch, self.last = epoch, snapshot
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best = val_loss, epoch, snapshot

    def kept(self, stop_reason: str | None = None) -> tuple[int | None, Snapshot | None]:
        """The epoch and weights a run ending now for ``stop_reason`` keeps (None, None when
        no epoch closed); ``stop_reason`` None: the run goes on, so what it would keep if
        it completed."""
        keep_best = self.best is not None and (
            self.restore_best_weights or stop_reason in (StopReason.STOPPED, StopReason.DIVERGED)
        )
        if keep_best:
            return self.best_epoch, self.best
        return self.last_epoch, self.last


@dataclass
class Plateau:
    """Lowers the learning rate once ``patience`` epochs have passed without a new best
    validation loss, counted from the best epoch or the last lowering, whichever is later:
    Keras's ``ReduceLROnPlateau`` with ``min_delta=0`` and no cooldown. ``factor`` 1 (or
    ``patience`` 0) never lowers it.

    Noise in the validation loss often makes an early epoch the best by chance; a smaller
    learning rate makes smaller, steadier steps, and the next best usually follows before
    early stopping, which counts from the best epoch alone, ends the run.
    """

    factor: float
    patience: int
    last_lowered: int = 0

    @classmethod
    def for_spec(cls, spec: ModelSpec) -> Plateau:
        """Half the early stopping patience (at least 1); only a constant learning rate is
        lowered (a schedule sets its own), and only while early stopping is on."""
        constant = spec.lr_schedule == "constant" and spec.patience > 0
        return cls(spec.lr_plateau_factor, max(1, spec.patience // 2) if constant else 0)

    @property
    def active(self) -> bool:
        return self.factor < 1 and self.patience > 0

    def should_lower(self, epoch: int, best_epoch: int | None) -> bool:
        """Whether the learning rate is lowered after ``epoch`` closed (the wait starts again)."""
        if not self.active or best_epoch is None:
            return False
        if epoch - max(best_epoch, self.last_lowered) < self.patience:
            return False
        self.last_lowered = epoch
        return True


@dataclass(frozen=True)
class EarlyStopping:
    """Stops once ``patience`` epochs have passed without a new best validation loss (0: never)."""

    patience: int

    def should_stop(self, epoch: int, best_epoch: int | None) -> bool:
        return self.patience > 0 and best_epoch is not None and epoch - best_epoch >= self.patience
