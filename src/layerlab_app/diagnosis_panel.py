"""What the learning curves say, next to them: one sentence per finding, and a button that
makes the suggested change on a copy of the run's settings (the run itself is kept).

A fix that a better run of the workspace contradicts is not offered (``contradictions``):
the bundle's metrics.json keeps the run's own findings, made when it trained."""

from __future__ import annotations

import streamlit as st

from layerlab.report.contradictions import withdraw_contradicted
from layerlab.report.diagnosis import diagnose
from layerlab.schema.spec import ModelSpec
from layerlab.schema.vocabulary import DiagnosisKind
from layerlab_app import state
from layerlab_app.text import md

# A finding that says something went wrong is a warning; the rest are for information.
_INFO_KINDS = frozenset({DiagnosisKind.EARLY_STOPPING, DiagnosisKind.LEARNING_RATE_TOO_LOW})


def render(
    history: list[dict[str, float]],
    *,
    spec: ModelSpec,
    naive_val_loss: float | None,
    stop_reason: str | None,
    run_id: str | None,
    key: str,
) -> None:
    """Draw the diagnosis of ``history``, run ``run_id``'s (a run still training has
    ``stop_reason`` None); a fix is made on a copy of its settings, on its table.

    ``key`` keeps the buttons of the live view and of the finished run apart.
    """
    done = state.fix_done()
    if done is not None:
        st.success(md(done))
    findings = diagnose(history, naive_val_loss=naive_val_loss, stop_reason=stop_reason, spec=spec)
    # Checked once the run is kept (its rows are counted then), not on every live redraw.
    if stop_reason is not None and run_id is not None and any(f.action for f in findings):
        record = state.store().run(run_id)
        if record is not None:
            findings = withdraw_contradicted(findings, record, state.store().runs())
    if not findings and stop_reason is not None:
        st.caption(
            "Nothing stands out in the learning curves: no sign of overfitting, of a learning "
            "rate that is too high or too low, or of a plateau."
        )
    for finding in findings:
        box = st.container(border=True)
        show = box.info if finding.kind in _INFO_KINDS else box.warning
        show(md(finding.sentence), icon=":material/troubleshoot:")
        if finding.action is not None:
            box.button(
                finding.action_label,
                key=f"{key}_fix_{finding.kind}",
                on_click=state.apply_fix,
                args=(run_id, spec, finding),
                help="Changes a copy of this run's settings; press Train to try it.",
            )
