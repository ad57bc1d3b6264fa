"""The bundle's train.py draws Layerlab's rows without scikit-learn: its ``shuffle_split`` is
scikit-learn's ``train_test_split`` step for step, for any size, fraction, seed and classes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from layerlab.model.code_export import TEMPLATE_PATH


@pytest.fixture(scope="module")
def script():
    found = importlib.util.spec_from_file_location("train_script_template", TEMPLATE_PATH)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def sklearn_split(n_rows: int, fraction: float, seed: int, labels):
    """Layerlab's split (``tabular.splits.split_frame``): stratified where it can be."""
    rows = np.arange(n_rows)
    try:
        return train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError:  # a class too small to stratify by: a plain random split
        return train_test_split(rows, test_size=fraction, random_state=seed)


@settings(max_examples=300, deadline=None)
@given(
    class_sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    fraction=st.sampled_from([0.1, 0.15, 0.2, 0.25, 0.2 / 0.8, 0.3, 0.5, 0.15 / 0.75]),
    seed=st.integers(0, 2**31 - 1),
    stratified=st.booleans(),
    shuffled=st.randoms(use_true_random=False),
)
def test_the_scripts_split_is_scikit_learns(
    script, class_sizes, fraction, seed, stratified, shuffled
):
    labels = [f"class {at}" for at, size in enumerate(class_sizes) for _ in range(size)]
    shuffled.shuffle(labels)
    n_rows = len(labels)
    if n_rows < 2 or fraction * n_rows > n_rows - 1:
        return  # scikit-learn refuses a split that leaves a side empty; Layerlab never asks
    labels = np.array(labels, dtype=object) if stratified else None
    kept, held_out = script.shuffle_split(n_rows, fraction, seed, labels)
    expected_kept, expected_held_out = sklearn_split(n_rows, fraction, seed, labels)
    np.testing.assert_array_equal(kept, expected_kept)
    np.testing.assert_array_equal(held_out, expected_held_out)
