"""CPU time per row of the stages issue 14 changed, old way against new way, in one process.

Each figure is process CPU time (not wall), median of ``--repeats``, the old and
the new way of each step timed alternately on the same 10 M-token segment, so a
loaded machine slows both alike and the ratio holds:

- merge, per row: decode the row's counts (zarr chunk read, as the merge did
  before) and encode it into the shard, against copying its encoded row group;
- export, per row: read the segment back from zarr and encode it, against
  encoding it in the block task (counts in memory) and joining the one-row file;
- hashing: sha256 of a raw file, against reading its recorded digest;
- a card's raster: 6 panels of 10 M tokens, drawn and saved.

Run: ``python bench/encode_once.py [--repeats 7] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import numpy as np  # noqa: E402

from neuralbench import store  # noqa: E402
from neuralbench.layout import BuildLayout, SessionKey  # noqa: E402
from neuralbench.rowgroups import copy_row_groups  # noqa: E402
from neuralbench.schema import segment_table  # noqa: E402
from neuralbench.segment_rows import SegmentRows  # noqa: E402
from neuralbench.shards import open_parquet  # noqa: E402
from neuralbench.sources.local import record_sha256, sha256_file, source_sha256  # noqa: E402


def _cpu(func) -> float:
    t0 = time.process_time()
    func()
    return time.process_time() - t0


def _pairs(steps: dict, repeats: int) -> dict[str, float]:
    """Median CPU seconds of each step, the steps interleaved repeat by repeat."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for name, func in steps.items():
            times[name].append(_cpu(func))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.work))
    counts = np.random.default_rng(0).poisson(0.16, (100, 100_000)).astype(np.uint8)  # 10 M tokens
    import xarray as xr

    attrs = {"segment_bins": [[0, counts.shape[1]]], "bin_size_s": 0.02}
    layout, key = BuildLayout(work), SessionKey("x", "s", "p")
    store.init_component(layout, "x", ["s"])
    lazy = xr.DataArray(counts, dims=("unit", "time"), attrs=attrs)
    target = store.create_partial(layout, key, lazy)
    target[:] = counts
    store.commit_session(layout, key, attrs)
    rows = SegmentRows(str(work / "rows"), "x", "s", "p", [[0, counts.shape[1]]])
    rows(0, counts)
    row_file = work / "rows" / "segment_0.parquet"

    def encode_from_zarr() -> None:  # before: export_session and write_shard each did this per row
        stored = store.read_segment(work, "x", "s", "p", "segment_0")
        with open_parquet(work / "old.parquet") as writer:
            writer.write_table(segment_table(stored, "s", "p", "segment_0", "x"), row_group_size=1)

    old_name, enc_name, copy_name = (
        "encode from zarr (old export, old merge)",
        "encode in the block task (new export)",
        "copy row group (new join, new merge)",
    )
    steps = {
        old_name: encode_from_zarr,
        enc_name: lambda: rows(0, counts),
        copy_name: lambda: copy_row_groups([(row_file, 0)], work / "new.parquet"),
    }
    per_row = _pairs(steps, args.repeats)
    raw = work / "raw.bin"
    with open(raw, "wb") as f:
        for _ in range(8):
            f.write(os.urandom(64 << 20))  # 512 MiB, about one xiao session of the bench tree
    hashed = _pairs({"sha256": lambda: sha256_file(raw)}, 3)["sha256"]
    record_sha256(raw, sha256_file(raw))
    recorded = _pairs({"record": lambda: source_sha256(raw)}, args.repeats)["record"]
    from neuralbench.viz import Sample, write_samples

    samples = [Sample(f"x · segment_{i}\nses", counts) for i in range(6)]
    card = _pairs({"raster": lambda: write_samples(samples, work / "r.png")}, 3)["raster"]
    gb = raw.stat().st_size / 1e9
    old = 2 * per_row[old_name]
    new = per_row[enc_name] + 2 * per_row[copy_name]
    print("| step, per 10 M-token row | CPU s (median) |")
    print("|---|---|")
    for name, sec in per_row.items():
        print(f"| {name} | {sec:.4f} |")
    print(f"| **row's parquet work in a build: before (2 encodes from zarr)** | **{old:.3f}** |")
    print(f"| **now (1 encode in the block + 2 copies)** | **{new:.3f}** ({old / new:.1f}x less) |")
    print()
    print(f"sha256: {hashed / gb:.2f} CPU-s per GB ({gb / hashed:.2f} GB/s); recorded digest: "
          f"{recorded * 1e3:.2f} ms per file")  # fmt: skip
    print(f"raster of 6 x 10 M tokens, drawn + saved: {card:.2f} CPU-s")


if __name__ == "__main__":
    main()
