"""Code export: a plain Keras ``train.py`` that trains a spec's network again, without Layerlab.

The script is ``layerlab/templates/train_script.py``, a real, runnable file
(its own settings are those of ``data/customer_churn.csv``), shipped as it is
but for its CONFIG block, which ``train_script`` writes from the spec as
readable Python literals. What the script does, and where it differs from
Layerlab, is in its docstring. It needs pandas and Keras on TensorFlow: it
draws Layerlab's split (``tabular.splits.split_frame``) as scikit-learn's
``train_test_split`` does, in numpy, and Layerlab's preprocessing with the same Keras
layers (``build.build_model``), learned from the training rows only, so its
saved model reads raw columns as Layerlab's does.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from layerlab.model.build import SMOOTH_CLIP, TRUE_WORDS
from layerlab.model.engine import WARMUP_SHARE
from layerlab.schema.encoding import MAX_CATEGORIES, PIECEWISE_BINS
from layerlab.schema.spec import ModelSpec

TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "train_script.py"
CONFIG_START = "# --- CONFIG"
CONFIG_END = "# --- end of CONFIG ---"


def train_script(spec: ModelSpec) -> str:
    """The source of ``train.py`` for ``spec``: ``python train.py DATA.csv [--out model.keras]``.

    Raises ``SpecError`` for an invalid spec, as training would.
    """
    spec.validate()
    lines = TEMPLATE_PATH.read_text(encoding="utf-8").splitlines()
    start = next(at for at, line in enumerate(lines) if line.startswith(CONFIG_START))
    end = lines.index(CONFIG_END)
    return "\n".join([*lines[: start + 1], *config_lines(spec), *lines[end:]]) + "\n"


def config_lines(spec: ModelSpec) -> list[str]:
    """The script's CONFIG block for ``spec``, one line of source each."""
    activation, loss = spec.resolved_output()
    features = [f"    ({_literal(f.name)}, {_literal(f.kind)})," for f in spec.features]
    layers = [f"    {_literal(layer.to_dict())}," for layer in spec.layers]
    return [
        f"TARGET = {_literal(spec.target)}  # the column to predict",
        f'TASK = {_literal(spec.task)}  # "regression", "binary" (two classes) or "multiclass"',
        '# The columns the network reads, and how: "numeric" (standardized), "categorical"',
        '# (one-hot) or "boolean" (1 for a true-like value, else 0).',
        "FEATURES = [",
        *features,
        "]",
        "# The hidden layers, in order; the output layer follows them.",
        *(["LAYERS = [", *layers, "]"] if layers else ["LAYERS = []"]),
        f"OUTPUT_ACTIVATION = {_literal(activation)}",
        f"LOSS = {_literal(loss)}",
        f"CLASS_WEIGHT = {_literal(spec.class_weight)}"
        '  # "balanced": every class weighs the same in the loss, however rare',
        f"OPTIMIZER = {_literal(spec.optimizer)}",
        f"LEARNING_RATE = {_literal(spec.learning_rate)}",
        f'MOMENTUM = {_literal(spec.momentum)}  # used by "sgd" only',
        f"BETA_2 = {_literal(spec.beta_2)}"
        '  # Adam\'s decay of its squared gradients (used by "adam", "adamw", "nadam")',
        f"WEIGHT_DECAY = {_literal(spec.weight_decay)}"
        "  # each step shrinks every weight by learning rate x this",
        f"LR_SCHEDULE = {_literal(spec.lr_schedule)}"
        '  # "cosine": warm up, then decay to 0 at the last epoch',
        f"WARMUP_SHARE = {_literal(WARMUP_SHARE)}  # of all planned steps, for the cosine schedule",
        f"LABEL_SMOOTHING = {_literal(spec.label_smoothing)}"
        "  # share of each class label spread over all classes in training",
        f"SCALING = {_literal(spec.scaling)}"
        '  # numbers: "standard" (mean, std) or "robust" (median, IQR, smooth clip)',
        f"SMOOTH_CLIP = {_literal(SMOOTH_CLIP)}  # robust scaling squashes values towards +-this",
        f"NUMERIC_EMBEDDING = {_literal(spec.numeric_embedding)}"
        '  # "piecewise": also encode each number over quantile bins',
        f"PIECEWISE_BINS = {PIECEWISE_BINS}",
        f"ENSEMBLE = {_literal(spec.ensemble)}"
        "  # networks trained side by side from their own starting weights, then averaged",
        f"BATCH_SIZE = {_literal(spec.batch_size)}",
        f"EPOCHS = {_literal(spec.epochs)}",
        f"PATIENCE = {_literal(spec.patience)}"
        "  # epochs without a better validation loss before stopping (0: never stop early)",
        f"LR_PLATEAU_FACTOR = {_literal(spec.lr_plateau_factor)}"
        "  # rate x this after PATIENCE // 2 epochs without progress (1: never)",
        f"REFIT = {_literal(spec.refit)}"
        "  # then a fresh network on training + validation rows for the epochs chosen",
        f"RESTORE_BEST_WEIGHTS = {_literal(spec.restore_best_weights)}"
        "  # keep the weights of the epoch with the best validation loss",
        f"TEST_SPLIT = {_literal(spec.test_split)}"
        "  # share of the rows held out to report on, never trained on",
        f"VALIDATION_SPLIT = {_literal(spec.validation_split)}"
        "  # share of the rows that choose the epoch (early stopping)",
        f"SEED = {_literal(spec.seed)}",
        f"MAX_CATEGORIES = {MAX_CATEGORIES}"
        "  # a column keeps its most frequent categories; the rest share one slot",
        f"TRUE_WORDS = {_literal(tuple(sorted(TRUE_WORDS)))}",
    ]


def _literal(value: object) -> str:
    """``value`` as Python source, strings in double quotes as ``ruff format`` writes them."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)  # JSON's escapes are Python's too
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only Python's escape can write it
            return repr(value)
        return text if ast.literal_eval(text) == value else repr(value)
    if isinstance(value, dict):
        items = ", ".join(f"{_literal(key)}: {_literal(item)}" for key, item in value.items())
        return "{" + items + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_literal, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(map(_literal, value)) + "]"
    return repr(value)  # numbers, booleans and None: the spec's validate() allows no others
