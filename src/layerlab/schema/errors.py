"""Errors a person can cause, each with a message written for that person.

Every message says what happened, what was expected and what to do next. The
app shows ``str(error)`` with ``st.error``; the CLI prints it and exits non-zero.
Anything that is not a ``LayerlabError`` is a bug and should surface loudly.
"""

from __future__ import annotations


class LayerlabError(Exception):
    """Base class for every problem that the user, not the code, can fix."""


class DataError(LayerlabError):
    """The uploaded file cannot be read as a usable table."""


class TargetError(LayerlabError):
    """The chosen target column cannot be predicted as asked."""


class SpecError(LayerlabError):
    """The model spec has one or more invalid settings.

    ``problems`` lists every problem found, one sentence each, so a form can
    show them all at once instead of one per attempt.
    """

    def __init__(self, problems: list[str], settings: str = "model settings") -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = "The {} have {} problems:\n- {}".format(
                settings, len(self.problems), "\n- ".join(self.problems)
            )
        super().__init__(message)


class TrainingError(LayerlabError):
    """Training could not produce a usable model (for example, the loss diverged)."""


class SchemaError(DataError):
    """New data to score does not have the columns the model was trained on."""


class BundleError(LayerlabError):
    """A model bundle (folder or zip) that is not what Layerlab wrote, or is damaged."""


class WorkspaceError(LayerlabError):
    """A workspace that cannot be opened, read or changed as asked (an upload that is not one)."""


class WorkspaceFull(WorkspaceError):
    """Storing more would take a workspace past its disk quota."""


class ServerFull(WorkspaceFull):
    """The server as a whole has no room: its disk budget, its number of workspaces, or the disk.

    Nothing the person did is at fault, and nothing they saved before is lost.
    """
