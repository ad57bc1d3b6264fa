"""The command line budgets one run by the memory this machine has free, not by the shared
server's 600 MB, and reads tables of any size."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from layerlab.schema import machine_memory
from layerlab.schema.errors import TrainingError
from layerlab.schema.machine_memory import (
    BUDGET_VARIABLE,
    MACHINE_SHARE,
    SOURCE_VARIABLE,
    budget_from_the_machine,
    free_memory_bytes,
)
from layerlab.schema.spec import Feature, LayerSpec, ModelSpec
from layerlab.tabular.memory import check_memory

GB = 1_000_000_000


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A machine whose /proc/meminfo and cgroup files are written by the test."""
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    monkeypatch.delenv(SOURCE_VARIABLE, raising=False)
    meminfo, cgroup = tmp_path / "meminfo", tmp_path / "cgroup"
    cgroup.mkdir()
    monkeypatch.setattr(machine_memory, "_MEMINFO", meminfo)
    monkeypatch.setattr(machine_memory, "_CGROUP", cgroup)

    def set_free(available_kb: int, limit: str = "max", used: int = 0) -> None:
        meminfo.write_text(
            f"MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:   {available_kb} kB\n"
        )
        (cgroup / "memory.max").write_text(f"{limit}\n")
        (cgroup / "memory.current").write_text(f"{used}\n")

    return set_free


def test_free_memory_is_what_the_system_says_within_the_containers_limit(machine):
    machine(available_kb=20_000_000)
    assert free_memory_bytes() == 20_000_000 * 1024
    machine(available_kb=20_000_000, limit=str(4 * GB), used=GB)
    assert free_memory_bytes() == 3 * GB  # the container's room is the smaller


def test_a_command_budgets_a_share_of_the_free_memory_and_gives_it_back(machine):
    machine(available_kb=10_000_000)
    with budget_from_the_machine() as megabytes:
        assert megabytes == int(10_000_000 * 1024 * MACHINE_SHARE / 1_000_000)
        assert os.environ[BUDGET_VARIABLE] == str(megabytes)
    assert BUDGET_VARIABLE not in os.environ and SOURCE_VARIABLE not in os.environ


def test_a_budget_a_person_set_is_theirs(machine, monkeypatch):
    machine(available_kb=10_000_000)
    monkeypatch.setenv(BUDGET_VARIABLE, "1234")
    with budget_from_the_machine() as megabytes:
        assert megabytes is None and os.environ[BUDGET_VARIABLE] == "1234"
    assert os.environ[BUDGET_VARIABLE] == "1234"


def test_a_run_too_big_for_the_machine_says_it_is_the_machines_memory(machine):
    frame = pd.DataFrame({"x": range(2000), "y": [0.5] * 2000})
    spec = ModelSpec("y", "regression", [Feature("x", "numeric")]).replace(
        layers=[LayerSpec.dense(4096), LayerSpec.dense(4096)]
    )
    machine(available_kb=100_000)  # about 70 MB for a run
    with budget_from_the_machine(), pytest.raises(TrainingError) as refused:
        check_memory(spec, frame)
    assert "this machine has free for one run" in str(refused.value)
    assert BUDGET_VARIABLE in str(refused.value)
    with pytest.raises(TrainingError) as shared:  # outside the command: the server's words
        check_memory(spec, frame)
    assert "one run may use here" in str(shared.value)


def test_the_command_line_reads_files_over_the_apps_upload_limit(tmp_path, monkeypatch, capsys):
    """The upload limit is the shared server's: with it shrunk to 100 bytes, the browser's
    reading refuses iris, and the CLI's train and predict read it all the same."""
    from layerlab.cli.main import main
    from layerlab.tabular import reading
    from layerlab.tabular.errors import DataError

    original = reading.check_size

    def tiny_limit(size, max_bytes=reading.MAX_UPLOAD_BYTES):
        original(size, None if max_bytes is None else 100)

    monkeypatch.setattr(reading, "check_size", tiny_limit)
    iris = os.path.join(os.path.dirname(__file__), "..", "..", "data", "iris.csv")
    with pytest.raises(DataError, match="over the"):
        reading.read_csv(iris)  # as the app reads an upload
    out = tmp_path / "bundle"
    argv = ["train", iris, "--target", "species", "--epochs", "2", "--no-refit", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0, capsys.readouterr().err
    assert main(["predict", str(out), iris, "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 150
