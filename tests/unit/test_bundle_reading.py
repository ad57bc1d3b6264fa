"""A bundle reads files exactly as training did, writes safe CSV, and refuses what Layerlab did not write.

One model is trained on a Windows-1252 file that holds what spreadsheets write
(accents, "$1,200", dates, one category in three spellings) and whose class
labels look like formulas. Its ``predict.py`` then runs in a fresh virtual
environment that has pandas and TensorFlow but not Layerlab.
"""

from __future__ import annotations

import io
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerlab.model.export import bundle_zip, load_bundle, write_bundle
from layerlab.model.scoring import score
from layerlab.schema.errors import BundleError
from layerlab.tabular.reading import read_csv

CITIES = ["Café du Nord", "Crème", "Zürich", "Montréal"]
LABELS = ["=1+1", "@SUM(A1)"]


def _spreadsheet_rows(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(CITIES, rows)
    price = rng.integers(100, 5000, rows)
    days = rng.integers(0, 700, rows)
    signup = pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    signal = (price > 2500).astype(int) + (city == "Crème")
    spelled = np.where(rng.random(rows) < 0.2, np.char.upper(city.astype(str)), city)
    return pd.DataFrame(
        {
            "city": spelled,
            "price": [f"${value:,}" for value in price],
            "signup": signup.strftime("%Y-%m-%d"),
            "label": np.where(signal > 0, LABELS[0], LABELS[1]),
        }
    )


def _cp1252_csv(frame: pd.DataFrame) -> bytes:
    data = frame.to_csv(index=False).encode("cp1252")
    assert b"\xe9" in data  # é, as Windows-1252 writes it: not valid UTF-8
    return data


@pytest.fixture(scope="module")
def trained_on_spreadsheet(tmp_path_factory):
    from layerlab.model.evaluate import evaluate
    from layerlab.model.train import train
    from layerlab.schema.spec import default_spec
    from layerlab.tabular.data import profile_columns

    frame = read_csv(_cp1252_csv(_spreadsheet_rows(200, seed=1)))
    assert frame["price"].dtype.kind == "f"
    spec = default_spec("label", "binary", profile_columns(frame, "label"))
    assert {"city", "price", "signup (year)", "signup (days since 1970)"} <= set(spec.feature_names)
    result = train(frame, spec.replace(epochs=5, patience=0))
    bundle = write_bundle(result, evaluate(result), tmp_path_factory.mktemp("bundle"))
    return result, bundle


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new virtual environment that sees pandas and TensorFlow, but not Layerlab.

    The installed packages are reached through a path file, which adds their
    folder to sys.path without running the path files in it: Layerlab's
    editable install is one of those, so it stays out.
    """
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(venv_site, "installed_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    check = subprocess.run([str(python), "-c", "import layerlab"], capture_output=True, text=True)
    assert check.returncode != 0 and "No module named 'layerlab'" in check.stderr
    return python


def _run_predict(python: Path, bundle: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), str(bundle / "predict.py"), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_a_cp1252_spreadsheet_trains_and_its_bundle_predicts_it_in_a_fresh_venv(
    trained_on_spreadsheet, fresh_venv, tmp_path
):
    result, bundle = trained_on_spreadsheet
    new = _spreadsheet_rows(12, seed=2).drop(columns=["label"])
    new.loc[0, "city"] = "CAFÉ DU NORD"  # a spelling this file has but training did not
    (tmp_path / "new.csv").write_bytes(_cp1252_csv(new))

    done = _run_predict(fresh_venv, bundle, tmp_path / "new.csv")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    standalone = pd.read_csv(io.StringIO(done.stdout))
    expected = score(
        result.built.model, result.spec, result.classes, read_csv(tmp_path / "new.csv")
    )
    np.testing.assert_allclose(
        standalone["probability_=1+1"], expected["probability_=1+1"], rtol=1e-5, atol=1e-6
    )
    # The model sees the category, whatever its case: the same as its training spelling.
    same = new.copy()
    same.loc[0, "city"] = "Café du Nord"
    again = score(result.built.model, result.spec, result.classes, same.pipe(_reread))
    assert again["probability_=1+1"][0] == pytest.approx(expected["probability_=1+1"][0])


def _reread(frame: pd.DataFrame) -> pd.DataFrame:
    return read_csv(frame.to_csv(index=False).encode("utf-8"))


def test_class_labels_that_look_like_formulas_are_written_quoted(
    trained_on_spreadsheet, fresh_venv, tmp_path
):
    _, bundle = trained_on_spreadsheet
    (tmp_path / "new.csv").write_bytes(_cp1252_csv(_spreadsheet_rows(20, seed=3)))

    done = _run_predict(fresh_venv, bundle, tmp_path / "new.csv")

    assert done.returncode == 0, done.stderr[-3000:]
    cells = [cell for line in done.stdout.splitlines() for cell in line.split(",")]
    assert not [cell for cell in cells if cell.startswith(("=", "@", "+"))]
    assert set(pd.read_csv(io.StringIO(done.stdout))["prediction"]) <= {"'=1+1", "'@SUM(A1)"}


# --------------------------------------------------------------------------- untrusted bundles


def _lambda_model_file(result, path: Path) -> None:
    """A model.keras with the bundle's inputs and a Lambda layer: code that runs on load."""
    import keras

    inputs = {
        name: keras.Input(shape=(1,), name=tensor.name, dtype=tensor.dtype)
        for name, tensor in zip(result.spec.feature_names, result.built.model.inputs, strict=True)
    }
    numbers = [tensor for tensor in inputs.values() if tensor.dtype == "float32"]
    output = keras.layers.Lambda(lambda x: x * 0 + 1)(numbers[0])
    keras.Model(inputs, output).save(path)


@pytest.fixture
def copied_bundle(trained_on_spreadsheet, tmp_path) -> Path:
    _, bundle = trained_on_spreadsheet
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def test_a_bundle_with_a_lambda_layer_is_refused_for_safety(
    trained_on_spreadsheet, copied_bundle, fresh_venv, tmp_path
):
    result, _ = trained_on_spreadsheet
    _lambda_model_file(result, copied_bundle / "model.keras")
    with pytest.raises(BundleError, match="was not loaded, for your safety"):
        load_bundle(copied_bundle)

    (tmp_path / "new.csv").write_bytes(_cp1252_csv(_spreadsheet_rows(3, seed=4)))
    done = _run_predict(fresh_venv, copied_bundle, tmp_path / "new.csv")
    assert done.returncode == 1
    assert done.stderr.startswith('error: "model.keras" was not loaded, for your safety')
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_truncated_model_file_is_refused_plainly(copied_bundle):
    data = (copied_bundle / "model.keras").read_bytes()
    (copied_bundle / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="corrupt, truncated"):
        load_bundle(copied_bundle)


def test_a_spec_that_does_not_match_the_model_is_refused(copied_bundle):
    spec = (copied_bundle / "spec.json").read_text()
    (copied_bundle / "spec.json").write_text(spec.replace('"price"', '"cost"'))
    with pytest.raises(BundleError, match=r"does not match the bundle's spec\.json"):
        load_bundle(copied_bundle)


def test_a_spec_that_is_not_json_is_refused(copied_bundle):
    (copied_bundle / "spec.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"spec\.json in the bundle is not valid JSON"):
        load_bundle(copied_bundle)


def test_a_zipped_bundle_loads_as_the_folder_does(trained_on_spreadsheet, tmp_path):
    result, _ = trained_on_spreadsheet
    from layerlab.model.evaluate import evaluate

    archive = tmp_path / "bundle.zip"
    archive.write_bytes(bundle_zip(result, evaluate(result)))
    loaded = load_bundle(archive)
    assert loaded.spec == result.spec
    assert loaded.classes == result.classes


def test_a_damaged_zip_is_refused(trained_on_spreadsheet, tmp_path):
    _, bundle = trained_on_spreadsheet
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model.keras", b"not a model")
        for name in ("spec.json", "classes.json"):
            out.write(bundle / name, arcname=name)
    with pytest.raises(BundleError, match="not a Keras model file"):
        load_bundle(archive)


def test_the_bundle_readme_python_recipe_runs_without_layerlab(
    trained_on_spreadsheet, fresh_venv, tmp_path
):
    _, bundle = trained_on_spreadsheet
    readme = (bundle / "README.md").read_text()
    recipe = readme.split("or in Python", 1)[1].split("\n\n", 2)[1]
    code = "\n".join(line.removeprefix("    ") for line in recipe.splitlines())
    (bundle / "new.csv").write_bytes(_cp1252_csv(_spreadsheet_rows(4, seed=5)))
    done = subprocess.run(
        [str(fresh_venv), "-c", code + "\nprint(outputs.shape)"],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    (bundle / "new.csv").unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("(4, 1)")
