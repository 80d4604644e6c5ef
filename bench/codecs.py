"""The zarr codec of ``spike_counts``: write CPU, bytes and read CPU per 10 M-token chunk.

Each candidate writes the same 10 M-token chunk (one segment, as
``store.create_partial`` lays a session out: one chunk per segment) through
zarr, as a block task does, and reads it back with zarr, checked equal. The two
kinds of counts are those of ``bench/encoding.py`` (``sparse`` units ~8 Hz,
``mua`` 5-100 Hz). Only zarr v3 codecs that plain ``xr.open_zarr`` reads are
tried. CPU is process CPU time, median of ``--repeats``, the candidates
interleaved; "x now" is against ``store.COMPRESSOR`` before this round.

Run: ``python bench/codecs.py [--repeats 7] [--work DIR]``.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import numpy as np  # noqa: E402
import zarr  # noqa: E402
from encoding import bench_args, counts, cpu_seconds  # noqa: E402
from zarr.codecs import BloscCodec, ZstdCodec  # noqa: E402

NOW = "blosc zstd 1 bitshuffle"
CANDIDATES = {
    NOW: BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"),
    "blosc zstd 1 shuffle": BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"),
    "blosc zstd 1 noshuffle": BloscCodec(cname="zstd", clevel=1, shuffle="noshuffle"),
    "blosc zstd 3 bitshuffle": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
    "blosc lz4 5 bitshuffle": BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    "blosc lz4 1 bitshuffle": BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle"),
    "blosc lz4 5 noshuffle": BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle"),
    "zstd 1 (zarr default codec)": ZstdCodec(level=1),
    "no compression": None,
}


def _array(path: Path, c: np.ndarray, codec) -> zarr.Array:
    return zarr.create_array(
        str(path), shape=c.shape, chunks=c.shape, dtype="uint8", fill_value=0,
        compressors=[codec] if codec is not None else None, zarr_format=3,
        config={"write_empty_chunks": True}, overwrite=True,
    )  # fmt: skip


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")


def measure(kind: str, repeats: int, work: Path) -> dict[str, dict[str, float]]:
    """Median write and read CPU-s and chunk bytes of each candidate, for one kind of counts."""
    c = counts(kind)
    arrays = {
        name: _array(work / f"{kind}-{i}.zarr", c, codec)
        for i, (name, codec) in enumerate(CANDIDATES.items())
    }
    write: dict[str, list[float]] = {n: [] for n in CANDIDATES}
    read: dict[str, list[float]] = {n: [] for n in CANDIDATES}
    for _ in range(repeats):
        for name, arr in arrays.items():
            write[name].append(cpu_seconds(lambda a=arr: a.__setitem__(slice(None), c)))
            read[name].append(cpu_seconds(lambda a=arr: a[:]))
    out = {}
    for name, arr in arrays.items():
        if not np.array_equal(zarr.open_array(arr.store_path.store.root)[:], c):
            raise SystemExit(f"{name}: the chunk read back differs from the chunk written")
        out[name] = {
            "write": statistics.median(write[name]),
            "read": statistics.median(read[name]),
            "mb": _bytes(Path(str(arr.store_path.store.root))) / 1e6,
        }
    return out


def main() -> None:
    args = bench_args(__doc__, repeats=7).parse_args()
    work = Path(tempfile.mkdtemp(dir=args.work))
    try:
        for kind in ("sparse", "mua"):
            res = measure(kind, args.repeats, work)
            now = res[NOW]
            print(f"\n{kind}: 10 M tokens, one chunk, median CPU of {args.repeats}")
            print("| codec | write CPU s | x now | chunk MB | read CPU s |")
            print("|---|---:|---:|---:|---:|")
            for name, r in res.items():
                ratio = now["write"] / r["write"]
                print(f"| {name} | {r['write']:.4f} | {ratio:.2f} | {r['mb']:.2f} | {r['read']:.4f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
