"""Workspace archives: a workspace goes out as a zip and comes back as data, within limits.

Each attack of issue 27 has a small version here: the archive is built in the test with
zipfile, refused with a plain WorkspaceError, and nothing is left in the workspaces folder.
"""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from layerlab.report.records import RunRecord
from layerlab.runs import archive, archive_settings
from layerlab.runs.archive import export_archive, import_archive
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import BundleError, WorkspaceError
from layerlab.tabular import reading
from layerlab.tabular.keras_file_check import check_keras_file
from layerlab.tabular.model_file import load_model_file
from layerlab.tabular.network_weights import check_network_file, read_network

CSV = b"age,city,bought\n31,paris,yes\n45,lyon,no\n"
EVALUATION = {
    "format_version": 1,
    "task": "regression",
    "metrics": {"mae": 1.0},
    "baselines": {},
    "predictions": {
        "columns": ["actual", "predicted"],
        "index": [0],
        "data": [[1.0, 2.0]],
        "dtypes": ["float64", "float64"],
    },
    "confusion": None,
    "roc": {},
    "precision_recall": {},
    "class_shares": {},
    "class_balance": None,
}


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory, make_table, table_spec) -> bytes:
    """A real Layerlab model.keras (built, not trained: the check reads its configuration)."""
    from layerlab.model.build import build_model

    spec = table_spec("regression", ensemble=2, numeric_embedding="piecewise", scaling="robust")
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_model(spec, make_table(60, "regression"), []).model.save(path)
    return path.read_bytes()


def network_npz(shape: tuple[int, int] = (3, 2), data: bytes | None = None) -> bytes:
    """A network.npz; with ``data``, the kernel's header declares ``shape`` but holds ``data``."""
    groups = np.array(json.dumps([["age", 1], ["city", 2]]))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, groups=groups, kernel_0=np.zeros(shape, "float32"))
    if data is None:
        return buffer.getvalue()
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    forged = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(forged, "w") as target:
        target.writestr("groups.npy", source.read("groups.npy"))
        target.writestr("kernel_0.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + data)
    return forged.getvalue()


def filled_workspace(folder: Path, spec, model: bytes) -> WorkspaceStore:
    """A workspace with a table, settings, a finished run with every file, a training run."""
    store = WorkspaceStore(folder)
    store.rename("Churn study")
    table = store.add_table("churn.csv", CSV, rows=2, columns=3)
    store.set_setting("session", {"table_id": table.id, "target": "bought", "following": None})
    store.set_setting("runs_started", 2)
    run = RunRecord(
        id=store.new_run_id(),
        name="First try",
        created=time.time(),
        spec=spec,
        status="finished",
        table_id=table.id,
        metrics={"r2": math.nan},
    )
    store.add_run(run)
    store.append_epochs(run.id, [{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": 0.6}])
    for role, data in (
        ("model", model),
        ("checkpoint", model),
        ("evaluation", json.dumps(EVALUATION).encode()),
        ("summary", json.dumps({"params": 10, "rows": [{"layer": "dense"}], "text": "x"}).encode()),
        ("importance", b'[{"column": "age", "importance": 0.5, "spread": 0.1, "score": 1.0}]'),
        ("effects", b'{"views": [{"view": ["age"], "rows": "abc", "predictions": [1.0, 2.0]}]}'),
        ("network", network_npz()),
        ("bundle", b"PK bundle with a predict.py"),
        ("train_script", b"import os; os.system('anything')"),
        ("card", b"# ![tracker](http://example.com/x.png)"),
    ):
        store.write_run_file(run.id, role, data, archive.RUN_FILES[role])
    store.add_run(
        RunRecord(
            id=store.new_run_id(),
            name="Still training",
            created=time.time(),
            spec=spec,
            status="training",
            owner="elsewhere:1:x",
        )
    )
    return store


@pytest.fixture
def exported(tmp_path, table_spec, model_bytes) -> bytes:
    return export_archive(filled_workspace(tmp_path / "original", table_spec(), model_bytes))


def rezipped(
    data: bytes,
    *,
    manifest=None,
    extra: dict[str, bytes] | None = None,
    replace: dict[str, bytes] | None = None,
) -> bytes:
    """The archive with its workspace.json changed, members replaced and others added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "workspace.json" and manifest is not None:
                content = json.dumps(manifest(json.loads(content))).encode()
            for suffix, replacement in (replace or {}).items():
                if name.endswith(suffix):
                    content = replacement
            target.writestr(name, content, zipfile.ZIP_DEFLATED)
        for name, content in (extra or {}).items():
            target.writestr(name, content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def refused(data: bytes, root: Path, match: str, **options) -> str:
    """Import ``data`` into ``root``/copy: a WorkspaceError matching ``match``, nothing left."""
    with pytest.raises(WorkspaceError, match=match) as error:
        import_archive(io.BytesIO(data), root / "copy", **options)
    assert not root.exists() or list(root.iterdir()) == []  # no copy, no .importing-*
    return str(error.value)


def with_run(data: bytes, **changes) -> bytes:
    """The archive with its finished run's record changed."""

    def change(manifest):
        manifest["runs"][0].update(changes)
        return manifest

    return rezipped(data, manifest=change)


# ------------------------------------------------------------------ what comes back
def test_export_then_import_gives_the_same_workspace_without_served_code(tmp_path, exported):
    original = WorkspaceStore(tmp_path / "original", create=False)
    copy = import_archive(io.BytesIO(exported), tmp_path / "imports" / "copy")
    assert (copy.name, copy.created) == (original.name, original.created)
    assert copy.get_setting("session") == original.get_setting("session")
    assert copy.get_setting("runs_started") == 2
    assert copy.tables() == original.tables()
    assert copy.table_bytes(copy.tables()[0].id) == CSV
    finished, training = original.runs()
    copied_finished, copied_training = copy.runs()
    kept = {role: path for role, path in finished.files.items() if role in archive.KEPT_ROLES}
    assert set(kept) == {"model", "checkpoint", "evaluation", "summary", "importance"} | {
        "effects",
        "network",
    }
    assert copied_finished.to_dict() == {**finished.to_dict(), "files": kept}
    for role in kept:
        assert copy.run_file(finished.id, role).read_bytes() == (
            original.run_file(finished.id, role).read_bytes()
        )
    # The bundle, train.py and the model card are never served as uploaded.
    assert not any(
        (copy.folder / "runs" / finished.id / name).exists()
        for name in ("bundle.zip", "train.py", "MODEL_CARD.md")
    )
    assert copied_training.to_dict() == {
        **training.to_dict(),
        "status": "interrupted",
        "owner": None,
    }
    assert [path.name for path in (tmp_path / "imports").iterdir()] == ["copy"]
    assert "workspace.sqlite" not in zipfile.ZipFile(io.BytesIO(exported)).namelist()


def test_an_archive_is_read_from_a_path_or_a_file_never_from_bytes(tmp_path, exported):
    path = tmp_path / "study.layerlab.zip"
    path.write_bytes(exported)
    assert import_archive(path, tmp_path / "a").name == "Churn study"
    with pytest.raises(TypeError, match="not bytes"):
        import_archive(exported, tmp_path / "b")


# ------------------------------------------------------------------ not a workspace
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda data: b"name,age\nann,3\n", "not a Layerlab workspace"),
        (lambda data: rezipped(data, extra={"../evil.py": b"x"}), "leads outside"),
        (lambda data: rezipped(data, extra={"/etc/passwd": b"x"}), "leads outside"),
        (lambda data: rezipped(data, extra={"runs/a b/x": b"x"}), "holds only"),
        (lambda data: rezipped(data, extra={"tables/zz.csv": b"x"}), "refers to"),
        (
            lambda data: rezipped(data, manifest=lambda m: {**m, "format_version": 99}),
            "format version 99",
        ),
        (
            lambda data: rezipped(data, manifest=lambda m: {**m, "runs": [{"id": 1}]}),
            "Run 1 in workspace.json",
        ),
        (
            lambda data: rezipped(
                data, manifest=lambda m: {**m, "tables": [{**m["tables"][0], "id": "../x"}]}
            ),
            "Table 1 in workspace.json",
        ),
        (lambda data: rezipped(data, replace={".csv": b"tampered"}), "differs from the one"),
        (lambda data: with_run(data, name="x" * 5_000), "at most 200 are kept"),
        (lambda data: with_run(data, table_id="/etc/passwd"), "table id"),
    ],
)
def test_import_refuses_what_is_not_a_sound_workspace(tmp_path, exported, change, expected):
    refused(change(exported), tmp_path / "imports", expected)


def test_an_archive_listing_too_many_files_is_refused_before_zipfile_reads_them(
    tmp_path, exported, monkeypatch
):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 5)
    extra = {f"runs/x{number}/f": b"" for number in range(6)}
    refused(rezipped(exported, extra=extra), tmp_path / "imports", "at most 5 files")


def test_an_archive_bigger_than_the_quota_is_refused_while_it_unpacks(tmp_path, exported):
    refused(exported, tmp_path / "imports", "more than the 0.1 MB", quota_bytes=100_000)


# ------------------------------------------------------------------ zip bombs
def test_a_table_that_inflates_a_thousand_times_is_refused_at_the_first_megabytes(
    tmp_path, exported
):
    zeros = b"0" * 60_000_000  # 60 MB of zeros packs to about 60 KB
    bomb = rezipped(exported, replace={".csv": zeros})
    assert len(bomb) < 400_000
    message = refused(bomb, tmp_path / "imports", "more than 100 times its packed size")
    assert "tables/" in message


def test_a_table_over_the_upload_limit_is_refused_whatever_its_header_says(
    tmp_path, exported, monkeypatch
):
    monkeypatch.setattr(reading, "MAX_UPLOAD_BYTES", 2_000_000)
    rows = np.random.default_rng(0).integers(0, 10**9, 400_000).astype(str)
    table = ("n\n" + "\n".join(rows)).encode()  # 4 MB, packs about 2:1
    message = refused(rezipped(exported, replace={".csv": table}), tmp_path / "i", "2.0 MB")
    assert "upload a smaller sample" in message


def test_a_table_with_more_columns_than_the_limit_is_refused_from_its_header(
    tmp_path, exported, monkeypatch
):
    monkeypatch.setattr(reading, "MAX_COLUMNS", 2, raising=False)
    refused(exported, tmp_path / "imports", "3 columns; a table here may have at most 2")


def test_a_manifest_of_millions_of_epochs_is_refused(tmp_path, exported, monkeypatch):
    epochs = [{"epoch": number, "loss": 0.5} for number in range(1, 10_002)]
    refused(with_run(exported, history=epochs), tmp_path / "i", "a run trains at most 10,000")
    monkeypatch.setattr(archive, "MAX_EPOCHS", 100)
    refused(with_run(exported, history=epochs[:200]), tmp_path / "i", "at most 100")
    monkeypatch.setattr(archive, "MANIFEST_BYTES", 20_000)
    refused(with_run(exported, history=epochs[:2_000]), tmp_path / "i", "workspace.json")


# ------------------------------------------------------------------ derived files
def test_a_network_file_declaring_a_huge_kernel_is_refused_unread(tmp_path, exported):
    forged = network_npz((20_000, 40_000), data=b"\0" * 64)
    path = tmp_path / "network.npz"
    path.write_bytes(forged)
    with pytest.raises(ValueError, match="more than 1,000,000 weights"):
        check_network_file(path)
    assert read_network(path) is None  # the picture goes without weights
    message = refused(
        rezipped(exported, replace={"network.npz": forged}), tmp_path / "i", "refused"
    )
    assert "network.npz" in message and "1,000,000 weights" in message
    path.write_bytes(network_npz())
    groups, [kernel] = read_network(path)
    assert kernel.shape == (3, 2) and groups[0].column == "age"


def forged_model(model: bytes, change) -> bytes:
    """The model.keras with its config.json changed by ``change`` (its weights as they were)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(model)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "config.json":
                config = json.loads(content)
                change(config["config"]["layers"])
                content = json.dumps(config).encode()
            target.writestr(name, content)
    return buffer.getvalue()


def widen(units: int):
    def change(layers):
        for layer in layers:
            if layer["class_name"] == "Dense" and layer["name"].startswith("dense_"):
                layer["config"]["units"] = units

    return change


def test_a_model_declaring_two_16000_unit_layers_is_refused_before_keras_builds_it(
    tmp_path, exported, model_bytes, monkeypatch
):
    assert check_keras_file(_written(tmp_path / "real.keras", model_bytes)) > 0
    wide = forged_model(model_bytes, widen(16_000))
    assert len(wide) < 200_000
    path = _written(tmp_path / "wide.keras", wide)
    started = time.perf_counter()
    with pytest.raises(BundleError, match="16,000 units"):
        load_model_file(path, [], 1)  # the worker's way in, before keras.load_model
    assert time.perf_counter() - started < 1.0
    message = refused(rezipped(exported, replace={"model.keras": wide}), tmp_path / "i", "refused")
    assert "model.keras" in message and "16,000 units" in message
    # Within the unit limit, the parameters still count against the memory budget.
    monkeypatch.setenv("LAYERLAB_MEMORY_BUDGET_MB", "1")
    with pytest.raises(BundleError, match="more than 83,333 parameters"):
        check_keras_file(
            _written(tmp_path / "budget.keras", forged_model(model_bytes, widen(4096)))
        )


def test_a_model_with_a_layer_layerlab_never_writes_is_refused(tmp_path, model_bytes):
    def embed(layers):
        layers[0] = {**layers[0], "class_name": "Embedding"}

    path = _written(tmp_path / "odd.keras", forged_model(model_bytes, embed))
    with pytest.raises(BundleError, match="holds a 'Embedding' layer"):
        check_keras_file(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("evaluation.json", b'{"format_version": 1}', "evaluation.json"),
        ("summary.json", b"[1, 2]", "summary.json"),
        ("importance.json", b'{"column": "x"}', "importance.json"),
        ("effects.json", b'{"views": [{"view": ["a"], "rows": "r", "predictions": ["x"]}]}', ""),
    ],
)
def test_a_damaged_json_file_of_a_run_is_refused(tmp_path, exported, name, content, expected):
    message = refused(rezipped(exported, replace={name: content}), tmp_path / "i", "refused")
    assert name in message and "Download the workspace again" in message


def test_a_json_file_over_its_cap_is_refused(tmp_path, exported, monkeypatch):
    monkeypatch.setitem(archive.JSON_FILE_BYTES, "evaluation", 100)
    refused(exported, tmp_path / "i", "evaluation.json.*more than 0.0 MB")


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ settings
def with_settings(data: bytes, **settings) -> bytes:
    return rezipped(data, manifest=lambda m: {**m, "settings": {**m["settings"], **settings}})


SEARCH = {
    "id": "s1",
    "kind": "search",
    "label": "Search 1",
    "created": 1.0,
    "base_spec": {},
    "settings": {"trials": 12, "minutes": None},
    "status": "running",
    "owner": "otherhost:12:x",
}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"searches": [{**SEARCH, "id": "/tmp/elsewhere"}]}, 'its "id" must be an id'),
        ({"searches": [{**SEARCH, "settings": {"trials": "all"}}]}, '"settings" must be'),
        ({"searches": {"not": "a list"}}, "a list of at most 500"),
        ({"session": {"following": 5}}, '"following" of the wrong type'),
        ({"session": {"open_run": "../../x"}}, '"open_run" of the wrong type'),
        ({"session": ["not", "a", "dict"]}, "must be a JSON object"),
        ({"runs_started": "many"}, "a whole number"),
    ],
)
def test_imported_settings_of_the_wrong_type_are_refused(tmp_path, exported, settings, expected):
    refused(with_settings(exported, **settings), tmp_path / "i", expected)


def test_imported_settings_keep_only_what_layerlab_reads(tmp_path, exported):
    label = "![x](http://example.com/track.png) **Search**"
    data = with_settings(
        exported,
        searches=[{**SEARCH, "label": label, "settings": {"trials": 3, "extra": [1]}}],
        anything_else={"big": "x" * 1000},
        session={"target": "bought", "unknown": 1},
    )
    copy = import_archive(io.BytesIO(data), tmp_path / "copy")
    assert copy.get_setting("anything_else") is None
    assert copy.get_setting("session") == {"target": "bought"}
    [search] = copy.get_setting("searches")
    # Kept as the text it is (the page escapes it); nothing here runs it, so it is interrupted.
    assert search["label"] == label and search["settings"] == {"trials": 3}
    assert (search["status"], search["owner"]) == ("interrupted", "")


def test_a_damaged_session_setting_reads_as_its_sound_fields():
    assert archive_settings.session_settings(["x"]) == {}
    assert archive_settings.session_settings(None) == {}
    assert archive_settings.session_settings(
        {"following": 5, "open_run": "abc", "target": ["x"], "spec": {"a": 1}}
    ) == {"open_run": "abc", "spec": {"a": 1}}


def test_a_parquet_table_goes_out_and_comes_back_as_it_was(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(30.0), "colour": ["red", "blue", "green"] * 10})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    store = WorkspaceStore(tmp_path / "original")
    store.add_table("table.parquet", data, rows=30, columns=2)
    copy = import_archive(io.BytesIO(export_archive(store)), tmp_path / "imports" / "copy")
    assert copy.table_bytes(copy.tables()[0].id) == data  # byte for byte
    as_csv = reading.read_table(frame.to_csv(index=False).encode())
    pd.testing.assert_frame_equal(reading.read_table(data), as_csv)
