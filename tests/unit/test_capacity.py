"""The capacity ladder: measure the noise with two seeds, widen, then deepen while the validation
loss improves by more than the noise, and step back to the last step that helped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.cli.main import main
from layerlab.runs.capacity import START_UNITS, CapacityLadder
from layerlab.runs.search_settings import SearchSettings
from layerlab.runs.trials import TrialOutcome
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import LayerSpec, ModelSpec, default_spec
from layerlab.tabular.data import profile_columns

DATA = Path(__file__).resolve().parents[2] / "data"

# Validation loss by (hidden layers, units): width helps up to 32, a second layer helps once.
LOSSES = {(1, 8): 0.50, (1, 16): 0.45, (1, 32): 0.42, (1, 64): 0.41, (2, 32): 0.37, (3, 32): 0.36}
NEXT_SEED_LOSS = 0.52  # the starting network with the next seed: a noise of 0.02


class Step:
    def __init__(self, spec: ModelSpec, fail: bool = False) -> None:
        self.spec, self.fail, self.run_id, self.stopped = spec, fail, None, False

    def wait(self, timeout=None) -> bool:
        return True

    def stop(self) -> None:
        self.stopped = True

    def outcome(self) -> TrialOutcome:
        dense = [layer for layer in self.spec.layers if layer.kind == "dense"]
        if self.fail:
            return TrialOutcome("failed", None, 0, None, 0.0, None, "Out of memory.")
        key = (len(dense), dense[0].units)
        loss = NEXT_SEED_LOSS if self.spec.seed != 42 and key == (1, 8) else LOSSES[key]
        return TrialOutcome("finished", loss, 5, 4, 0.1, len(dense) * dense[0].units * 10, "")


class Runner:
    slots = 2

    def __init__(self, fail_first: bool = False) -> None:
        self.names: list[str] = []
        self.specs: list[ModelSpec] = []
        self.fail_first = fail_first

    def start_trial(self, spec, name, rows) -> Step:
        self.names.append(name)
        self.specs.append(spec)
        return Step(spec, fail=self.fail_first)


def tiny(rows: int = 60) -> tuple[pd.DataFrame, ModelSpec]:
    x = np.linspace(0.0, 3.0, rows)
    frame = pd.DataFrame({"x": x, "colour": ["red", "green", "blue"] * (rows // 3), "y": 2 * x})
    spec = default_spec("y", "regression", profile_columns(frame, "y"))
    return frame, spec.replace(layers=[LayerSpec.dense(64, "tanh")])


def test_the_ladder_widens_then_deepens_while_it_beats_the_noise_and_steps_back_once():
    frame, spec = tiny()
    runner = Runner()
    heard = []
    ladder = CapacityLadder(runner, frame, spec, SearchSettings(epochs=7)).run(heard.append)
    shape = [(step.phase, step.hidden_layers, step.units, step.improved) for step in ladder.steps]
    assert shape == [
        ("start", 1, 8, False),
        ("noise", 1, 8, False),
        ("widen", 1, 16, True),
        ("widen", 1, 32, True),
        ("widen", 1, 64, False),  # 0.01 better: within the noise, so back to 32
        ("deepen", 2, 32, True),
        ("deepen", 3, 32, False),  # back to two layers
    ]
    assert ladder.noise == pytest.approx(0.02)
    assert (ladder.chosen.hidden_layers, ladder.chosen.units, ladder.chosen.step) == (2, 32, 6)
    assert [step.chosen for step in ladder.steps] == [False] * 5 + [True, False]
    assert [step.step for step in heard] == list(range(1, 8))
    # Each step keeps the base's activation and trains with the search's few epochs.
    assert {layer.activation for spec in runner.specs for layer in spec.layers} == {"tanh"}
    assert {spec.epochs for spec in runner.specs} == {7}
    assert [spec.seed for spec in runner.specs[:2]] == [42, 43]  # the noise: two seeds
    assert runner.names[0] == f"capacity step 1: 1 x {START_UNITS}"


def test_the_ladder_is_a_table_by_parameter_count_and_says_how_the_noise_was_measured():
    frame, spec = tiny()
    ladder = CapacityLadder(Runner(), frame, spec).run()
    table = ladder.frame()
    assert list(table["parameters"]) == [80, 80, 160, 320, 640, 640, 960]
    assert list(table["validation_loss"]) == [0.50, 0.52, 0.45, 0.42, 0.41, 0.37, 0.36]
    assert table.loc[table["chosen"], "layers"].item() == "dense:32:tanh,dense:32:tanh"
    sentence = ladder.noise_sentence()
    assert "two seeds of the starting network" in sentence and "0.02" in sentence


def test_a_starting_network_that_cannot_train_is_a_plain_error():
    frame, spec = tiny()
    with pytest.raises(LayerlabError, match="did not train: Out of memory"):
        CapacityLadder(Runner(fail_first=True), frame, spec).run()


def test_stop_ends_the_ladder_with_the_best_step_so_far_and_a_stopped_step_is_no_better():
    frame, spec = tiny()
    ladder = CapacityLadder(Runner(), frame, spec)

    def heard(step):
        if step.units == 16:
            ladder.stop()

    result = ladder.run(heard)
    assert [step.units for step in result.steps] == [8, 8, 16]
    assert result.chosen.units == 16  # it finished before Stop

    class Unfinished(Step):
        def wait(self, timeout=None):
            ladder.stop()  # Stop is clicked while this step trains
            return self.stopped

        def outcome(self):
            partial = super().outcome()
            return TrialOutcome("stopped", 0.01, 1, 1, 0.1, partial.parameters, "Stopped.")

    class SlowWidening(Runner):
        def start_trial(self, spec, name, rows):
            super().start_trial(spec, name, rows)
            return Unfinished(spec) if spec.layers[0].units == 16 else Step(spec)

    ladder = CapacityLadder(SlowWidening(), frame, spec)
    result = ladder.run()
    assert [(step.units, step.outcome.status) for step in result.steps][-1] == (16, "stopped")
    assert not result.steps[-1].improved and result.chosen.units == 8


def test_search_capacity_writes_the_ladder_and_the_chosen_networks_bundle(tmp_path, capsys):
    out = tmp_path / "ladder"
    args = ["search", str(DATA / "iris.csv"), "--target", "species", "--capacity"]
    code = main([*args, "--epochs", "3", "--workers", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    ladder = pd.read_csv(out / "ladder.csv")
    assert list(ladder["phase"][:3]) == ["start", "noise", "widen"]
    assert ladder["chosen"].sum() == 1 and (ladder["parameters"] > 0).all()
    assert "Noise: two seeds of the starting network" in err and "Chosen: step" in err
    chosen = ladder[ladder["chosen"]].iloc[0]
    best = ModelSpec.from_json((out / "best" / "spec.json").read_text())
    assert [layer.units for layer in best.layers] == [chosen["units"]] * chosen["hidden_layers"]
