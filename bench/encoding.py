"""Parquet writer options for a segment row: encode CPU, file bytes, decode CPU, encode memory.

Every candidate writes the same one-row table (``schema.segment_table``: the
corpus schema, ``List(List(uint8))``, whose parquet leaf is INT32) and reads the
same rows back, checked equal. Two kinds of 10 M-token rows (100 units x
100,000 bins of 20 ms):

- ``sparse``: sorted units, ~8 Hz each (rates 4-12 Hz), Poisson counts: mostly
  0, some 1, rarely more (neupane, churchland, the bench tree's xiao);
- ``mua``: xiao-like multi-unit activity, 5-100 Hz per channel, binomial counts
  of 20 ms bins at 1 ms (0-20).

CPU is process CPU time (not wall), median of ``--repeats``, the candidates
interleaved repeat by repeat so a loaded machine slows all alike; "x now" is
against pyarrow's writer with ``shards.WRITER_OPTIONS`` (dictionary on, zstd);
"(chosen)" marks ``row_parquet.write_row``, the encoder a build uses. Encode
memory, in a fresh process per candidate (``--child``), warmed by a tiny row:
Arrow's pool high-water mark and the growth of the process' peak RSS (which
also counts numpy's temporaries).

Run: ``python bench/encoding.py [--repeats 5] [--work DIR] [--only zstd 3 ...]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from neuralbench.row_parquet import write_row  # noqa: E402
from neuralbench.schema import ID_COLUMNS, SCHEMA, segment_table  # noqa: E402
from neuralbench.shards import LEAF  # noqa: E402

_OLD = {"compression": "zstd", "write_statistics": list(ID_COLUMNS)}
_NO_DICT = {**_OLD, "use_dictionary": list(ID_COLUMNS)}
NOW = "pyarrow: dictionary, zstd"
OURS = "row_parquet: dictionary 0..max, bit-packed, zstd"
CANDIDATES: dict[str, dict | None] = {
    OURS: None,  # neuralbench.row_parquet.write_row: what a build writes
    NOW: _OLD,
    "dictionary, zstd, batch 64k": {**_OLD, "write_batch_size": 65536},
    "dictionary, zstd 3": {**_OLD, "compression_level": 3},
    "dictionary, lz4": {**_OLD, "compression": "lz4"},
    "dictionary, data page v2": {**_OLD, "data_page_version": "2.0"},
    "PLAIN, zstd": {**_NO_DICT, "column_encoding": {LEAF: "PLAIN"}},
    "PLAIN, zstd 3": {**_NO_DICT, "column_encoding": {LEAF: "PLAIN"}, "compression_level": 3},
    "BYTE_STREAM_SPLIT, zstd": {**_NO_DICT, "column_encoding": {LEAF: "BYTE_STREAM_SPLIT"}},
    "DELTA_BINARY_PACKED, zstd": {**_NO_DICT, "column_encoding": {LEAF: "DELTA_BINARY_PACKED"}},
    "DELTA_BINARY_PACKED, zstd 3": {
        **_NO_DICT,
        "column_encoding": {LEAF: "DELTA_BINARY_PACKED"},
        "compression_level": 3,
    },
    "DELTA_BINARY_PACKED, zstd 7": {
        **_NO_DICT,
        "column_encoding": {LEAF: "DELTA_BINARY_PACKED"},
        "compression_level": 7,
    },
    "BYTE_STREAM_SPLIT, zstd 3": {
        **_NO_DICT,
        "column_encoding": {LEAF: "BYTE_STREAM_SPLIT"},
        "compression_level": 3,
    },
    "PLAIN, lz4": {**_NO_DICT, "column_encoding": {LEAF: "PLAIN"}, "compression": "lz4"},
    "PLAIN, snappy": {**_NO_DICT, "column_encoding": {LEAF: "PLAIN"}, "compression": "snappy"},
}


def counts(kind: str, units: int = 100, bins: int = 100_000, seed: int = 0) -> np.ndarray:
    """A ``(units, bins)`` uint8 row of the given kind (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if kind == "sparse":
        lam = rng.uniform(4.0, 12.0, (units, 1)) * 0.02
        return rng.poisson(lam, (units, bins)).astype(np.uint8)
    if kind == "mua":
        p = rng.uniform(0.005, 0.100, (units, 1))
        return rng.binomial(20, p, (units, bins)).astype(np.uint8)
    raise ValueError(f"unknown kind of counts {kind!r}")


def _table(c: np.ndarray) -> pa.Table:
    return segment_table(c, "s", "ses", "segment_0", "x")


def encode(c: np.ndarray, path: Path, options: dict | None) -> None:
    if options is None:
        write_row(path, c, ("s", "ses", "segment_0", "x"))
        return
    with pq.ParquetWriter(path, SCHEMA, **options) as writer:
        writer.write_table(_table(c), row_group_size=1)


def decode(path: Path) -> pa.Table:
    return pq.read_table(path)


def cpu_seconds(func) -> float:
    """Process CPU time (all threads, not wall) of ``func()``."""
    t0 = time.process_time()
    func()
    return time.process_time() - t0


def bench_args(doc: str, repeats: int) -> argparse.ArgumentParser:
    """The options every per-row script here takes: ``--repeats`` and ``--work``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--work", type=Path, default=None, help="folder for the temporary files")
    return ap


def _peak_rss_kb() -> int:
    """This process' peak RSS (``VmHWM``; ``ru_maxrss`` would start at the parent's, kept over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(name: str, kind: str, work: Path) -> None:
    c = np.load(work / f"{kind}.npy")  # generating them peaks higher than any encode
    encode(np.ones((1, 8), np.uint8), work / f"warm-{kind}.parquet", CANDIDATES[name])  # imports, pools
    pool = pa.default_memory_pool()
    before, rss = pool.bytes_allocated(), _peak_rss_kb()
    encode(c, work / f"mem-{kind}.parquet", CANDIDATES[name])
    grown = (_peak_rss_kb() - rss) / 1024
    print(json.dumps({"pool_peak_mb": (pool.max_memory() - before) / 2**20, "rss_mb": grown}))


def _memory(name: str, kind: str, work: Path) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, kind, "--work", str(work)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(kind: str, repeats: int, work: Path, only: list[str]) -> dict[str, dict[str, float]]:
    """Median encode and decode CPU-s, bytes and pool peak of each candidate, for one kind."""
    c = counts(kind)
    np.save(work / f"{kind}.npy", c)
    want = _table(c).column("spike_counts")
    names = [n for n in CANDIDATES if not only or n in (OURS, NOW) or any(o in n for o in only)]
    paths = {name: work / f"{kind}-{i}.parquet" for i, name in enumerate(names)}
    enc: dict[str, list[float]] = {n: [] for n in names}
    dec: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for name in names:
            enc[name].append(cpu_seconds(lambda n=name: encode(c, paths[n], CANDIDATES[n])))
            dec[name].append(cpu_seconds(lambda n=name: decode(paths[n])))
    out = {}
    for name in names:
        if not decode(paths[name]).column("spike_counts").equals(want):
            raise SystemExit(f"{name}: the rows read back differ from the rows written")
        out[name] = {
            "encode": statistics.median(enc[name]),
            "decode": statistics.median(dec[name]),
            "mb": paths[name].stat().st_size / 1e6,
            **_memory(name, kind, work),
        }
    return out


def main() -> None:
    ap = bench_args(__doc__, repeats=5)
    ap.add_argument("--only", nargs="*", default=[], help="candidates whose name contains one of these")
    ap.add_argument("--child", nargs=2, metavar=("CANDIDATE", "KIND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child, args.work)
        return
    work = Path(tempfile.mkdtemp(dir=args.work))
    try:
        for kind in ("sparse", "mua"):
            res = measure(kind, args.repeats, work, args.only)
            now = res[NOW]
            print(f"\n{kind}: 10 M tokens, median CPU of {args.repeats}")
            print("| options | encode s | x pyarrow | file MB | decode s | pool peak MB | RSS grew MB |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for name, r in res.items():
                shown = f"**{name} (chosen)**" if name == OURS else name
                print(
                    f"| {shown} | {r['encode']:.3f} | {now['encode'] / r['encode']:.2f} | {r['mb']:.2f} "
                    f"| {r['decode']:.3f} | {r['pool_peak_mb']:.0f} | {r['rss_mb']:.0f} |"
                )

    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
