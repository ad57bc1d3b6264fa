"""The model card: bootstrap intervals of the test scores, and the card's text."""

from __future__ import annotations

import string
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from sklearn.metrics import balanced_accuracy_score, log_loss, mean_absolute_error, r2_score

from layerlab.report.markdown import WORD_JOINER
from layerlab.report.model_card import CardFacts, Interval, bootstrap_intervals, card_markdown

# What GitHub and Streamlit both read of a MODEL_CARD.md, as in tests/app/test_text.py.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
IMAGE = "![p](http://127.0.0.1:9/x.png)"
# Names built from the characters and pieces that markup is made of.
HOSTILE_NAMES = (
    st.lists(
        st.sampled_from(["**", "`", "```", "<b>", "</b>", IMAGE, "[a](http://x)", "# ", "- ", "|"])
        | st.text(string.ascii_letters + string.punctuation + " ", min_size=1),
        min_size=1,
        max_size=4,
    )
    .map("".join)
    .filter(str.strip)
)


def regression_predictions(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    actual = rng.normal(50_000, 10_000, n)
    return pd.DataFrame({"actual": actual, "predicted": actual + rng.normal(0, 2_000, n)})


def class_predictions(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    classes = ("no", "yes", "maybe")
    probabilities = rng.dirichlet([1, 1, 1], n)
    actual = [classes[i] for i in rng.integers(0, 3, n)]
    frame = pd.DataFrame({"actual": actual})
    frame["predicted"] = [classes[i] for i in probabilities.argmax(axis=1)]
    for position, label in enumerate(classes):
        frame[f"probability_{label}"] = probabilities[:, position]
    return frame, classes


def test_regression_intervals_hold_scikit_learns_scores():
    predictions = regression_predictions()
    intervals = bootstrap_intervals(predictions, "regression")
    assert set(intervals) == {"mae", "rmse", "r2"}
    actual, predicted = predictions["actual"], predictions["predicted"]
    assert intervals["mae"].value == pytest.approx(mean_absolute_error(actual, predicted))
    assert intervals["r2"].value == pytest.approx(r2_score(actual, predicted))
    for interval in intervals.values():
        assert interval.low < interval.value < interval.high


def test_classification_intervals_hold_scikit_learns_scores():
    predictions, classes = class_predictions()
    intervals = bootstrap_intervals(predictions, "multiclass", classes)
    index = [classes.index(label) for label in predictions["actual"]]
    probabilities = predictions[[f"probability_{c}" for c in classes]].to_numpy()
    assert intervals["log_loss"].value == pytest.approx(
        log_loss(index, probabilities, labels=[0, 1, 2])
    )
    assert intervals["balanced_accuracy"].value == pytest.approx(
        balanced_accuracy_score(index, probabilities.argmax(axis=1))
    )
    assert 0 <= intervals["accuracy"].low < intervals["accuracy"].high <= 1


def test_more_test_rows_give_a_narrower_interval_and_a_seed_repeats_it():
    small = bootstrap_intervals(regression_predictions(100), "regression")["mae"]
    large = bootstrap_intervals(regression_predictions(4_000), "regression")["mae"]
    assert large.high - large.low < small.high - small.low
    again = bootstrap_intervals(regression_predictions(100), "regression")["mae"]
    assert again == small


def test_perfect_predictions_have_no_spread():
    actual = np.arange(50.0)
    exact = pd.DataFrame({"actual": actual, "predicted": actual})
    assert bootstrap_intervals(exact, "regression")["mae"] == Interval(0.0, 0.0, 0.0)


def test_the_card_has_each_section_in_readable_numbers():
    facts = CardFacts(
        target="price",
        task="regression",
        network="64 relu → 32 relu",
        rows={"train": 9_000, "validation": 2_250, "test": 2_812},
        used=[("area", "numeric"), ("city", "categorical")],
        left_out={"id": "It is a row number: every value is different."},
        intervals=bootstrap_intervals(regression_predictions(), "regression"),
        baselines={"naive": {"mae": 8_123.4, "rmse": 1.0e4, "r2": 0.0}},
        importance=pd.DataFrame(
            {"column": ["area", "city"], "importance": [3_021.5, 7.8e-5], "spread": [12.0, 0.0]}
        ).assign(score="MAE"),
        diagnoses=["Overfitting: the validation loss rose after epoch 12."],
        warnings=["The classes are imbalanced."],
    )
    card = card_markdown(facts)
    for heading in ("## Data", "## Test scores", "## Which columns matter", "## Warnings"):
        assert heading in card
    assert "14,062 rows with a target: 9,000 to train on" in card
    assert r"- `id`: It is a row number\: every value is different\." in card
    assert "a guess that ignores every column 8,123" in card
    assert "`area`: 3,022 ± 12" in card
    assert r"- Overfitting\: the validation loss rose after epoch 12\." in card
    assert "e+" not in card and "e-0" not in card


class _Rendered(HTMLParser):
    """The tags of rendered HTML, the text a reader sees, and the text of each ``code`` and
    ``strong`` element."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.text_nodes: list[str] = []
        self.inside: dict[str, list[str]] = {"code": [], "strong": []}
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in self.inside:
            self.open.append(tag)
            self.inside[tag].append("")

    def handle_endtag(self, tag):
        if tag in self.inside:
            self.open.remove(tag)

    def handle_data(self, data):
        self.text_nodes.append(data)
        for tag in self.open:
            self.inside[tag][-1] += data

    @property
    def text(self) -> str:
        return "".join(self.text_nodes).replace(WORD_JOINER, "")  # invisible


def hostile_facts(target: str, names: list[str], label: str) -> CardFacts:
    """A classification card whose every piece of data text is ``target``, ``names`` or
    ``label``, quoted where the app's own sentences quote them."""
    predictions, _ = class_predictions()
    return CardFacts(
        target=target,
        task="binary",
        network="Dense 64 relu → output sigmoid",
        rows={"train": 300, "validation": 75, "test": 94},
        used=[(name, "categorical") for name in names[:-1]],
        left_out={names[-1]: f'It has one value, "{label}".'},
        intervals=bootstrap_intervals(predictions, "multiclass", ("no", "yes", "maybe")),
        baselines={"naive": {"accuracy": 0.5}, label: {"accuracy": 0.6}},
        importance=pd.DataFrame(
            {"column": names[:-1], "importance": 0.1, "spread": 0.01, "score": "log loss"}
        ),
        diagnoses=[f"Overfitting: the validation loss of {label} rose after epoch 12."],
        warnings=[f'The classes are imbalanced: "{label}" is only 4.0% of the rows.'],
    )


def test_names_and_labels_from_the_data_show_as_typed_in_the_rendered_card():
    names = ["**total**", "a`b", "<b>", IMAGE, "[x](http://127.0.0.1:9/)"]
    label = IMAGE
    card = card_markdown(hostile_facts("**total**", names, label))
    rendered = _Rendered(MARKDOWN.render(card))
    assert not {"img", "a", "b", "em", "del", "table"} & set(rendered.tags)
    assert rendered.inside["strong"] == ["Intended use:", "Network:"]  # our words alone
    assert rendered.inside["code"] == [
        "**total**",
        "**total**",
        *names[:-1],
        names[-1],
        *names[:-1],
    ]
    assert f'It has one value, "{label}".' in rendered.text
    assert f'The classes are imbalanced: "{label}" is only 4.0% of the rows.' in rendered.text
    assert f"Overfitting: the validation loss of {label} rose after epoch 12." in rendered.text
    assert f"{label} 0.6" in rendered.text  # a baseline the card has no words for


@settings(max_examples=50, deadline=None)
@given(HOSTILE_NAMES, st.lists(HOSTILE_NAMES, min_size=2, max_size=4), HOSTILE_NAMES)
def test_any_name_or_label_leaves_the_card_its_own_shape(target, names, label):
    card = card_markdown(hostile_facts(target, names, label))
    rendered = _Rendered(MARKDOWN.render(card))
    assert set(rendered.tags) <= {"h1", "h2", "p", "ul", "li", "code", "strong", "br"}
    assert rendered.tags.count("h1") == 1
    assert rendered.tags.count("h2") == 5  # data, scores, columns, curves, warnings
    assert rendered.inside["strong"] == ["Intended use:", "Network:"]
    typed = [" ".join(name.split()) for name in (target, target, *names, *names[:-1])]
    assert rendered.inside["code"] == typed
