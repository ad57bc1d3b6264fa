"""Issue 27's attacks on a shared server, tried against the server's own code, with its memory.

Each attack of the issue is made again at its real size where that is cheap (a 490 MB
table packed into a 1 MB archive, a 150 MB workspace.json, a 20,000 x 40,000 kernel,
two 16,000-unit layers, 400,000 columns, 200 bare visits, four 45 MB uploads at once)
and handed to the functions the Streamlit server calls. The process plays the server:
it imports only what the server imports (never TensorFlow), runs with a shared host's
limits (``LAYERLAB_EPHEMERAL_DISK=1``), and its resident memory is read before and at
the peak of each attack (``VmHWM`` after ``/proc/self/clear_refs``). The one trained
model it forges from comes from ``python -m layerlab train`` in a child process.

Attacks that need live workers and a browser (one visitor holding two long runs, Stop
after the epochs, a full disk) are tested in ``tests/`` and named at the end.

    python -m bench.fair_share --write bench/FAIR_SHARE.md
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from bench.report import Report
from layerlab.runs import archive, workspaces
from layerlab.runs.search_board import within_caps
from layerlab.runs.search_settings import SearchSettings
from layerlab.runs.store import WorkspaceStore
from layerlab.schema.errors import LayerlabError
from layerlab.tabular.keras_file_check import check_keras_file
from layerlab.tabular.network_weights import read_network
from layerlab.tabular.reading import read_csv

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000
report = Report()


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def attempt(action: Callable[[], str]) -> tuple[str, float, float, float]:
    """What ``action`` produced (its message, or what it returned), seconds, MB at rest
    before, and MB at its peak above that."""
    before = _status_kb("VmRSS") / 1024
    _reset_peak()
    started = time.perf_counter()
    try:
        outcome = action()
    except LayerlabError as error:
        outcome = f"refused: {error}"
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM") / 1024
    return outcome, seconds, before, max(0.0, peak - before)


# ------------------------------------------------------------------ the forged files
def trained_archive(folder: Path) -> Path:
    """A real workspace with one trained iris run, exported as ``export_archive`` writes it."""
    workspace = folder / "trained"
    subprocess.run(
        [
            *(sys.executable, "-m", "layerlab", "train", str(ROOT / "data" / "iris.csv")),
            *("--target", "species", "--epochs", "3", "--quiet", "--workspace", str(workspace)),
            *("--out", str(folder / "bundle")),
        ],
        check=True,
        capture_output=True,
    )
    path = folder / "trained.layerlab.zip"
    path.write_bytes(archive.export_archive(WorkspaceStore(workspace, create=False)))
    return path


def rezip(source: Path, target: Path, replace: dict[str, Callable[[zipfile.ZipFile, str], None]]):
    """``source`` again, each member whose name ends in a key of ``replace`` written by it."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            writer = next((w for end, w in replace.items() if name.endswith(end)), None)
            if writer is None:
                new.writestr(name, old.read(name), zipfile.ZIP_DEFLATED)
            else:
                writer(new, name)
    return target


def streamed(size: int, line: bytes = b"0,0,0,0,0\n") -> Callable[[zipfile.ZipFile, str], None]:
    """A member of ``size`` bytes written in 1 MB chunks (the bench never holds it whole)."""

    def write(zip_file: zipfile.ZipFile, name: str) -> None:
        chunk = line * (MB // len(line))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zip_file.open(info, "w", force_zip64=True) as member:
            member.write(b"a,b,c,d,species\n")
            for _ in range(size // len(chunk)):
                member.write(chunk)

    return write


def manifest_padded(size: int) -> Callable[[zipfile.ZipFile, str], None]:
    def write(zip_file: zipfile.ZipFile, name: str) -> None:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zip_file.open(info, "w", force_zip64=True) as member:
            member.write(b"{" + b" " * MB)
            for _ in range(size // MB):
                member.write(b" " * MB)
            member.write(b"}")

    return write


def huge_kernel(zip_file: zipfile.ZipFile, name: str) -> None:
    """A network.npz whose kernel declares 20,000 x 40,000 floats (3.2 GB) in 3 MB."""
    import numpy as np

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (20_000, 40_000)}
    )
    groups = io.BytesIO()
    np.save(groups, np.array(json.dumps([["sepal_length", 1]])))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as npz:
        npz.writestr("groups.npy", groups.getvalue())
        npz.writestr("kernel_0.npy", header.getvalue() + os.urandom(3 * MB))
    zip_file.writestr(name, inner.getvalue())


def wide_model(model: bytes) -> bytes:
    """The model.keras with its hidden Dense layers declaring 16,000 units (weights as they were)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(model)) as old, zipfile.ZipFile(out, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            if name == "config.json":
                config = json.loads(content)
                dense = [
                    layer
                    for layer in config["config"]["layers"]
                    if layer["class_name"] == "Dense" and layer["name"].startswith("dense_")
                ]
                for layer in dense[:2]:
                    layer["config"]["units"] = 16_000
                content = json.dumps(config).encode()
            new.writestr(name, content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def with_manifest(source: Path, target: Path, change: Callable[[dict], None]) -> Path:
    def write(zip_file: zipfile.ZipFile, name: str) -> None:
        with zipfile.ZipFile(source) as old:
            manifest = json.loads(old.read(name))
        change(manifest)
        zip_file.writestr(name, json.dumps(manifest))

    return rezip(source, target, {"workspace.json": write})


# ------------------------------------------------------------------ the attacks
def import_of(path: Path) -> Callable[[], str]:
    def action() -> str:
        with open(path, "rb") as upload:
            _, store = workspaces.import_workspace(upload)
        return f"accepted: {len(store.tables())} table(s), {len(store.runs())} run(s)"

    return action


def four_tabs(path: Path) -> Callable[[], str]:
    def action() -> str:
        outcomes: list[str] = []

        def one() -> None:
            try:
                with open(path, "rb") as upload:
                    workspaces.import_workspace(upload)
                outcomes.append("accepted")
            except LayerlabError as error:
                outcomes.append(f"refused: {error}")

        threads = [threading.Thread(target=one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused = [outcome for outcome in outcomes if outcome.startswith("refused")]
        return f"{len(refused)} of 4 refused; " + (refused[0] if refused else "none refused")

    return action


def bare_visits() -> str:
    root = workspaces.root_folder()
    before = len(workspaces.workspace_folders(root))
    for _ in range(200):
        workspaces.create_workspace()  # what a visit without ?ws= does
    made = len(workspaces.workspace_folders(root)) - before
    return f"{made} workspace folders made by 200 visits"


def racing_uploads() -> str:
    os.environ[workspaces.QUOTA_ENV] = "100"
    try:
        _, store = workspaces.create_workspace("racing")
        kept: list[str] = []

        def upload(number: int) -> None:
            data = f"x,y\n{number},1\n".encode() + b"0,0\n" * (45 * MB // 4)
            try:
                store.add_table(f"part{number}.csv", data, rows=0, columns=2)
                kept.append(str(number))
            except LayerlabError:
                pass

        threads = [threading.Thread(target=upload, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return (
            f"{len(kept)} of four 45 MB uploads kept in a 100 MB quota; the workspace holds "
            f"{store.size_bytes() / MB:,.1f} MB"
        )
    finally:
        os.environ.pop(workspaces.QUOTA_ENV)


def model_check(model: bytes, folder: Path) -> Callable[[], str]:
    def action() -> str:
        path = folder / "wide.keras"
        path.write_bytes(wide_model(model))
        check_keras_file(path)
        return "accepted"

    return action


def network_read(folder: Path) -> str:
    path = folder / "network.npz"
    with zipfile.ZipFile(path, "w") as target:
        huge_kernel(target, "x")
    # the archive's npz is itself a member; here the file is read as the Results page would
    inner = zipfile.ZipFile(path).read("x")
    path.write_bytes(inner)
    return "read_network gave " + (
        "nothing (drawn without weights)" if read_network(path) is None else "a kernel"
    )


def wide_csv() -> str:
    header = ",".join(f"c{i}" for i in range(400_000)).encode()
    data = header + b"\n" + (b"," * 399_999 + b"\n") * 3
    read_csv(data)
    return f"accepted ({len(data) / MB:.1f} MB)"


def greedy_search() -> str:
    within_caps(SearchSettings(trials=500, minutes=24 * 60))
    return "accepted"


def main() -> int:
    os.environ.setdefault(workspaces.EPHEMERAL_ENV, "1")  # a shared host's limits, as on Cloud
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        os.environ[workspaces.ROOT_ENV] = str(folder / "workspaces")
        report("Training one iris run with the CLI (a child process) to forge from...")
        trained = trained_archive(folder)
        with zipfile.ZipFile(trained) as source:
            model_name = next(n for n in source.namelist() if n.endswith("/model.keras"))
            model = source.read(model_name)
        bomb = rezip(trained, folder / "bomb.zip", {".csv": streamed(490 * MB)})
        hundred = rezip(trained, folder / "hundred.zip", {".csv": streamed(100 * MB)})
        padded = rezip(
            trained, folder / "padded.zip", {"workspace.json": manifest_padded(150 * MB)}
        )
        kernel = rezip(trained, folder / "kernel.zip", {"/network.npz": huge_kernel})
        wide = rezip(
            trained,
            folder / "wide.zip",
            {"/model.keras": lambda z, n: z.writestr(n, wide_model(model))},
        )

        def evil_settings(manifest: dict) -> None:
            manifest["settings"]["searches"] = [
                {
                    "id": "/tmp/elsewhere/evil",
                    "kind": "search",
                    "label": "Search 1",
                    "created": 1.0,
                    "base_spec": {},
                    "settings": {"trials": 12, "minutes": None},
                    "status": "finished",
                    "owner": None,
                }
            ]

        def evil_following(manifest: dict) -> None:
            manifest["settings"]["session"] = {"following": ["not", "an", "id"]}

        def markdown_label(manifest: dict) -> None:
            manifest["name"] = "![tracker](http://example.com/pixel.png)"

        sizes = {path.name: path.stat().st_size / MB for path in (bomb, hundred, padded, wide)}
        attacks = [
            (f"1.1: a {sizes['bomb.zip']:.2f} MB archive holding a 490 MB table", import_of(bomb)),
            (
                f"1.2: a {sizes['hundred.zip']:.2f} MB archive (100 MB table) opened in four tabs at once",
                four_tabs(hundred),
            ),
            (
                f"1.3: a {sizes['padded.zip']:.2f} MB archive holding a 150 MB workspace.json",
                import_of(padded),
            ),
            (
                "1.4: an archive whose network.npz declares a 20,000 x 40,000 kernel in 3 MB",
                import_of(kernel),
            ),
            (
                "1.4b: that network.npz read as the Results page reads it",
                lambda: network_read(folder),
            ),
            (
                f"1.5: a {sizes['wide.zip']:.2f} MB archive whose model.keras declares two 16,000-unit layers",
                import_of(wide),
            ),
            (
                "1.5b: that model.keras checked as a worker does before Keras loads it",
                model_check(model, folder),
            ),
            (
                "1.6: a search id that is an absolute path",
                import_of(with_manifest(trained, folder / "id.zip", evil_settings)),
            ),
            (
                "1.7: a 'following' setting of the wrong type",
                import_of(with_manifest(trained, folder / "f.zip", evil_following)),
            ),
            (
                "1.8: a workspace named with a Markdown image",
                import_of(with_manifest(trained, folder / "md.zip", markdown_label)),
            ),
            ("1.9: a sound archive of the same run", import_of(trained)),
            ("3.1: a CSV of 400,000 columns", wide_csv),
            ("2.1: a search asking for 500 trials or 24 h", greedy_search),
            ("4.1: 200 visits without ?ws=", bare_visits),
            ("4.2: four 45 MB uploads at once into a 100 MB quota", racing_uploads),
        ]
        report()
        report(f"Server-side process at rest: {_status_kb('VmRSS') / 1024:,.0f} MB resident.")
        report()
        report("| attack | what it produced | seconds | MB before | MB peak above |")
        report("| --- | --- | ---: | ---: | ---: |")
        for label, action in attacks:
            outcome, seconds, before, peak = attempt(action)
            text = outcome.replace("|", "\\|").replace("\n", " ")
            report(f"| {label} | {text} | {seconds:,.2f} | {before:,.0f} | {peak:,.0f} |")
        report()
        report(
            f"Left over in the workspaces folder: {sorted(p.name[:20] for p in (folder / 'workspaces').iterdir() if p.name.startswith('.'))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(
        report.run(main, __doc__.splitlines()[0], "A fair share of one server: attacks and memory")
    )
