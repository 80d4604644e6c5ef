"""Timing and memory of one ``build_all`` on a fresh LocalCluster.

Peak RSS is measured on each worker process: a thread started there with
``client.run`` samples ``psutil`` RSS every 5 ms, and ``ru_maxrss`` (the
kernel's high-water mark of the process's life) is read at the end as a check;
the cluster is new for every measurement so neither carries over. Worker time per
stage comes from the scheduler's task stream; CPU seconds of the workers and of
the scheduler's process from ``psutil``.
"""

from __future__ import annotations

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


def _start_sampler(period: float = 0.005) -> int:
    state = {"peak": _rss(), "stop": False, "peak_at": time.time()}

    def loop() -> None:
        while not state["stop"]:
            rss = _rss()
            if rss > state["peak"]:
                state["peak"], state["peak_at"] = rss, time.time()
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
    return {"peak": state["peak"], "peak_at": state["peak_at"], "ru_maxrss": maxrss}


def _stage(key) -> str:
    """A task's stage from its key."""
    from dask.utils import key_split

    split = key_split(key)
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


def _cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import psutil

    return sum(psutil.Process().cpu_times()[:2])


def build(raw: Path, out: Path, workers: int) -> dict:
    """One build of ``raw`` into a fresh ``out`` on ``workers`` single-threaded processes."""
    from distributed import Client, LocalCluster, get_task_stream

    from neuralbench.pipeline import build_all

    if out.exists():
        shutil.rmtree(out)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0
    )
    client = Client(cluster)
    try:
        idle = client.run(_warm)
        client.run(_start_sampler)
        cpu0, main0 = client.run(_cpu_s), _cpu_s()
        with get_task_stream(client) as ts:
            t0 = time.perf_counter()
            report = build_all(raw, out, client=client)
            wall = time.perf_counter() - t0
        cpu1, main1 = client.run(_cpu_s), _cpu_s()
        mem = client.run(_stop_sampler)
        tasks = ts.data
    finally:
        client.close()
        cluster.close()
    stages: dict[str, float] = defaultdict(float)
    at_peak: dict[str, str] = {}
    for task in tasks:
        for ss in task.get("startstops", ()):
            if ss.get("action") == "compute":
                stages[_stage(task["key"])] += ss["stop"] - ss["start"]
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
        # CPU of the worker processes (every thread: tasks, zarr's I/O threads, event loop)
        # and of this process (scheduler and client): what two cores must share
        "cpu_s": {"workers": sum(cpu1[w] - cpu0[w] for w in cpu1), "main": main1 - main0},
        "units_spikes": units_spikes,
        "idle_rss": list(idle.values()),
        "peak_rss": [m["peak"] for m in mem.values()],
        "ru_maxrss": [m["ru_maxrss"] for m in mem.values()],
        "stage_at_peak": [at_peak.get(w, "?") for w in mem],
        "report": report,
    }
