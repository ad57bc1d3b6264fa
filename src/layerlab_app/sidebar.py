"""The sidebar: where the user stands (data, target, network, last run) and the next step."""

from __future__ import annotations

import streamlit as st

from layerlab.schema.numbers import readable_number
from layerlab.schema.run_events import main_metric
from layerlab.schema.vocabulary import metric_words
from layerlab.tabular.task import describe_task
from layerlab_app import run_view, spec_view, state
from layerlab_app.journey import describe_run, next_step
from layerlab_app.text import code_name, md


def render(slot) -> None:
    """Draw the status into ``slot`` (an ``st.empty`` in the sidebar), replacing what was there."""
    with slot.container():
        st.markdown("#### Where you are")
        data = state.frame()
        if data is None:
            st.markdown("**Data:** none loaded yet")
        else:
            st.markdown(
                f"**Data:** {md(state.dataset_name())} · {len(data):,} rows × {data.shape[1]} columns"
            )
        target, info, spec = state.target(), state.target_info(), state.spec()
        if target is not None:
            task = f" · {describe_task(info.task)}" if info is not None else ""
            st.markdown(f"**Target:** {code_name(target)}{task}")
        if spec is not None and info is not None:
            st.markdown(f"**Network:** {spec.describe()}")
            st.caption(f"{len(spec.features)} features · {spec.optimizer}, {spec.epochs} epochs")
        training = state.following()
        if training is not None and training.active:
            table = state.store().table(training.table_id) if training.table_id else None
            elsewhere = table is not None and training.table_id != state.table_id()
            on = f" (on {md(table.name)})" if elsewhere else ""
            st.markdown(f"**Training:** {md(training.name)}{on}")
        trained = run_view.result()
        if trained is not None:
            metric = main_metric(trained.spec.task)
            line = describe_run(
                trained.history,
                trained.kept_epoch,
                trained.stop_reason,
                trained.spec.epochs,
                metric,
            )
            evaluation = trained.evaluation
            if evaluation is not None:
                line += (
                    f" Test {metric_words(metric)}: {readable_number(evaluation.metrics[metric])}."
                )
            st.markdown(f"**Last run:** {line}")
        step = next_step(
            has_data=data is not None,
            target=target,
            target_ok=info is not None,
            n_features=len(spec.features) if spec is not None else 0,
            spec_problems=len(spec_view.spec_problems(spec)),
            has_result=trained is not None,
            result_current=run_view.result_is_current(),
        )
        st.markdown(f"**Next:** {step.sentence}")
        st.page_link(step.page, label=f"Go to {step.label}", icon=":material/arrow_forward:")
