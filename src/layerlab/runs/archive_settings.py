"""The settings an uploaded workspace may bring, each of the type the app reads.

A workspace keeps the app's state as settings (``WorkspaceStore.set_setting``):
``session`` (what the tab looked at: ``layerlab_app.state.Session.settings``),
``runs_started`` and ``searches_started`` (counters that name new runs and
searches) and ``searches`` (``search_board.SearchEntry``, one per search). An
archive can carry anything in them, and a search's id names a file on disk, so
``checked_settings`` keeps only these keys, every id checked as an id and every
value of the type its reader expects. ``session_settings`` is also what the app
reads a workspace's own "session" through, so a damaged one never breaks a page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layerlab.runs.workspace_paths import ID_PATTERN
from layerlab.schema.errors import WorkspaceError

MAX_SEARCHES = 500
MAX_LADDER_STEPS = 100
ID_LENGTH = 64
TEXT_LENGTH = 2_000  # a search's message
LABEL_LENGTH = 200
SEARCH_KINDS = ("search", "capacity")
SEARCH_STATUSES = ("running", "finished", "stopped", "failed", "interrupted")


def _optional(kinds: tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda value: value is None or (isinstance(value, kinds) and not isinstance(value, bool))


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= ID_LENGTH and bool(ID_PATTERN.fullmatch(value))


def _optional_id(value: Any) -> bool:
    return value is None or _is_id(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9


# The fields of the setting "session" (layerlab_app.state.Session.settings) and their types.
SESSION_FIELDS: dict[str, Callable[[Any], bool]] = {
    "table_id": _optional_id,
    "target": _optional((str,)),
    "task": _optional((str,)),
    "spec": _optional((dict,)),
    "template": _optional((dict,)),
    "following": _optional_id,
    "open_run": _optional_id,
}


def session_settings(value: Any) -> dict[str, Any]:
    """The fields of the setting "session" whose type the app expects; any other is left
    out, so a workspace with a damaged setting still opens where it was left, or fresh."""
    if not isinstance(value, dict):
        return {}
    return {
        key: value[key]
        for key, allows in SESSION_FIELDS.items()
        if key in value and allows(value[key])
    }


_SEARCH_SETTINGS: dict[str, Callable[[Any], bool]] = {
    "trials": _optional((int,)),
    "minutes": _optional((int, float)),
    "sample": _optional((int, float)),
    "epochs": _optional((int,)),
    "patience": _optional((int,)),
    "seed": _optional((int,)),
    "sampler": _optional((str,)),
}
JSON_SCALARS = (str, int, float, bool, type(None))


def _search_entry(position: int, values: Any) -> dict[str, Any]:
    """One search of the setting "searches" (``search_board.SearchEntry``), checked."""
    where = f'Search {position} in the setting "searches"'
    if not isinstance(values, dict):
        raise WorkspaceError(f"{where} must be a JSON object.")
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "id": (_is_id, "an id of letters, digits, '_' or '-'"),
        "kind": (lambda v: v in SEARCH_KINDS, f"one of {', '.join(SEARCH_KINDS)}"),
        "label": (
            lambda v: isinstance(v, str) and 0 < len(v) <= LABEL_LENGTH,
            f"text of 1 to {LABEL_LENGTH} characters",
        ),
        "created": (lambda v: _optional((int, float))(v) and v is not None, "a time in seconds"),
        "base_spec": (lambda v: isinstance(v, dict), "a JSON object"),
        "settings": (
            lambda v: (
                isinstance(v, dict)
                and all(allows(v.get(key)) for key, allows in _SEARCH_SETTINGS.items())
            ),
            "a JSON object of whole numbers and numbers",
        ),
        "space": (lambda v: isinstance(v, dict), "a JSON object"),
        "status": (lambda v: v in SEARCH_STATUSES, f"one of {', '.join(SEARCH_STATUSES)}"),
        "message": (lambda v: isinstance(v, str) and len(v) <= TEXT_LENGTH, "text"),
        "owner": (lambda v: isinstance(v, str), "text"),
        "ladder": (
            lambda v: (
                isinstance(v, list)
                and len(v) <= MAX_LADDER_STEPS
                and all(_ladder_step(step) for step in v)
            ),
            "a list of steps, each with its spec",
        ),
        "noise": (_optional((int, float)), "a number or null"),
    }
    required = ("id", "kind", "label", "created", "base_spec", "settings")
    missing = [key for key in required if key not in values]
    if missing:
        raise WorkspaceError(f"{where} lacks {', '.join(missing)}.")
    entry = {}
    for key, (allows, expected) in checks.items():
        if key in values:
            if not allows(values[key]):
                raise WorkspaceError(f'{where}: its "{key}" must be {expected}.')
            entry[key] = values[key]
    entry["settings"] = {k: v for k, v in entry["settings"].items() if k in _SEARCH_SETTINGS}
    if entry.get("status", "running") == "running":
        # Nothing here runs it; its owner, another server, would read as alive for ever.
        entry.update(status="interrupted", owner="")
    return entry


def _ladder_step(step: Any) -> bool:
    return (
        isinstance(step, dict)
        and isinstance(step.get("spec"), dict)
        and all(isinstance(value, JSON_SCALARS) for key, value in step.items() if key != "spec")
    )


def checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The imported settings Layerlab reads, each of the type it expects; unknown keys are
    dropped, a known key of the wrong type refuses the archive (``WorkspaceError``)."""
    kept: dict[str, Any] = {}
    if "session" in settings:
        session = settings["session"]
        if session is not None and not isinstance(session, dict):
            raise WorkspaceError('The setting "session" in this archive must be a JSON object.')
        kept["session"] = session_settings(session)
        wrong = sorted(set(kept["session"]) ^ (set(session or {}) & set(SESSION_FIELDS)))
        if wrong:
            raise WorkspaceError(
                f'The setting "session" in this archive has "{wrong[0]}" of the wrong type '
                "(ids are letters, digits, '_' or '-'). Download the workspace again."
            )
    for key in ("runs_started", "searches_started"):
        if key in settings:
            if not _count(settings[key]):
                raise WorkspaceError(
                    f'The setting "{key}" in this archive must be a whole number from 0; '
                    f"got {settings[key]!r}."
                )
            kept[key] = settings[key]
    if "searches" in settings:
        searches = settings["searches"]
        if not isinstance(searches, list) or len(searches) > MAX_SEARCHES:
            raise WorkspaceError(
                f'The setting "searches" in this archive must be a list of at most '
                f"{MAX_SEARCHES} searches."
            )
        kept["searches"] = [
            _search_entry(position, values) for position, values in enumerate(searches, 1)
        ]
        ids = [entry["id"] for entry in kept["searches"]]
        if len(set(ids)) != len(ids):
            raise WorkspaceError('The setting "searches" in this archive lists one search twice.')
    return kept
