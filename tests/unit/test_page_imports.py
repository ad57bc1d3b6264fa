"""The page scripts are not a package, so import-linter cannot see them: their imports are read
here, and held to the same contract as the app's helpers (no model, no CLI, no Keras)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parents[2] / "app_pages").glob("*.py"))
FORBIDDEN = ("layerlab.model", "layerlab.cli", "keras", "tensorflow")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_page_is_read():
    assert {page.stem for page in PAGES} == {"data", "model", "train", "results", "runs"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_a_page_imports_only_what_the_server_may(page):
    reached = {
        name
        for name in imported_modules(page)
        for forbidden in FORBIDDEN
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert not reached, f"{page.name} imports {sorted(reached)}"
