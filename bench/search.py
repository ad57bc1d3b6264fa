"""The search on one machine: the speed-up of two workers over one, and memory over 50 trials.

    python -m bench.search [--write bench/SEARCH.md] [--only speed|memory|cause] [--json FILE]

**Speed-up.** The same 12-trial search (the default space, the churn table, 30% of its
rows, 30 epochs with early stopping, seed 0) runs with one worker process and then with
two. Each pool's workers are started and have imported TensorFlow before the clock
starts (a server's pool is warm too), so the time is the search's own. The two searches
must draw the same trials and reach the same validation losses, bit for bit.

**Memory.** One worker process trains 50 trials of the default space in a row, as a
search's trials train (the graph loop, ``trials.TRIAL_JIT``; the pool's recycling of large
workers is turned off for this, so the same process is measured throughout); its resident
memory (VmRSS) is read after each trial. KerasTuner's users report memory that grows with
every trial until the process dies; the target is that after the first few trials the
worker stays within 10% of where it was.

**Cause.** The worker's training job (train, score, save, bundle) runs the same kind of
trials in a fresh process of its own, three ways: the XLA-compiled loop, the graph loop,
and the graph loop with Keras's cross-replica gradient sum left in (as it was before
``engine._sum_gradients_locally``); the allocator's free memory is given back after each
(``malloc_trim``), so what is left is memory something still holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(__file__).resolve().parents[1] / "data"
SPEED_TRIALS = 12
ROUNDS = 2
MEMORY_TRIALS = 50
SETTLED_AFTER = 5  # "after the first few trials"
MEMORY_TARGET = 0.10
CAUSE_TRIALS = 15


def churn():
    from layerlab.schema.spec import default_spec
    from layerlab.tabular.data import profile_columns
    from layerlab.tabular.reading import read_csv

    frame = read_csv(DATA / "customer_churn.csv")
    return frame, default_spec("churned", "binary", profile_columns(frame, "churned"))


def warm(pool, frame, spec) -> None:
    """Start every worker of the pool (each imports TensorFlow) before anything is timed."""
    jobs = [pool.submit("summary", frame, spec) for _ in range(pool.size)]
    for job in jobs:
        job.outcome()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def timed_search(workers: int, frame, spec) -> tuple[float, list, float]:
    """The search's seconds and trials, and the default network's best validation loss on the
    same rows with the same epochs."""
    from layerlab.runs.search import Search
    from layerlab.runs.search_settings import SearchSettings, trial_spec
    from layerlab.runs.search_space import default_space
    from layerlab.runs.trials import PoolTrials
    from layerlab.runs.workers import WorkerPool

    pool = WorkerPool(workers)
    settings = SearchSettings(trials=SPEED_TRIALS, seed=0)
    try:
        warm(pool, frame, spec)
        with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
            runner = PoolTrials(pool, folder)
            search = Search(runner, frame, default_space(), spec, settings)
            started = time.perf_counter()
            rows = search.run()
            seconds = time.perf_counter() - started
            default = runner.start_trial(
                trial_spec(spec, settings), "default", search.training_rows
            )
            default.wait()
            return seconds, rows, default.outcome().validation_loss
    finally:
        pool.close()


def speed(frame, spec) -> dict:
    """Each search ``ROUNDS`` times, alternating 1 and 2 workers so that a change in the
    machine's load falls on both; the fastest of each is the one compared."""
    times: dict[int, list[float]] = {1: [], 2: []}
    trials: dict[int, list] = {}
    default_loss = None
    for _ in range(ROUNDS):
        for workers in (1, 2):
            seconds, rows, default = timed_search(workers, frame, spec)
            times[workers].append(seconds)
            trials[workers], default_loss = rows, default
            print(f"{workers} worker(s): {seconds:.1f} s", file=sys.stderr, flush=True)
    one, two = trials[1], trials[2]
    return {
        "times": {str(workers): values for workers, values in times.items()},
        "one": min(times[1]),
        "two": min(times[2]),
        "speedup": min(times[1]) / min(times[2]),
        "same_settings": [row.params for row in one] == [row.params for row in two],
        "same_losses": [row.validation_loss for row in one] == [row.validation_loss for row in two],
        "trial_seconds": statistics.median(row.seconds for row in one),
        "best": min(row.validation_loss for row in one),
        "default": default_loss,
    }


def memory(frame, spec) -> dict:
    from layerlab.runs.search import Search
    from layerlab.runs.search_settings import SearchSettings
    from layerlab.runs.search_space import default_space
    from layerlab.runs.trials import PoolTrials
    from layerlab.runs.workers import WorkerPool

    pool = WorkerPool(1, recycle_bytes=1 << 50)  # never replace the worker: measure one process
    readings: list[tuple[int, float, int | None]] = []
    try:
        warm(pool, frame, spec)
        (pid,) = pool.worker_pids()
        start = rss_mb(pid)
        with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
            search = Search(
                PoolTrials(pool, folder),
                frame,
                default_space(),
                spec,
                SearchSettings(trials=MEMORY_TRIALS, epochs=10, seed=1),
            )

            def heard(row) -> None:
                assert pool.worker_pids() == [pid], "the worker was replaced"
                readings.append((row.number, rss_mb(pid), row.parameters))
                print(f"trial {row.number}: {readings[-1][1]:.0f} MB", file=sys.stderr, flush=True)

            search.run(heard)
    finally:
        pool.close()
    values = [mb for _, mb, _ in readings]
    settled = values[SETTLED_AFTER - 1]
    return {
        "start": start,
        "readings": readings,
        "settled": settled,
        "last": values[-1],
        "max_after": max(values[SETTLED_AFTER:]),
        "growth": max(values[SETTLED_AFTER:]) / settled - 1,
        "last_growth": values[-1] / settled - 1,
        "slope": _slope(values[SETTLED_AFTER:]),
        "driver_mb": _own_rss_mb(),
    }


def cause() -> dict:
    """Per loop (``LOOPS``): each trial's resident MB and seconds, in a fresh process."""
    results = {}
    for mode in LOOPS:
        printed = subprocess.run(
            [sys.executable, "-m", "bench.search", "--in-process", mode],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[mode] = [json.loads(line) for line in printed.splitlines() if line[:1] == "{"]
        print(f"{mode}: {[r['mb'] for r in results[mode]]}", file=sys.stderr, flush=True)
    return results


def trials_in_this_process(mode: str) -> None:
    """Run ``CAUSE_TRIALS`` trials' training jobs here, printing one JSON line per trial."""
    import ctypes
    import gc

    import keras
    import optuna

    from layerlab.model import engine
    from layerlab.model.jobs import JobContext, train_model
    from layerlab.model.runtime import configure_tensorflow
    from layerlab.runs.search_settings import SearchSettings, search_rows, trial_spec
    from layerlab.runs.search_space import default_space
    from layerlab.runs.study import make_sampler

    configure_tensorflow()
    if mode == "graph-all-reduce":
        engine._sum_gradients_locally = lambda optimizer: None  # Keras's optimizer as it is
    libc = ctypes.CDLL("libc.so.6")
    frame, spec = churn()
    settings = SearchSettings(epochs=10, seed=1)
    rows = search_rows(frame, spec, settings.sample, settings.seed)
    study = optuna.create_study(sampler=make_sampler("random", settings.seed))
    with tempfile.TemporaryDirectory(prefix="bench-search-cause-") as folder:
        for number in range(CAUSE_TRIALS):
            trial = study.ask()
            trial_spec_ = default_space().sample(trial, trial_spec(spec, settings))
            study.tell(trial, 0.0)
            keras.backend.clear_session()  # as a worker does before each training job
            started = time.perf_counter()
            train_model(JobContext(), rows, trial_spec_, Path(folder, str(number)), mode == "xla")
            seconds = time.perf_counter() - started
            gc.collect()
            libc.malloc_trim(0)
            print(
                json.dumps({"mb": round(_own_rss_mb()), "seconds": round(seconds, 2)}), flush=True
            )


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def _slope(values: list[float]) -> float:
    """MB per trial, least squares."""
    xs = range(len(values))
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(values)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True))
    return numerator / sum((x - mean_x) ** 2 for x in xs)


def _own_rss_mb() -> float:
    return rss_mb(os.getpid())


def machine() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tensorflow = version("tensorflow-cpu")
    except PackageNotFoundError:
        tensorflow = version("tensorflow")
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())  # others' work on it
    return (
        f"{platform.platform()}, {model}, {len(os.sched_getaffinity(0))} CPU cores, "
        f"Python {platform.python_version()}, TensorFlow {tensorflow}, Keras "
        f"{version('keras')}, Optuna {version('optuna')}; load average (1/5/15 min) at the "
        f"end: {load}"
    )


def report(
    speed_result: dict | None,
    memory_result: dict | None,
    cause_result: dict | None,
    machine_facts: str,
) -> str:
    lines = [
        "# Search: parallel trials and memory",
        "",
        f"Machine: {machine_facts}.",
        "",
        "Reproduce: `python -m bench.search --write bench/SEARCH.md` (about 10 minutes on 2 idle cores).",
        "",
    ]
    if speed_result is not None:
        s = speed_result
        lines += [
            "## Speed-up from 1 to 2 workers",
            "",
            f"The same {SPEED_TRIALS}-trial search: the default space on the churn table (30% of "
            "its 1,500 rows, so 500), 30 epochs with early stopping after 5, seed 0; each pool's "
            f"workers warm before the clock starts; {ROUNDS} rounds of 1 then 2 workers.",
            "",
            f"| workers | seconds (fastest of {ROUNDS}) | every round | speed-up |",
            "| ---: | ---: | --- | ---: |",
            f"| 1 | {s['one']:.1f} | {_seconds(s['times']['1'])} | 1.00x |",
            f"| 2 | {s['two']:.1f} | {_seconds(s['times']['2'])} | {s['speedup']:.2f}x |",
            "",
            f"Median trial: {s['trial_seconds']:.1f} s of training (graph loop; a small "
            "table's epochs take milliseconds, so most of it is tracing the loop and saving the "
            "model). Same trials drawn in "
            f"the same order with 1 and 2 workers: {'yes' if s['same_settings'] else 'NO'}; "
            f"same validation losses, bit for bit: {'yes' if s['same_losses'] else 'NO'}. "
            f"Best validation loss: {s['best']:.4f}; the default network (64, 32 ReLU, Adam "
            f"0.001, batch 32) on the same rows and epochs: {s['default']:.4f}, so the search "
            f"{'beats' if s['best'] < s['default'] else 'does NOT beat'} it.",
            "",
        ]
    if memory_result is not None:
        m = memory_result
        met = "met" if m["growth"] <= MEMORY_TARGET else "NOT met"
        lines += [
            f"## Memory of {MEMORY_TRIALS} trials in one worker process",
            "",
            f"One worker (never recycled) trains {MEMORY_TRIALS} trials of the default space "
            "in a row (10 epochs each, seed 1); its resident memory after each trial:",
            "",
            f"- before the first trial (TensorFlow imported, warm): {m['start']:.0f} MB",
            f"- after trial {SETTLED_AFTER}: {m['settled']:.0f} MB",
            f"- highest after that: {m['max_after']:.0f} MB ({m['growth']:+.1%}); after the "
            f"last: {m['last']:.0f} MB ({m['last_growth']:+.1%})",
            f"- trend over trials {SETTLED_AFTER + 1}-{MEMORY_TRIALS}: {m['slope']:+.2f} MB per trial",
            f"- the search's own process (Optuna, the study, the driver): {m['driver_mb']:.0f} MB",
            "",
            f"Target: within {MEMORY_TARGET:.0%} after the first {SETTLED_AFTER} trials: {met}.",
            "",
            "| trial | parameters | MB |",
            "| ---: | ---: | ---: |",
        ]
        lines += [f"| {n} | {p or 0:,} | {mb:.0f} |" for n, mb, p in m["readings"]]
        lines.append("")
    if cause_result is not None:
        lines += [
            "## What grew, and what was fixed",
            "",
            f"{CAUSE_TRIALS} trials' training jobs (train, score the test split, save, bundle) "
            "in a fresh process each way, free memory given back to the system after each "
            "(`malloc_trim`); resident MB after each trial:",
            "",
            "| loop | MB after trials 1, 2, 3, ... | growth per trial | median seconds |",
            "| --- | --- | ---: | ---: |",
        ]
        slopes = {}
        for name, rows in cause_result.items():
            values = [row["mb"] for row in rows]
            slopes[name] = _slope(values[SETTLED_AFTER - 1 :])
            lines.append(
                f"| {LOOPS[name]} | {', '.join(map(str, values))} | {slopes[name]:+.1f} MB | "
                f"{statistics.median(row['seconds'] for row in rows):.1f} |"
            )
        lines += ["", *_findings(slopes), ""]
    return "\n".join(lines)


LOOPS = {
    "xla": "XLA-compiled (runs trained by hand)",
    "graph": "graph, no XLA (search trials)",
    "graph-all-reduce": "graph, with Keras's all-reduce (before the fix)",
}


def _findings(slopes: dict[str, float]) -> list[str]:
    """What the numbers say."""
    return [
        "Two things grew. Keras's TensorFlow optimizer sums gradients over replicas with "
        "`tf.distribute`'s all-reduce, which inside a `tf.function` registers a custom "
        "gradient in TensorFlow's process-wide registry at every trace and never removes it; "
        "that function holds the whole traced loop, so every network a worker trained stayed "
        f"in memory ({slopes['graph-all-reduce']:+.1f} MB a trial above). The loop runs on "
        "one device, where that sum is the gradients as they are, so the engine now skips it "
        f"(`engine._sum_gradients_locally`): {slopes['graph']:+.1f} MB a trial. A test "
        "(`test_a_finished_run_leaves_no_traced_loop_alive`) checks that no traced loop "
        "outlives its run.",
        "",
        "The rest is XLA's: TensorFlow keeps every executable XLA compiles for the life of "
        "the process (its compilation cache has no eviction) and every trial is a new network "
        f"({slopes['xla']:+.1f} MB a trial). So search trials train with the graph loop "
        "(`trials.TRIAL_JIT`): on a search's sample of rows and few epochs XLA's compile time "
        "is most of a trial, so the graph loop is also faster (median seconds above). Runs "
        "trained by hand, and the winner retrained on all the data, keep XLA; the pool "
        "replaces a worker that has grown past `LAYERLAB_WORKER_RECYCLE_MB` (1,200 MB by "
        "default) after its job, and one left idle exits.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="write the report (Markdown) to this file")
    parser.add_argument("--only", choices=("speed", "memory", "cause"))
    parser.add_argument("--in-process", choices=tuple(LOOPS), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also keep the raw results in this file")
    parser.add_argument("--from-json", help="write the report again from results kept by --json")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.in_process:
        trials_in_this_process(args.in_process)
        return
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        frame, spec = churn()
        started = time.perf_counter()
        results = {
            "speed": speed(frame, spec) if args.only in (None, "speed") else None,
            "memory": memory(frame, spec) if args.only in (None, "memory") else None,
            "cause": cause() if args.only in (None, "cause") else None,
            "machine": machine(),
        }
        results["seconds"] = time.perf_counter() - started
    text = report(results["speed"], results["memory"], results["cause"], results["machine"])
    text += f"Whole benchmark: {results['seconds']:.0f} s.\n"
    if args.write:
        Path(args.write).write_text(text)
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
