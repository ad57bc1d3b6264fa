"""One atomic write for the whole core: readers see the old file or the new one, never half."""

from __future__ import annotations

import pytest

from layerlab.schema.files import is_partial, replacing, write_atomically


def test_a_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "runs" / "abc" / "evaluation.json"
    write_atomically(path, b"old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert [item.name for item in path.parent.iterdir()] == ["evaluation.json"]


def test_a_write_cut_short_keeps_the_old_file_and_removes_its_partial(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"whole model")
    with pytest.raises(RuntimeError), replacing(path, suffix=".keras") as partial:
        assert partial.name.endswith(".keras") and is_partial(partial.name)
        partial.write_bytes(b"half")
        raise RuntimeError("the disk filled up")
    assert path.read_bytes() == b"whole model"
    assert [item.name for item in tmp_path.iterdir()] == ["model.keras"]


def test_partial_files_are_told_apart_from_the_files_they_replace():
    assert is_partial(".x.csv.1a2b3c4d.tmp")
    assert is_partial(".model.keras.1a2b3c4d.tmp.keras")
    assert is_partial("model.keras.tmp")  # as older Layerlabs named them
    assert not is_partial("model.keras") and not is_partial("evaluation.json")
