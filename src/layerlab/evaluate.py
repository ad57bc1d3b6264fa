"""Test-set metrics, and baselines on the same split, so a user sees whether the network earns its keep.

The naive baseline predicts the training mean (numbers) or the most common
training class; the linear baseline is scikit-learn's linear or logistic
regression fitted on the model's own preprocessing of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from layerlab.build import predict_frame
from layerlab.reading import as_category_text, as_numeric
from layerlab.train import TrainingResult, preprocess

# For each task: the headline metric, whether higher is better, and its plain name.
HEADLINE = {
    "regression": ("mae", False, "mean absolute error"),
    "binary": ("accuracy", True, "accuracy"),
    "multiclass": ("accuracy", True, "accuracy"),
}
BASELINE_NAMES = {
    "regression": {"naive": "always predicting the training mean", "linear": "linear regression"},
    "binary": {
        "naive": "always guessing the most common class",
        "linear": "logistic regression",
    },
    "multiclass": {
        "naive": "always guessing the most common class",
        "linear": "logistic regression",
    },
}


@dataclass
class Evaluation:
    task: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    predictions: pd.DataFrame  # test rows: actual, predicted (+ probabilities for classes)
    confusion: pd.DataFrame | None = None  # rows: actual class, columns: predicted class
    roc: dict[str, pd.DataFrame] = field(default_factory=dict)  # class -> fpr/tpr curve

    def to_dict(self) -> dict[str, object]:
        """Plain values for metrics.json."""
        out: dict[str, object] = {"task": self.task, "test": self.metrics}
        out["baselines"] = self.baselines
        if self.confusion is not None:
            out["confusion_matrix"] = {
                "labels": [str(label) for label in self.confusion.index],
                "matrix": self.confusion.to_numpy().tolist(),
            }
        return out

    def headline(self) -> str:
        """One plain sentence comparing the network with its baselines."""
        name, _, label = HEADLINE[self.task]
        names = BASELINE_NAMES[self.task]
        text = f"The network's {label} on the test set is {self.metrics[name]:.3g}"
        parts = [
            f"{names[key]} gives {values[name]:.3g}"
            for key, values in self.baselines.items()
            if name in values
        ]
        if parts:
            text += "; " + "; ".join(parts)
        better = "higher" if HEADLINE[self.task][1] else "lower"
        return text + f" ({better} is better)."

    def beats_baselines(self) -> dict[str, bool]:
        name, higher, _ = HEADLINE[self.task]
        mine = self.metrics[name]
        return {
            key: (mine > values[name]) if higher else (mine < values[name])
            for key, values in self.baselines.items()
        }


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "r2": float(r2_score(actual, predicted)) if len(actual) > 1 else float("nan"),
    }


def classification_metrics(
    actual: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> dict[str, float]:
    """Metrics from true class indices and per-class probabilities."""
    from sklearn.metrics import (
        accuracy_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    labels = list(range(len(classes)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        actual, predicted, labels=labels, average="macro", zero_division=0
    )
    probabilities = np.clip(probabilities, 1e-7, 1.0)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    metrics = {
        "accuracy": float(accuracy_score(actual, predicted)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "log_loss": float(log_loss(actual, probabilities, labels=labels)),
    }
    present = np.unique(actual)
    if len(present) < 2:
        metrics["roc_auc"] = float("nan")
    elif len(classes) == 2:
        metrics["roc_auc"] = float(roc_auc_score(actual, probabilities[:, 1]))
    elif len(present) == len(classes):
        metrics["roc_auc"] = float(
            roc_auc_score(actual, probabilities, multi_class="ovr", labels=labels)
        )
    else:
        metrics["roc_auc"] = float("nan")  # one-vs-rest needs every class in the test set
    return metrics


def evaluate(result: TrainingResult) -> Evaluation:
    """Score the trained model and both baselines on the held-out test split."""
    spec, built = result.spec, result.built
    train, test = result.splits.train, result.splits.test
    if len(test) == 0:
        raise ValueError("The test split is empty; the trainer guarantees at least one row.")
    outputs = predict_frame(built, test)
    x_train, x_test = preprocess(built, train), preprocess(built, test)

    if spec.task == "regression":
        actual = as_numeric(test[spec.target]).astype(float)
        y_train = as_numeric(train[spec.target]).astype(float)
        from sklearn.linear_model import LinearRegression

        linear = LinearRegression().fit(x_train, y_train).predict(x_test)
        predictions = pd.DataFrame(
            {"actual": actual, "predicted": outputs, "residual": actual - outputs}
        )
        return Evaluation(
            task=spec.task,
            metrics=regression_metrics(actual, outputs),
            baselines={
                "naive": regression_metrics(actual, np.full_like(actual, y_train.mean())),
                "linear": regression_metrics(actual, linear),
            },
            predictions=predictions,
        )

    classes = built.classes
    index = {label: position for position, label in enumerate(classes)}
    actual = np.array([index[text] for text in as_category_text(test[spec.target])])
    y_train = np.array([index[text] for text in as_category_text(train[spec.target])])
    naive = np.zeros((len(test), len(classes)))
    naive[:, np.bincount(y_train, minlength=len(classes)).argmax()] = 1.0
    predictions = pd.DataFrame(
        {
            "actual": [classes[i] for i in actual],
            "predicted": [classes[i] for i in outputs.argmax(axis=1)],
        }
    )
    for position, label in enumerate(classes):
        predictions[f"probability_{label}"] = outputs[:, position]
    return Evaluation(
        task=spec.task,
        metrics=classification_metrics(actual, outputs, classes),
        baselines={
            "naive": classification_metrics(actual, naive, classes),
            "linear": classification_metrics(
                actual, _logistic_probabilities(x_train, y_train, x_test, len(classes)), classes
            ),
        },
        predictions=predictions,
        confusion=_confusion(actual, outputs.argmax(axis=1), classes),
        roc=_roc_curves(actual, outputs, classes),
    )


def _logistic_probabilities(x_train, y_train, x_test, n_classes: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    probabilities = np.zeros((len(x_test), n_classes))
    probabilities[:, model.classes_] = model.predict_proba(x_test)
    return probabilities


def _confusion(actual, predicted, classes) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(actual, predicted, labels=list(range(len(classes))))
    return pd.DataFrame(matrix, index=list(classes), columns=list(classes))


def _roc_curves(actual, probabilities, classes) -> dict[str, pd.DataFrame]:
    """ROC curve of the positive class (binary) or each class against the rest."""
    from sklearn.metrics import roc_curve

    curves = {}
    targets = [1] if len(classes) == 2 else range(len(classes))
    for position in targets:
        is_class = actual == position
        if is_class.all() or not is_class.any():
            continue
        fpr, tpr, _ = roc_curve(is_class, probabilities[:, position])
        curves[classes[position]] = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    return curves
