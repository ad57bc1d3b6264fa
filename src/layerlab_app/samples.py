"""The sample datasets in ``data/``: which exist, what each one is for, and reading them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from layerlab.tabular.reading import read_csv


@dataclass(frozen=True)
class Sample:
    target: str
    description: str


# In the order of the data/README.md table: smallest and simplest first.
SAMPLES = {
    "celsius_fahrenheit.csv": Sample(
        "fahrenheit", "Celsius to Fahrenheit: 40 rows, predict a number"
    ),
    "iris.csv": Sample("species", "Iris flowers: 150 rows, predict one of 3 species"),
    "wine.csv": Sample("cultivar", "Wines: 178 rows, predict one of 3 cultivars"),
    "diabetes.csv": Sample(
        "disease_progression", "Diabetes: 442 patients, predict disease progression (a number)"
    ),
    "customer_churn.csv": Sample(
        "churned", "Customer churn: 1,500 customers, predict churned (yes/no)"
    ),
}


def samples_dir() -> Path:
    """``data/`` in the repository (beside ``src/``), else ``data/`` in the working folder."""
    beside_src = Path(__file__).resolve().parents[2] / "data"
    return beside_src if beside_src.is_dir() else Path.cwd() / "data"


def available() -> list[str]:
    """File names of the samples present: the known ones first, then any other CSV file."""
    present = {path.name for path in samples_dir().glob("*.csv")}
    known = [name for name in SAMPLES if name in present]
    return known + sorted(present - set(known))


def describe(name: str) -> str:
    sample = SAMPLES.get(name)
    return sample.description if sample else name


def default_target(name: str) -> str | None:
    sample = SAMPLES.get(name)
    return sample.target if sample else None


def sample_bytes(name: str) -> bytes:
    """The sample's file as it is on disk (kept in the workspace like an upload)."""
    return (samples_dir() / name).read_bytes()


def read_sample(name: str) -> pd.DataFrame:
    path = samples_dir() / name
    return _read(str(path), path.stat().st_mtime)


@st.cache_data(show_spinner=False)
def _read(path: str, modified: float) -> pd.DataFrame:
    # cache_data hands every caller its own copy, so one visitor's edits never reach another.
    return read_csv(path)
