"""The reading modules a bundle ships as ``layerlab_reading/`` work where Layerlab is not installed."""

from __future__ import annotations

import ast
import io
import re
import sys

import pandas as pd

from layerlab.model.export import (
    PREDICT_SCRIPT_SOURCE,
    READING_MODULES,
    READING_SOURCES,
    reading_package,
)
from layerlab.tabular import bundle_reading
from layerlab.tabular.reading import read_csv
from layerlab.tabular.writing import write_csv

SHIPPED = {name.removesuffix(".py") for name in READING_MODULES}
# What a bundle may rely on besides its own files: Keras and TensorFlow come with the model.
AVAILABLE = {"numpy", "pandas", "keras"}

SPREADSHEET_CSV = (
    "city;price;signup;share\n"
    "Café du Nord;$1.200,50;2024-03-01;12%\n"
    "CAFÉ DU NORD ;(3,25 €);2024-03-02;NA\n"
    "=HYPERLINK(1);1.000;2024-03-04;7,5%\n"
).encode("cp1252")

READ_AND_WRITE = """
sys.path.insert(0, ".")  # the folder that holds layerlab_reading/, as predict.py does
import layerlab_reading as reading
frame = reading.read_csv(sys.argv[1], max_bytes=None)
reading.write_csv(frame, sys.stdout)
assert sys.modules["layerlab"] is None
"""


def _imports(name: str) -> list[tuple[ast.ImportFrom | ast.Import, bool]]:
    """Every import of a shipped module, and whether it is guarded by ``except ImportError``."""
    tree = ast.parse((READING_SOURCES / name).read_text(encoding="utf-8"))
    guarded = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.Try)
        and any(
            isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
            for handler in block.handlers
        )
        for statement in block.body
        for node in ast.walk(statement)
    }
    return [
        (node, id(node) in guarded)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]


def test_shipped_modules_import_only_each_other_and_what_a_bundle_has():
    for name in ("bundle_reading.py", *READING_MODULES):
        for node, guarded in _imports(name):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module in SHIPPED, (
                    f"{name} imports .{node.module}, which is not shipped"
                )
                continue
            modules = [node.module] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                top = module.split(".")[0]
                assert (
                    top in sys.stdlib_module_names
                    or top in AVAILABLE
                    or top == "__future__"
                    # Optional, where guarded: Layerlab's own errors, and pyarrow for Parquet
                    # (without it, a Parquet file is refused with what to install).
                    or (top in ("layerlab", "pyarrow") and guarded)
                ), f"{name} imports {module}, which a bundle does not have"


def test_the_package_offers_every_name_predict_py_uses():
    used = set(re.findall(r"\breading\.(\w+)", PREDICT_SCRIPT_SOURCE.read_text()))
    assert used <= set(bundle_reading.__all__)
    assert {"read_csv", "model_inputs"} <= set(bundle_reading.__all__)  # the README's recipe


def test_the_shipped_package_reads_a_spreadsheet_file_as_layerlab_does_without_layerlab(
    run_without_layerlab, tmp_path
):
    package = tmp_path / "layerlab_reading"
    package.mkdir()
    for name, source in reading_package().items():
        (package / name).write_text(source, encoding="utf-8")
    (tmp_path / "new.csv").write_bytes(SPREADSHEET_CSV)

    done = run_without_layerlab(READ_AND_WRITE, "new.csv", cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    expected = read_csv(SPREADSHEET_CSV)
    assert expected["price"].tolist() == [1200.5, -3.25, 1000.0]
    assert done.stdout == write_csv(expected)
    assert pd.read_csv(io.StringIO(done.stdout))["city"].nunique() == 2
