"""Train one network in this process and write its bundle: what `train` does, and what `best`
does with its search's winner. The lines it prints, the bundle and the workspace record are
the same for both."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from layerlab.cli.common import comparison_line, writing
from layerlab.cli.progress import epoch_display
from layerlab.runs.background import keep_run, outcome_status
from layerlab.runs.service import WorkspaceService
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import LayerlabError
from layerlab.schema.spec import ModelSpec
from layerlab.tabular.leaks import strongest_feature
from layerlab.tabular.too_good import (
    baseline_too_good_sentence,
    close_to_perfect,
    suspiciously_good,
    too_good_sentence,
)

if TYPE_CHECKING:
    from layerlab.cli.progress import EpochBar, EpochLines
    from layerlab.report.diagnosis import Diagnosis


def bundle_folder(out: str | None, spec: ModelSpec) -> Path:
    """``--out``, or ``layerlab-TARGET``; refused before training if it is a file."""
    folder = Path(out or f"layerlab-{_safe_name(spec.target)}")
    if folder.exists() and not folder.is_dir():  # found before training, not after
        raise LayerlabError(
            f"'{folder}' is a file, and a bundle is a folder. Choose a folder name with --out."
        )
    return folder


def train_with_display(args: argparse.Namespace, frame: pd.DataFrame, spec: ModelSpec, kept=None):
    """``train(frame, spec)`` with the progress display (none with ``--quiet``); ``kept``, a
    workspace's record, hears each epoch too and is marked failed if training fails."""
    # Not at the top: TensorFlow (about 4 s), which --help and a refused flag never pay.
    from layerlab.model.train import train

    with contextlib.nullcontext() if args.quiet else _epoch_display(spec.patience) as display:
        try:
            return train(frame, spec, on_event=_both(display, kept))
        except BaseException as error:
            if kept is not None:
                kept.failed(error)
            raise


def train_and_write(
    args: argparse.Namespace,
    frame: pd.DataFrame,
    spec: ModelSpec,
    out: Path,
    *,
    searched: bool = False,
    trained=None,
):
    """Train ``spec`` on ``frame`` with a progress display (or take ``trained``, a result of
    ``train_with_display`` already), print the result, its scores, the verdict and the
    findings, write the bundle to ``out`` and, with ``--workspace``, keep the run there.
    ``searched``: the network is a search's winner (the verdict's advice differs).
    Returns the evaluation."""
    from layerlab.model.evaluate import evaluate
    from layerlab.model.export import write_bundle
    from layerlab.model.insights import run_diagnosis

    kept = _WorkspaceRun.begin(args.workspace, args.data, frame, spec) if args.workspace else None
    if trained is None:
        result = train_with_display(args, frame, spec, kept)
    else:
        result = trained
        if kept is not None:
            kept.store.append_epochs(kept.run_id, result.history)
    print(result.message, file=sys.stderr)
    evaluation = evaluate(result)
    print(evaluation.headline(), file=sys.stderr)
    doubt = _doubt(result, evaluation)
    print(
        comparison_line(evaluation, searched=searched) if doubt is None else doubt,
        file=sys.stderr,
    )
    for line in _finding_lines(run_diagnosis(result)):
        print(line, file=sys.stderr)
    rare = evaluation.imbalance_headline()
    if rare is not None:
        weights = "" if spec.class_weight == "balanced" else " Try --class-weight balanced."
        print(rare + weights, file=sys.stderr)
    with writing("the bundle", out, "Choose another folder with --out."):
        write_bundle(result, evaluation, out)
    print(f"Bundle written to {out}/ (try: python {out}/predict.py NEW.csv)", file=sys.stderr)
    if kept is not None:
        kept.finish(result, evaluation)
        print(f"Run kept in the workspace {args.workspace}/ as {kept.run_id}.", file=sys.stderr)
    return evaluation


def _finding_lines(findings: list[Diagnosis]) -> list[str]:
    """What the learning curves say, one line per finding (``report.diagnosis``), with the
    change its button makes in the app; the same findings as the bundle's metrics.json."""
    lines = []
    for finding in findings:
        label = finding.action_label
        lines.append(finding.sentence + (f" Try: {label[:1].lower()}{label[1:]}." if label else ""))
    return lines


def _both(display, kept):
    """One event handler that feeds the progress display and the workspace's record."""
    handlers = [handler for handler in (display, kept) if handler is not None]
    if not handlers:
        return None

    def handle(event) -> None:
        for handler in handlers:
            handler(event)

    return handle


class _WorkspaceRun:
    """A CLI run kept in a workspace folder as the app keeps its runs: record, epochs, files."""

    def __init__(self, store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    @classmethod
    def begin(cls, folder: str, data_path: str, frame, spec: ModelSpec) -> _WorkspaceRun:
        """Keep the table and a run record through the workspace service, as the app does."""

        service = WorkspaceService(WorkspaceStore(folder))
        path = Path(data_path)
        record = service.start_local_run(frame, path.name, path.read_bytes(), spec)
        return cls(service.store, record.id)

    def __call__(self, event) -> None:
        from layerlab.model.train import EpochEnd

        if isinstance(event, EpochEnd):
            self.store.append_epochs(self.run_id, [{"epoch": event.epoch, **event.metrics}])

    def finish(self, result, evaluation) -> None:
        from layerlab.model.jobs import keep_files

        trained = keep_files(result, self.store.run_folder(self.run_id), evaluation)
        keep_run(self.store, self.run_id, trained, outcome_status(result.stop_reason))

    def failed(self, error: BaseException) -> None:

        reason = (
            "Interrupted from the keyboard." if isinstance(error, KeyboardInterrupt) else str(error)
        )
        self.store.update_run(self.run_id, status="failed", finished=time.time(), error=reason)


def _doubt(result, evaluation) -> str | None:
    """The Results page's question about a score close to perfect, or None."""

    if not close_to_perfect(evaluation):
        return None
    suspect = strongest_feature(result.splits.train, result.spec)
    if suspiciously_good(evaluation, suspect):
        return too_good_sentence(evaluation, suspect)
    return baseline_too_good_sentence(evaluation, suspect)


def _epoch_display(patience: int) -> EpochBar | EpochLines:
    from rich.console import Console

    return epoch_display(Console(stderr=True), patience)


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40] or "model"
