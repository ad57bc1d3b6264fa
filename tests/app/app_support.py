"""What the AppTest tests share: the app's path, tiny tables, and seeding the app's state.

Imported by name from the tests (``conftest`` is ambiguous when several test folders
have one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from layerlab.data import profile_columns
from layerlab.jobs import JobContext, TrainedModel, train_model
from layerlab.reading import read_csv
from layerlab.spec import LayerSpec, ModelSpec, default_spec
from layerlab.task import check_target
from layerlab_app import state
from layerlab_app.text import WORD_JOINER

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
# Room for importing TensorFlow and compiling the training loop on a cold, 2-core machine.
TIMEOUT = 120


class RouterPagesManager(PagesManager):
    """A served app ignores ``pages/`` once ``st.navigation`` has run (a process-wide flag).

    AppTest resets that flag before every run, so from the second run on it would
    execute ``pages/*.py`` on their own, without ``app.py`` (no sidebar, no
    adoption of interrupted runs). This restores what the server does.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def start_app() -> AppTest:
    """The app on its first page (Data), already run once."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def tiny_regression_frame(rows: int = 40) -> pd.DataFrame:
    """A small table where y = 2x + 1, plus a category, for quick training runs."""
    x = [i * 0.5 for i in range(rows)]
    return pd.DataFrame(
        {
            "x": x,
            "colour": ["red", "green", "blue", "red"] * (rows // 4),
            "y": [2 * value + 1 for value in x],
        }
    )


def tiny_csv(rows: int = 40) -> bytes:
    return tiny_regression_frame(rows).to_csv(index=False).encode()


def seed_dataset(
    at: AppTest,
    frame: pd.DataFrame,
    target: str,
    *,
    name: str = "tiny.csv",
    spec: ModelSpec | None = None,
    **spec_changes,
) -> ModelSpec:
    """Put a dataset, its checked target and a spec into the app's state, as the Data page would."""
    info = check_target(frame, target)
    if spec is None:
        spec = default_spec(target, info.task, profile_columns(frame, target))
    spec = spec.replace(**spec_changes)
    values = {
        state.DATASET: frame,
        state.DATASET_NAME: name,
        state.DATASET_TOKEN: 1,
        state.TARGET: target,
        state.TARGET_INFO: info,
        state.SPEC: spec,
    }
    for key, value in values.items():
        at.session_state[key] = value
    return spec


@dataclass(frozen=True)
class Trained:
    frame: pd.DataFrame
    target: str
    result: TrainedModel


def seed_trained(at: AppTest, trained: Trained) -> None:
    seed_dataset(at, trained.frame, trained.target, spec=trained.result.spec)
    at.session_state[state.RESULT] = trained.result


def train(frame: pd.DataFrame, target: str, **spec_changes) -> Trained:
    spec = default_spec(target, check_target(frame, target).task, profile_columns(frame, target))
    # In this test process, not in a worker: the pages only ever see the plain result.
    result = train_model(JobContext(), frame, spec.replace(**spec_changes))
    return Trained(frame, target, result)


def shown(markdown: str) -> str:
    """What a reader sees of Markdown the page escaped with ``md``: the text, no backslashes."""
    return re.sub(r"\\([!-/:-@\[-`{-~\n])", r"\1", markdown).replace(WORD_JOINER, "")


def texts(elements) -> str:
    """The elements' texts as a reader sees them, one per line."""
    return "\n".join(shown(str(element.value)) for element in elements)


def wait_for_training(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Let the run queued by the Train button finish in its worker, then run the app again."""
    job = at.session_state[state.TRAINING_JOB].job
    assert job is not None, "no training run was started"
    assert job.wait(timeout), f"training did not finish within {timeout} s"
    return at.run()


def iris() -> pd.DataFrame:
    return read_csv(ROOT / "data" / "iris.csv")


def small_network() -> list[LayerSpec]:
    return [LayerSpec.dense(8, "relu")]
