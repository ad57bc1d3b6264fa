"""What is worked out about a trained model once, where it is kept: which columns matter, what
its curves say, its model card, and the plain Keras script that trains it again.

Computed in the process that trained the run (a worker, or the CLI), so the Results
page and the bundle only read files: ``importance.csv``, ``MODEL_CARD.md`` and
``train.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from layerlab.model.code_export import train_script
from layerlab.model.importance import permutation_importances
from layerlab.model.train import TrainingResult
from layerlab.report.diagnosis import Diagnosis, diagnose
from layerlab.report.model_card import CardFacts, bootstrap_intervals, card_markdown
from layerlab.schema.errors import DataError
from layerlab.tabular.data import profile_columns
from layerlab.tabular.evaluation import BASELINE_NAMES, Evaluation
from layerlab.tabular.importance_report import importance_csv
from layerlab.tabular.too_good import suspiciously_good, too_good_sentence

INSIGHT_FILES = {
    "importance": "importance.csv",
    "card": "MODEL_CARD.md",
    "train_script": "train.py",
}


@dataclass(frozen=True)
class Insights:
    """Each file's text, by its role in ``INSIGHT_FILES``."""

    importance: pd.DataFrame
    card: str
    train_script: str  # plain pandas + Keras: ``python train.py DATA.csv``

    def files(self) -> dict[str, bytes]:
        """File name -> bytes, to write beside the model and into the bundle."""
        return {
            INSIGHT_FILES["importance"]: importance_csv(self.importance),
            INSIGHT_FILES["card"]: self.card.encode("utf-8"),
            INSIGHT_FILES["train_script"]: self.train_script.encode("utf-8"),
        }


def run_insights(
    result: TrainingResult,
    evaluation: Evaluation,
    leak_suspect=None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> Insights | None:
    """Work out the insights of a run that has a kept epoch and a test evaluation; None when
    ``should_stop()`` turns true first (asked between the parts and inside the long ones:
    importance's copies, the bootstrap's blocks), so Stop is heard within a fraction of a
    second and the run is kept without them."""

    def stopped() -> bool:
        return should_stop is not None and should_stop()

    spec = result.spec
    importance = permutation_importances(result, should_stop=should_stop)
    if stopped():
        return None
    try:
        left_out = left_out_reasons(result, should_stop=should_stop)
    except DataError:
        if stopped():  # profiling heard Stop between columns
            return None
        raise
    intervals = bootstrap_intervals(
        evaluation.predictions,
        evaluation.task,
        evaluation.classes,
        seed=spec.seed or 0,
        should_stop=should_stop,
    )
    if stopped():
        return None
    diagnoses = run_diagnosis(result)
    facts = CardFacts(
        target=spec.target,
        task=spec.task,
        network=spec.describe(),
        rows={
            "train": len(result.splits.train),
            "validation": len(result.splits.validation),
            "test": len(result.splits.test),
        },
        used=[(feature.name, feature.kind) for feature in spec.features],
        left_out=left_out,
        intervals=intervals,
        baselines=evaluation.baselines,
        importance=importance,
        diagnoses=[finding.sentence for finding in diagnoses],
        warnings=_warnings(evaluation, leak_suspect),
    )
    return Insights(
        importance=importance, card=card_markdown(facts), train_script=train_script(spec)
    )


def run_diagnosis(result: TrainingResult) -> list[Diagnosis]:
    """What the run's learning curves say: the findings the app shows beside them (the same
    ``diagnose`` of the same history), which metrics.json, the model card and the CLI repeat."""
    return diagnose(
        result.history,
        naive_val_loss=result.naive_val_loss,
        stop_reason=result.stop_reason,
        spec=result.spec,
    )


def left_out_reasons(
    result: TrainingResult, *, should_stop: Callable[[], bool] | None = None
) -> dict[str, str]:
    """Each column of the table the model does not read, and why.

    Only those columns are profiled (with the target, for the leak checks), so the
    cost follows the columns left out, not the table. ``should_stop`` is asked
    between columns (``data.profile_columns`` raises ``DataError`` once it says yes).
    """
    spec, train = result.spec, result.splits.train
    used = {feature.name for feature in spec.features} | {spec.target}
    left = [name for name in train.columns if name not in used]
    if not left:
        return {}
    profiles = profile_columns(train[[*left, spec.target]], spec.target, should_stop)
    reasons = {}
    for profile in profiles:
        if profile.name not in left:
            continue
        reasons[profile.name] = (
            profile.reason if profile.role == "ignore" else "Left out by choice on the Data page."
        )
    return reasons


def _warnings(evaluation: Evaluation, leak_suspect) -> list[str]:
    warnings = []
    imbalance = evaluation.imbalance_headline()
    if imbalance:
        warnings.append(imbalance)
    if suspiciously_good(evaluation, leak_suspect):
        warnings.append(too_good_sentence(evaluation, leak_suspect))
    names = BASELINE_NAMES[evaluation.task]
    _, _, label = evaluation.headline_metric()
    for key, beaten in evaluation.beats_baselines().items():
        if not beaten:
            warnings.append(f"The network's {label} is not better than {names[key]}.")
    return warnings
