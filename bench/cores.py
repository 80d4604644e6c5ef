"""How well this machine runs two of our kernels at once: 1 process vs 2 concurrent processes.

The 1 -> 2 worker speed-up of ``bench/run.py`` can be no better than the machine
allows. This runs the same kernel alone and in two processes started together
(a barrier, so they overlap), and prints 2 x (time alone) / (time of the slower
of the pair): 2.00 means the second core adds a full core. Kernels: a parquet
encode of one 10 M-token row (the export and merge), a reshape-sum of a 1 ms
raster plus a copy (dense reads), and pure Python.

Run: ``python bench/cores.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parquet_encode(reps: int) -> float:
    from neuralbench.schema import segment_table
    from neuralbench.shards import open_parquet

    counts = np.random.default_rng(0).poisson(0.16, (200, 50_000)).astype(np.uint8)
    table = segment_table(counts, "sub", "ses", "segment_0", "bench")
    t0 = time.perf_counter()
    for _ in range(reps):
        with open_parquet(io.BytesIO()) as writer:
            writer.write_table(table, row_group_size=1)
    return time.perf_counter() - t0


def rebin(reps: int) -> float:
    from neuralbench.binning import rebin_dense

    raster = (np.random.default_rng(0).random((200_000, 100)) < 0.008).astype(np.uint8)
    t0 = time.perf_counter()
    for _ in range(reps):
        rebin_dense(raster.T, 20)
        raster.copy()
    return time.perf_counter() - t0


def pure_python(reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        total = 0
        for i in range(300_000):
            total += i * i
    return time.perf_counter() - t0


KERNELS = {"parquet encode, 10 M tokens": (parquet_encode, 30), "rebin + copy, 20 MB": (rebin, 60),
           "pure Python": (pure_python, 60)}  # fmt: skip


def _child(name: str, reps: int, start, results) -> None:
    fn = KERNELS[name][0]
    fn(1)  # imports and first-touch pages, untimed
    start.wait()
    results.put(fn(reps))


def timed(name: str, n: int) -> float:
    """Seconds of the slowest of ``n`` processes running kernel ``name`` together."""
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    reps = KERNELS[name][1]
    procs = [ctx.Process(target=_child, args=(name, reps, start, results)) for _ in range(n)]
    for p in procs:
        p.start()
    time.sleep(3)  # every child has imported and warmed up
    start.set()
    out = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return max(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print("| kernel | 2 processes vs 1, per repeat | median |")
    print("|---|---|---|")
    for name in KERNELS:
        ratios = [2 * timed(name, 1) / timed(name, 2) for _ in range(args.repeats)]
        print(f"| {name} | {', '.join(f'{r:.2f}' for r in ratios)} | {np.median(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
