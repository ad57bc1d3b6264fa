"""The limits that keep one visitor from taking a shared server from the others.

Each is an environment variable, read here and nowhere else, with a default for a
shared host (one small server for many visitors, such as Streamlit Community Cloud)
and one for a local install (one person on their own machine):

======================================  ===========  =============  =======================
setting                                 shared host  local install  what it bounds
======================================  ===========  =============  =======================
``LAYERLAB_RUNS_PER_WORKSPACE``         1            1              runs or search trials
                                                                    training at once, per
                                                                    workspace
``LAYERLAB_JOB_MINUTES``                30           0 (none)       minutes of one job
``LAYERLAB_WORKER_MEMORY_MB``           1500         0 (none)       memory of one worker
``LAYERLAB_SEARCH_MAX_TRIALS``          50           0 (none)       trials of one search
``LAYERLAB_SEARCH_MAX_MINUTES``         30           0 (none)       minutes of one search
======================================  ===========  =============  =======================

0 means no limit. The host is shared when ``LAYERLAB_SHARED_SERVER=1`` says so or,
unset, when its disk does not last (``workspaces.shared_server``: true on Community
Cloud): a local install keeps its workspaces, and its one person may train for hours
with all the memory the machine has. The per-workspace
limit is 1 on both: it is what lets a second person train while the first has a
long run, and a local search can ask for more with the setting.
"""

from __future__ import annotations

from layerlab.runs.workspaces import shared_server
from layerlab.schema.settings import number_setting

RUNS_PER_WORKSPACE_ENV = "LAYERLAB_RUNS_PER_WORKSPACE"
JOB_MINUTES_ENV = "LAYERLAB_JOB_MINUTES"
WORKER_MEMORY_ENV = "LAYERLAB_WORKER_MEMORY_MB"
SEARCH_MAX_TRIALS_ENV = "LAYERLAB_SEARCH_MAX_TRIALS"
SEARCH_MAX_MINUTES_ENV = "LAYERLAB_SEARCH_MAX_MINUTES"

DEFAULT_RUNS_PER_WORKSPACE = 1
SHARED_JOB_MINUTES = 30.0
SHARED_WORKER_MEMORY_MB = 1500
SHARED_SEARCH_MAX_TRIALS = 50
SHARED_SEARCH_MAX_MINUTES = 30.0


def shared_host() -> bool:
    """Whether this server is one shared by many visitors (see the module's docstring)."""
    return shared_server()


def runs_per_workspace() -> int:
    """Runs (or search trials) one workspace may train at once; 0 means no limit."""
    return _whole(RUNS_PER_WORKSPACE_ENV, DEFAULT_RUNS_PER_WORKSPACE, "runs")


def job_seconds() -> float:
    """The wall-clock limit of one job in seconds; 0 means no limit."""
    return 60 * _minutes(JOB_MINUTES_ENV, SHARED_JOB_MINUTES if shared_host() else 0.0)


def worker_memory_bytes() -> int:
    """The most memory one worker process may hold while it does a job; 0 means no limit."""
    default = SHARED_WORKER_MEMORY_MB if shared_host() else 0
    return _whole(WORKER_MEMORY_ENV, default, "megabytes") * 1024 * 1024


def search_max_trials() -> int:
    """The most trials one search may ask for; 0 means no limit."""
    default = SHARED_SEARCH_MAX_TRIALS if shared_host() else 0
    return _whole(SEARCH_MAX_TRIALS_ENV, default, "trials")


def search_max_minutes() -> float:
    """The most minutes one search (or capacity ladder) may run; 0 means no limit."""
    return _minutes(SEARCH_MAX_MINUTES_ENV, SHARED_SEARCH_MAX_MINUTES if shared_host() else 0.0)


def minutes_text(minutes: float) -> str:
    """``30 minutes``, ``1 minute``, ``1,440 minutes``, ``0.05 minutes``: as a person reads it."""
    shown = f"{minutes:,.0f}" if minutes == int(minutes) else f"{minutes:,.4g}"
    return f"{shown} minute" if minutes == 1 else f"{shown} minutes"


def time_limit_sentence(minutes: float) -> str:
    """Why a job the time limit stopped ended, and what to do about it (replaces the
    trainer's "stopped on request")."""
    return (
        f"Training reached this server's limit of {minutes_text(minutes)} per run, so it was "
        "stopped as Stop would. For a shorter run, use fewer epochs, early stopping, fewer "
        f"rows or a smaller network; whoever runs the server sets the limit with "
        f"{JOB_MINUTES_ENV} (0: no limit)."
    )


def time_limit_kill_text(label: str, minutes: float, grace_seconds: float) -> str:
    """A job that the time limit asked to stop and that did not, so its worker was ended."""
    return (
        f"This {label} reached this server's limit of {minutes_text(minutes)} per job and did "
        f"not stop within {grace_seconds:.0f} s of being asked, so its worker process was "
        f"ended. Only this {label} was affected. Try fewer epochs, fewer rows or a smaller "
        f"network; whoever runs the server sets the limit with {JOB_MINUTES_ENV} (0: no limit)."
    )


def memory_cap_text(label: str, cap_bytes: int, used_bytes: int) -> str:
    """A job whose worker grew past the memory cap and was ended: what happened, what to try."""
    cap_mb, used_mb = cap_bytes // (1024 * 1024), used_bytes // (1024 * 1024)
    return (
        f"This {label} needed more memory than this server allows one worker process "
        f"({used_mb:,} MB used; the limit is {cap_mb:,} MB), so it was stopped. Only this "
        f"{label} was affected. Try a smaller network (fewer or narrower layers), a smaller "
        "batch size, or fewer rows (a sample of the table); whoever runs the server sets the "
        f"limit with {WORKER_MEMORY_ENV} (0: no limit)."
    )


def _whole(name: str, default: int, unit: str) -> int:
    return int(
        number_setting(
            name,
            default,
            what=f"a whole number of {unit}, 0 or more (0: no limit)",
            example=default or 1,
            whole=True,
        )
    )


def _minutes(name: str, default: float) -> float:
    return number_setting(
        name, default, what="a number of minutes, 0 or more (0: no limit)", example=default or 30
    )
