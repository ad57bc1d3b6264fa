"""The capacity ladder: grow a network while the validation score says it helps.

The lessons' way to choose a network's size: start small, add units, then
layers, while the validation score improves, and step back slightly once it
stops. As a guided search, each step one trial (a run, through the same trial
runners as ``search.py``, on the same sample of rows and few epochs):

1. **Noise.** The starting network (one layer of ``START_UNITS`` units) trains
   twice, with the base spec's seed and the next one. The two seeds give it other
   initial weights and another split of the rows, so the difference of their best
   validation losses is how much the score moves by chance alone: the *noise*.
2. **Widen.** The one layer doubles in width, step by step, while each step
   beats the best so far by more than the noise.
3. **Deepen.** At the chosen width, layers are added, one per step, on the same
   rule.

The first step that does not beat the best by more than the noise ends its
phase, and the ladder steps back to the one before it: the chosen network is
the last step that helped. ``Ladder.frame()`` has the validation loss by
parameter count for a chart, each step marked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from layerlab.runs.search_settings import SearchSettings, search_rows, trial_spec
from layerlab.runs.tasks import POLL_SECONDS, BackgroundTask
from layerlab.runs.trials import TrialHandle, TrialOutcome, TrialRunner
from layerlab.schema import limits
from layerlab.schema.errors import LayerlabError
from layerlab.schema.numbers import readable_number
from layerlab.schema.spec import LayerSpec, ModelSpec, format_layers
from layerlab.schema.vocabulary import LayerKind

START_UNITS = 8
WIDTH_FACTOR = 2


@dataclass(frozen=True)
class LadderStep:
    """One rung: the network tried, how it scored, and whether it helped."""

    step: int
    phase: str  # start, noise, widen, deepen
    hidden_layers: int
    units: int
    spec: ModelSpec
    outcome: TrialOutcome
    improved: bool  # beat the best before it by more than the noise
    chosen: bool = False

    @property
    def validation_loss(self) -> float | None:
        return self.outcome.validation_loss

    def row(self) -> dict:
        """The step as plain values: a row of ladder.csv, an entry of the app's ladder."""
        return {
            "step": self.step,
            "phase": self.phase,
            "hidden_layers": self.hidden_layers,
            "units": self.units,
            "parameters": self.outcome.parameters,
            "validation_loss": self.validation_loss,
            "improved": self.improved,
            "chosen": self.chosen,
            "status": self.outcome.status,
            "epochs": self.outcome.epochs,
            "seconds": round(self.outcome.seconds, 3),
            "layers": format_layers(self.spec.layers),
            "run_id": self.outcome.run_id or "",
        }


@dataclass(frozen=True)
class Ladder:
    """The steps in the order they ran, the noise they were judged by, and the one chosen."""

    steps: list[LadderStep]
    noise: float | None
    chosen: LadderStep | None

    def frame(self) -> pd.DataFrame:
        """One row per step (the CLI's ladder.csv; the app's chart of loss by parameters)."""
        return pd.DataFrame([step.row() for step in self.steps])

    def noise_sentence(self) -> str:
        if self.noise is None:
            return "The noise could not be measured: the starting network did not train twice."
        return (
            f"Noise: two seeds of the starting network (other initial weights, another split "
            f"of the rows) differ by {readable_number(self.noise)} in validation loss; a bigger network "
            "counts as better only when it improves on the best by more than that."
        )


class CapacityLadder(BackgroundTask):
    """The ladder from ``base_spec`` on ``frame``, each step trained by ``runner``.

    The network's activation is the base spec's first dense layer's (ReLU when it
    has none); every other setting is the base's, with the search ``settings``'
    row sample, epochs and patience. ``run()`` climbs and returns the ``Ladder``;
    ``stop()`` ends it after stopping the step that trains (kept as stopped).
    """

    def __init__(
        self,
        runner: TrialRunner,
        frame: pd.DataFrame,
        base_spec: ModelSpec,
        settings: SearchSettings | None = None,
    ) -> None:
        super().__init__()
        self.runner = runner
        self.base_spec = base_spec.validate()
        self.settings = (settings or SearchSettings()).validate()
        self.training_rows = search_rows(frame, base_spec, self.settings.sample, self.settings.seed)
        dense = [layer for layer in base_spec.layers if layer.kind == LayerKind.DENSE]
        self.activation = dense[0].activation if dense else "relu"
        self.steps: list[LadderStep] = []
        self.noise: float | None = None

    def network(self, hidden_layers: int, units: int) -> ModelSpec:
        layers = [LayerSpec.dense(units, self.activation) for _ in range(hidden_layers)]
        return trial_spec(self.base_spec, self.settings).replace(layers=layers).validate()

    def run(self, on_step: Callable[[LadderStep], None] | None = None) -> Ladder:
        self._on_step = on_step
        start = self.network(1, START_UNITS)
        first, second = self._train_together(
            [
                (start, f"capacity step 1: 1 x {START_UNITS}"),
                (
                    start.replace(seed=(start.seed + 1) % (limits.SEED.high + 1)),
                    f"capacity step 2: 1 x {START_UNITS}, next seed",
                ),
            ]
        )
        self._add("start", 1, START_UNITS, start, first, improved=False)
        self._add("noise", 1, START_UNITS, start, second, improved=False)
        if first.validation_loss is None or second.validation_loss is None:
            if self.stopping:
                return self._ladder(None)
            reason = first.message if first.validation_loss is None else second.message
            raise LayerlabError(f"The starting network of the ladder did not train: {reason}")
        self.noise = abs(first.validation_loss - second.validation_loss)
        best = self.steps[0]
        units = START_UNITS
        while not self.stopping and units * WIDTH_FACTOR <= limits.UNITS.high:
            units *= WIDTH_FACTOR
            step = self._climb("widen", 1, units, best)
            if not step.improved:
                break
            best = step
        depth = 1
        while not self.stopping and depth + 1 <= limits.LAYERS.high:
            depth += 1
            step = self._climb("deepen", depth, best.units, best)
            if not step.improved:
                break
            best = step
        return self._ladder(best)

    def _climb(self, phase: str, hidden_layers: int, units: int, best: LadderStep) -> LadderStep:
        spec = self.network(hidden_layers, units)
        name = f"capacity step {len(self.steps) + 1}: {hidden_layers} x {units}"
        (outcome,) = self._train_together([(spec, name)])
        loss = outcome.validation_loss
        finished = outcome.status in ("finished", "diverged")  # a stopped step is unfinished
        improved = finished and loss is not None and best.validation_loss - loss > self.noise
        return self._add(phase, hidden_layers, units, spec, outcome, improved=improved)

    def _add(self, phase, hidden_layers, units, spec, outcome, *, improved) -> LadderStep:
        step = LadderStep(len(self.steps) + 1, phase, hidden_layers, units, spec, outcome, improved)
        self.steps.append(step)
        if self._on_step is not None:
            self._on_step(step)
        return step

    def _train_together(self, specs: list[tuple[ModelSpec, str]]) -> list[TrialOutcome]:
        """Train these steps side by side (as the runner allows); stop them on ``stop()``."""
        handles: list[TrialHandle] = [
            self.runner.start_trial(spec, name, self.training_rows) for spec, name in specs
        ]
        for handle in handles:
            while not handle.wait(POLL_SECONDS):
                if self.stopping:
                    for each in handles:
                        each.stop()
        return [handle.outcome() for handle in handles]

    def _ladder(self, chosen: LadderStep | None) -> Ladder:
        if chosen is not None:
            index = self.steps.index(chosen)
            chosen = self.steps[index] = dataclasses.replace(chosen, chosen=True)
        return Ladder(list(self.steps), self.noise, chosen)
