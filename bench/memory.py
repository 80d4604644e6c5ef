"""Peak memory of each task type, alone, in a fresh process per measurement.

Each measurement is a child process (``python bench/memory.py --child TASK ...``)
that imports what the workers import and sets the malloc thresholds a build's
workers get, takes its RSS as "idle", runs one task function directly (no dask,
no cluster) and reports ``ru_maxrss - idle`` (the kernel's high-water mark:
nothing is missed between samples), a psutil sample every 5 ms as a check, and
the peak of a second run of the same task ("warm"). The parent repeats each
and prints medians.

Tasks (inputs are the trees of ``bench/run.py`` / ``bench/scaling.py``):

- ``dense``: one 10 M-token block of a xiao raster (``_dense_block``), then its
  ``_write_block`` into a zarr array (saturate + write + sum + the segment's
  parquet row, ``SegmentRows``), as one task does.
- ``units``: block 0 of a neupane-ppc units table and its ``_write_block``
  (``--blocks all``: every block in a row, to see whether the peak grows with
  the session); ``units-open``: that table's ``open_session`` (the scan).
- ``parquet-write`` / ``parquet-read``: one 10 M-token segment row written with
  the shard writer's options, or read back with ``read_row_group`` (variants by
  ``--variant``).

Run: ``python bench/memory.py --raw-xiao FILE --raw-units FILE [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MB = 1 << 20


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Sampler:
    def __init__(self, period: float = 0.005):
        self.peak, self.stop = _rss(), False
        self.thread = threading.Thread(target=self._loop, args=(period,), daemon=True)
        self.thread.start()

    def _loop(self, period: float) -> None:
        while not self.stop:
            self.peak = max(self.peak, _rss())
            time.sleep(period)

    def done(self) -> int:
        self.stop = True
        self.thread.join()
        return max(self.peak, _rss())


def _warm() -> None:
    import h5py  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.io  # noqa: F401
    import zarr  # noqa: F401

    import neuralbench.export  # noqa: F401
    import neuralbench.merge  # noqa: F401
    import neuralbench.readers  # noqa: F401
    import neuralbench.session  # noqa: F401
    from neuralbench.pipeline.workers import set_malloc_thresholds

    set_malloc_thresholds()  # as build_all sets them in its workers


def _segment(units: int = 100, bins: int = 100_000):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.poisson(0.16, (units, bins)).astype(np.uint8)


def _writer_kwargs(variant: str) -> dict:
    from neuralbench.schema import ID_COLUMNS

    kw = {"compression": "zstd", "write_statistics": list(ID_COLUMNS)}
    if "nodict" in variant:
        kw["use_dictionary"] = list(ID_COLUMNS)
    if "v2" in variant:
        kw["data_page_version"] = "2.0"
    if "page64k" in variant:
        kw["data_page_size"] = 64 << 10
    return kw


def _pool(variant: str):
    import pyarrow as pa

    if "system" in variant:
        return pa.system_memory_pool()
    if "jemalloc" in variant:
        return pa.jemalloc_memory_pool()
    return pa.default_memory_pool()


def _task(args: argparse.Namespace, work: Path):
    """The task to measure, as a function of no arguments, and a dict it fills with extra figures."""
    import numpy as np

    extra: dict = {}
    if args.task.startswith("parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        from neuralbench.schema import SCHEMA, segment_table

        pa.set_memory_pool(_pool(args.variant))
        src = work / "seg.parquet"
        if args.task == "parquet-read":  # the row to read is written before idle is taken
            with pq.ParquetWriter(src, SCHEMA, **_writer_kwargs("")) as w:
                w.write_table(segment_table(_segment(), "s", "p", "0", "c"))
            pa.default_memory_pool().release_unused()
        counts = _segment()

        def write() -> None:
            with pq.ParquetWriter(work / "out.parquet", SCHEMA, **_writer_kwargs(args.variant)) as w:
                w.write_table(segment_table(counts, "s", "p", "0", "c"))

        def read() -> None:
            pf = pq.ParquetFile(
                src,
                pre_buffer="nopre" not in args.variant,
                memory_map="mmap" in args.variant,
                buffer_size=(1 << 20) if "buf1m" in args.variant else 0,
            )
            assert pf.read_row_group(0).slice(0, 1).num_rows == 1

        return {"parquet-write": write, "parquet-read": read}[args.task], extra
    if args.task == "dense":
        import xarray as xr

        from neuralbench.readers._dense import _dense_block
        from neuralbench.segment_rows import SegmentRows
        from neuralbench.store import _write_block, create_partial

        bins = 100_000
        rows = SegmentRows(str(work / "rows"), "x", "s", "p", [[0, bins]])

        def dense() -> None:
            block = _dense_block(
                args.raw_xiao, "processing/ecephys/rasters/data", 0, bins, time_axis=0, factor=20, loader="h5"
            )
            like = xr.DataArray(block, dims=("unit", "time"), attrs={"bin_size_s": 0.02})
            target = create_partial(work, "x", "s", "p", like)
            _write_block(block, target, 0, rows)

        return dense, extra
    if args.task in ("units", "units-open"):
        from neuralbench.readers import get_reader
        from neuralbench.segment_rows import SegmentRows
        from neuralbench.store import _write_block, create_partial

        def open_session():
            return get_reader("nwb-units").open_session(args.raw_units, group="processing/ecephys/units")

        if args.task == "units-open":  # the scan of the spike times, a task of its own in a build
            return open_session, extra
        arr = open_session()  # before idle is taken: only the block tasks are measured

        def units() -> None:
            chunks = arr.data.chunks[1]
            target = create_partial(work, "x", "s", "p", arr)
            rows = SegmentRows(str(work / "rows"), "x", "s", "p", arr.attrs["segment_bins"])
            n = len(chunks) if args.blocks == "all" else 1
            starts = np.cumsum((0,) + chunks)
            blocks = arr.data.to_delayed().ravel()  # as the pipeline takes them: no concatenated copy
            for i in range(n):
                block = blocks[i].compute(scheduler="sync")
                _write_block(block, target, int(starts[i]), rows)
                del block
            extra["blocks"] = n

        return units, extra
    raise SystemExit(f"unknown task {args.task}")


def child(args: argparse.Namespace) -> dict:
    """Run one task twice in this process; return its peak RSS above idle (MB), cold and warm.

    Cold: the first run after the imports, by ``ru_maxrss`` (includes what the
    first call of a library loads). Warm: a second run, as on a worker that has
    done one task already, by the 5 ms psutil sampler above the RSS before it.
    """
    import gc

    _warm()
    work = Path(tempfile.mkdtemp(dir=args.tmp))
    func, extra = _task(args, work)
    gc.collect()
    idle = _rss()
    base_max = _maxrss()
    sampler = _Sampler()
    t0 = time.perf_counter()
    func()
    wall = time.perf_counter() - t0
    peak = sampler.done()
    cold = (max(_maxrss(), base_max) - idle) / MB
    if base_max > idle:  # the imports peaked above idle: ru_maxrss cannot see the task below that
        cold = (peak - idle) / MB
    gc.collect()
    idle2 = _rss()
    sampler = _Sampler()
    func()
    warm = (sampler.done() - idle2) / MB
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {
        "idle_mb": idle / MB,
        "above_idle_mb": cold,
        "sampled_mb": (peak - idle) / MB,
        "warm_above_mb": warm,
        "after_mb": (idle2 - idle) / MB,
        "wall_s": wall,
        **extra,
    }


def run(task: str, repeats: int, env: dict | None = None, **opts) -> dict:
    """Median of ``repeats`` fresh child processes."""
    results = []
    for _ in range(repeats):
        cmd = [sys.executable, str(HERE / "memory.py"), "--child", task]
        for k, v in opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
        )
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    keys = results[0].keys()
    med = {k: statistics.median(r[k] for r in results) for k in keys}
    med["all_above_idle_mb"] = [round(r["above_idle_mb"], 1) for r in results]
    med["all_warm_mb"] = [round(r["warm_above_mb"], 1) for r in results]
    return med


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child")
    p.add_argument("--raw-xiao", default="")
    p.add_argument("--raw-units", default="")
    p.add_argument("--blocks", default="1")
    p.add_argument("--variant", default="")
    p.add_argument("--tmp", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--tasks", nargs="*", default=["dense", "units", "units-open", "parquet-write", "parquet-read"]
    )
    p.add_argument("--variants", nargs="*", default=[""])
    p.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for the children")
    args = p.parse_args()
    sys.path.insert(0, str(HERE.parent))
    if args.child:
        args.task = args.child
        print(json.dumps(child(args)))
        return
    env = dict(e.split("=", 1) for e in args.env)
    for task in args.tasks:
        for variant in args.variants:
            res = run(
                task, args.repeats, env, raw_xiao=args.raw_xiao, raw_units=args.raw_units,
                blocks=args.blocks, variant=variant, tmp=args.tmp or tempfile.gettempdir(),
            )  # fmt: skip
            shown = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in res.items()}
            print(json.dumps({"task": task, "variant": variant, "env": env, **shown}), flush=True)


if __name__ == "__main__":
    main()
