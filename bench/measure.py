"""Timing and memory of one ``build_all`` on a fresh LocalCluster.

Peak RSS is measured on each worker process by the kernel: its high-water mark
(``VmHWM``) is reset once the worker is idle and read at the end, so the peak is
exact and costs nothing while the build runs. A thread started there with
``client.run`` reads the mark every 50 ms only to tell *when* it rose last (the
stage at the peak); sampling RSS every 5 ms instead cost the workers 0.4-0.8
CPU-s a build, taken from the cores the 2-worker run shares. ``ru_maxrss`` (the
mark over the process's life) is kept as a check; the cluster is new for every
measurement so nothing carries over. Worker time per
stage comes from the scheduler's task stream; CPU seconds of the workers and of
the scheduler's process from ``psutil``.
"""

from __future__ import annotations

import os
import resource
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

_SAMPLER: dict = {}


def _warm() -> int:
    """Import what the tasks import, so the idle RSS counts the interpreter and libraries."""
    import h5py  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.io  # noqa: F401
    import zarr  # noqa: F401

    import neuralbench.export  # noqa: F401
    import neuralbench.merge  # noqa: F401
    import neuralbench.readers  # noqa: F401
    import neuralbench.session  # noqa: F401

    return _rss()


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _high_water() -> int:
    """The kernel's peak RSS of this process since the last reset, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _start_sampler(period: float = 0.05) -> int:
    """Reset the high-water mark to the idle RSS; a thread notes when the mark rises."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (proc(5))
    state = {"peak": _high_water(), "stop": False, "peak_at": time.time()}

    def loop() -> None:
        while not state["stop"]:
            mark = _high_water()
            if mark > state["peak"]:
                state["peak"], state["peak_at"] = mark, time.time()
            time.sleep(period)

    thread = threading.Thread(target=loop, daemon=True, name="bench-rss")
    _SAMPLER.update(state=state, thread=thread)
    thread.start()
    return state["peak"]


def _stop_sampler() -> dict:
    state = _SAMPLER["state"]
    state["stop"] = True
    _SAMPLER["thread"].join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak": _high_water(), "peak_at": state["peak_at"], "ru_maxrss": maxrss}


def _stage(key) -> str:
    """A task's stage from its key."""
    from dask.utils import key_split

    split = key_split(key)
    name = str(key[0] if isinstance(key, tuple) else key)
    if split == "_write_chunk":  # the name the fused read + write keeps: an alias, no work
        return "(block alias)"
    if "_write_chunk" in name:  # one task per block: the read fused with the write (graph.py)
        return "read+bin+write block"
    if "units_block" in split:
        return "read+bin units"
    if "dense_block" in split:
        return "read+bin dense"
    if split.startswith("from-value"):  # the units block fused with the stats reduction
        return "read+bin units"
    for word in ("open_session", "export_session", "assemble_component", "commit_session", "init_component"):
        if word in split:
            return word
    if "store" in split or "saturate" in split or "_to_uint8" in split or "concatenate" in split:
        return "zarr write"
    return split


def _task_kind(key) -> str:
    """A task's function name from its key (``key_split``), with no mapping: comparable across versions."""
    from dask.utils import key_split

    return key_split(key)


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds of each thread of this process so far, by thread kind (the name, numbers dropped)."""
    import re

    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = defaultdict(float)
    for t in psutil.Process().threads():
        out[re.sub(r"[-_ ]?\d+", "", names.get(t.id, "other"))] += t.user_time + t.system_time
    return dict(out)


def _steal_s() -> float:
    """Seconds of steal time of this machine's cores so far (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _digests(dask_worker) -> dict[str, float]:
    """The worker's cumulative metrics in seconds (distributed's ``digests_total``), keys joined.

    An ``execute`` key names its span (a random id per build) second: dropped, so builds compare.
    """
    out: dict[str, float] = defaultdict(float)
    for k, v in dask_worker.digests_total.items():
        if isinstance(k, tuple) and k and k[-1] == "seconds":
            parts = k[:1] + k[2:-1] if k[0] == "execute" else k[:-1]
            out["/".join(map(str, parts))] += v
    return dict(out)


def _sum_digests(per_worker: dict[str, dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for metrics in per_worker.values():
        for name, value in metrics.items():
            out[name] += value
    return dict(out)


def _cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import psutil

    return sum(psutil.Process().cpu_times()[:2])


def build(raw: Path, out: Path, workers: int) -> dict:
    """One build of ``raw`` into a fresh ``out`` on ``workers`` single-threaded processes."""
    from distributed import get_task_stream

    from neuralbench.cluster import make_client, release
    from neuralbench.pipeline import build_all

    if out.exists():
        shutil.rmtree(out)
    # neuralbench's own local cluster (cluster.yaml: one thread per worker process, the
    # profiler's interval), so the figures are what `neuralbench build` gets
    client = make_client("local", n_workers=workers, dashboard_address=":0", memory_limit=0)
    try:
        idle = client.run(_warm)
        client.run(_start_sampler)
        cpu0, main0, threads0 = client.run(_cpu_s), _cpu_s(), client.run(_thread_cpu_s)
        main_threads0, steal0 = _thread_cpu_s(), _steal_s()
        with get_task_stream(client) as ts:
            t0, epoch0 = time.perf_counter(), time.time()
            report = build_all(raw, out, client=client)
            wall = time.perf_counter() - t0
        cpu1, main1, threads1 = client.run(_cpu_s), _cpu_s(), client.run(_thread_cpu_s)
        main_threads1, steal1 = _thread_cpu_s(), _steal_s()
        digests = client.run(_digests)
        mem = client.run(_stop_sampler)
        tasks = ts.data
    finally:
        release(client)
    stages: dict[str, float] = defaultdict(float)
    by_task: dict[str, float] = defaultdict(float)
    at_peak: dict[str, str] = {}
    for task in tasks:
        for ss in task.get("startstops", ()):
            if ss.get("action") == "compute":
                stages[_stage(task["key"])] += ss["stop"] - ss["start"]
                by_task[_task_kind(task["key"])] += ss["stop"] - ss["start"]
                peak_at = mem.get(task.get("worker"), {}).get("peak_at", 0)
                if ss["start"] <= peak_at <= ss["stop"] + 0.05:
                    at_peak[task["worker"]] = _stage(task["key"])
    units_spikes = sum(
        s["spikes"] for s in report["sessions"] if s["component"] in ("neupane-ppc", "churchland")
    )
    return {
        "ok": report["ok"],
        "wall_s": wall,
        "tokens": sum(s["tokens"] for s in report["sessions"]),
        "rows": report["corpus"].get("rows"),
        "stages_s": dict(stages),
        "tasks_s": dict(by_task),
        # CPU of the worker processes (every thread: tasks, zarr's I/O threads, event loop)
        # and of this process (scheduler and client): what two cores must share
        "cpu_s": {"workers": sum(cpu1[w] - cpu0[w] for w in cpu1), "main": main1 - main0},
        # the workers' CPU by thread kind: the task thread, the event loop, zarr's and others
        "threads_cpu_s": _thread_deltas(threads0, threads1),
        # this process's by thread: the cluster's event loop (scheduler, nannies), the client's, this one
        "main_threads_cpu_s": _thread_deltas({"main": main_threads0}, {"main": main_threads1}),
        # CPU the hypervisor gave to other guests meanwhile (summed over the cores): a noisy run shows here
        "steal_s": steal1 - steal0,
        # distributed's own metrics: thread CPU per task prefix, and the event loop's (de)serialization
        "metrics_s": _sum_digests(digests),
        "units_spikes": units_spikes,
        "idle_rss": list(idle.values()),
        "peak_rss": [m["peak"] for m in mem.values()],
        "ru_maxrss": [m["ru_maxrss"] for m in mem.values()],
        "stage_at_peak": [at_peak.get(w, "?") for w in mem],
        "report": report,
        # every task's spans in s from the build's start: (worker, task kind, action, start, stop),
        # the action "compute", or "transfer" / "disk-read" of its inputs
        "timeline": sorted(
            (t["worker"], _task_kind(t["key"]), ss.get("action"), ss["start"] - epoch0, ss["stop"] - epoch0)
            for t in tasks
            for ss in t.get("startstops", ())
        ),
    }


Snapshot = dict[str, dict[str, float]]


def _thread_deltas(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per thread kind between two snapshots, summed over the workers."""
    out: dict[str, float] = defaultdict(float)
    for worker, threads in after.items():
        for name, cpu in threads.items():
            out[name] += cpu - before.get(worker, {}).get(name, 0.0)
    return dict(out)
