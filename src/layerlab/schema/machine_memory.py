"""What memory this machine has free, for the command line's budget of one run.

A shared server budgets each run by a fixed amount (``tabular.memory``: 600 MB, so that
two runs and their visitors fit in Community Cloud's 2.7 GB). The command line runs on a
person's own machine, alone: there a fixed 600 MB refuses tables the machine could train
with ease. So the CLI budgets one run by a share of the memory free when it starts, read
from the operating system (Linux's ``MemAvailable``, within a container's own limit).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# Of the memory free when a command starts, the share one run may budget: the rest is for
# TensorFlow itself (about 500 MB), the command's own process and what else the machine runs.
MACHINE_SHARE = 0.7
# The environment variable the budget is passed in (``tabular.memory`` reads it; worker
# processes inherit it), and the one that says it was set from the machine, not by a person.
BUDGET_VARIABLE = "LAYERLAB_MEMORY_BUDGET_MB"
SOURCE_VARIABLE = "LAYERLAB_MEMORY_BUDGET_SOURCE"
FROM_THE_MACHINE = "machine"
MB = 1_000_000

_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")


def free_memory_bytes() -> int | None:
    """The memory a new process could take now without swapping, or None where the system
    does not say: ``MemAvailable`` (page cache it can reclaim included), bounded by the
    room left under a container's (cgroup v2) limit."""
    free = _meminfo_available()
    if free is None:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    room = _cgroup_room()
    if free is None:
        return room
    return free if room is None else min(free, room)


@contextlib.contextmanager
def budget_from_the_machine() -> Iterator[int | None]:
    """For the ``with`` block (a command), budget one run by ``MACHINE_SHARE`` of the memory
    free now, unless a person set ``LAYERLAB_MEMORY_BUDGET_MB``; the workers started in the
    block inherit it. Yields the budget in megabytes, or None when it was left as it was."""
    if os.environ.get(BUDGET_VARIABLE, "").strip() or (free := free_memory_bytes()) is None:
        yield None
        return
    megabytes = max(1, int(free * MACHINE_SHARE / MB))
    os.environ[BUDGET_VARIABLE] = str(megabytes)
    os.environ[SOURCE_VARIABLE] = FROM_THE_MACHINE
    try:
        yield megabytes
    finally:
        os.environ.pop(BUDGET_VARIABLE, None)
        os.environ.pop(SOURCE_VARIABLE, None)


def budget_is_the_machines() -> bool:
    """Whether the budget in force was set from the machine's free memory (the CLI)."""
    return os.environ.get(SOURCE_VARIABLE) == FROM_THE_MACHINE and bool(
        os.environ.get(BUDGET_VARIABLE, "").strip()
    )


def _meminfo_available() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # in kB
    return None


def _cgroup_room() -> int | None:
    """Bytes left under this container's cgroup v2 limit, or None without one."""
    with contextlib.suppress(OSError, ValueError):
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((_CGROUP / "memory.current").read_text().strip())
        return max(0, int(limit) - used)
    return None
