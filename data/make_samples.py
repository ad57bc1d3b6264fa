"""Write the sample CSVs in this folder; running it again gives byte-identical files.

    python data/make_samples.py

The real datasets come from the copies that ship inside scikit-learn (``load_*``,
no download). The generated ones use a fixed seed; their formulas are written
out below and in data/README.md, so what a model should find is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris, load_wine

HERE = Path(__file__).resolve().parent
SEED = 20240501


def write(frame: pd.DataFrame, name: str) -> None:
    frame.to_csv(HERE / name, index=False, lineterminator="\n")


def celsius_fahrenheit() -> pd.DataFrame:
    """The first lesson of many Keras courses: learn F = 1.8 C + 32 from examples."""
    rng = np.random.default_rng(SEED)
    celsius = np.round(rng.uniform(-40, 100, size=40), 1)
    fahrenheit = np.round(celsius * 1.8 + 32, 2)
    return pd.DataFrame({"celsius": celsius, "fahrenheit": fahrenheit})


def iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length_cm",
            "sepal width (cm)": "sepal_width_cm",
            "petal length (cm)": "petal_length_cm",
            "petal width (cm)": "petal_width_cm",
        }
    )
    frame["species"] = data.target_names[frame.pop("target")]
    return frame


def diabetes() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(
        columns={
            "bp": "blood_pressure",
            "s1": "total_cholesterol",
            "s2": "ldl",
            "s3": "hdl",
            "s4": "cholesterol_hdl_ratio",
            "s5": "log_triglycerides",
            "s6": "blood_sugar",
            "target": "disease_progression",
        }
    )


def wine() -> pd.DataFrame:
    data = load_wine(as_frame=True)
    frame = data.frame.rename(
        columns={
            "od280/od315_of_diluted_wines": "od280_od315_of_diluted_wines",
        }
    )
    frame["cultivar"] = data.target_names[frame.pop("target")]
    return frame


def customer_churn(rows: int = 1500) -> pd.DataFrame:
    """A made-up subscription business whose customers leave for known reasons.

    churned = "yes" with probability sigmoid(z), where
        z = -1.6
            + 1.5 * (contract == "month-to-month") - 1.0 * (contract == "two-year")
            - 0.04 * (tenure_months - 24)
            + 0.03 * (monthly_charges - 70)
            + 0.5 * (support_calls - 2)
            + 0.6 * (payment_method == "electronic check")
            + 0.3 * (paperless_billing == "yes")
            + noise, noise ~ Normal(0, 0.5)
    age and region have no effect. About 5% of support_calls and of payment_method
    are then blanked at random (after the label is drawn).
    """
    rng = np.random.default_rng(SEED)
    contract = rng.choice(
        ["month-to-month", "one-year", "two-year"], size=rows, p=[0.55, 0.25, 0.20]
    )
    longest = {"month-to-month": 40, "one-year": 60, "two-year": 72}
    tenure_months = np.array(
        [rng.integers(1, longest[kind] + 1) for kind in contract], dtype=np.int64
    )
    plan_price = rng.choice([25.0, 55.0, 85.0, 105.0], size=rows, p=[0.2, 0.35, 0.3, 0.15])
    monthly_charges = np.round(plan_price + rng.normal(0, 6, size=rows), 2)
    support_calls = rng.poisson(1.8, size=rows)
    payment_method = rng.choice(
        ["electronic check", "mailed check", "bank transfer", "credit card"],
        size=rows,
        p=[0.35, 0.2, 0.25, 0.2],
    )
    paperless_billing = rng.choice(["yes", "no"], size=rows, p=[0.6, 0.4])
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    age = rng.integers(18, 80, size=rows)

    z = (
        -1.6
        + 1.5 * (contract == "month-to-month")
        - 1.0 * (contract == "two-year")
        - 0.04 * (tenure_months - 24)
        + 0.03 * (monthly_charges - 70)
        + 0.5 * (support_calls - 2)
        + 0.6 * (payment_method == "electronic check")
        + 0.3 * (paperless_billing == "yes")
        + rng.normal(0, 0.5, size=rows)
    )
    churned = np.where(rng.random(rows) < 1 / (1 + np.exp(-z)), "yes", "no")

    frame = pd.DataFrame(
        {
            "customer_id": [f"CUST-{number:05d}" for number in rng.permutation(rows) + 10001],
            "age": age,
            "region": region,
            "contract": contract,
            "tenure_months": tenure_months,
            "monthly_charges": monthly_charges,
            "support_calls": support_calls.astype("float64"),
            "payment_method": payment_method.astype(object),
            "paperless_billing": paperless_billing,
            "churned": churned,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "support_calls"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "payment_method"] = np.nan
    # Written as whole numbers with blanks, the way a spreadsheet would save them.
    frame["support_calls"] = frame["support_calls"].astype("Int64")
    return frame


def main() -> None:
    write(celsius_fahrenheit(), "celsius_fahrenheit.csv")
    write(iris(), "iris.csv")
    write(diabetes(), "diabetes.csv")
    write(wine(), "wine.csv")
    write(customer_churn(), "customer_churn.csv")


if __name__ == "__main__":
    main()
