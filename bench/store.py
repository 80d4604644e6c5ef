"""What a session costs the store, per layout: create, write its blocks, commit, open.

Layout 2 (today: a session group that xarray opens, with ``unit``/``time``
coordinates and consolidated metadata) against layout 1 (neuralbench 0.1: one bare
zarr array per session, its attrs on the array), re-created here as the baseline
with the same compressor and chunking. The block writes are the same code in both;
what differs is the metadata around them, done once per session in the client
(create) and in the commit task. Medians of ``--repeats`` sessions, CPU and wall
time, in the same process, so that a loaded machine shifts both alike.

Run: ``python bench/store.py`` (``--units``, ``--bins``, ``--segments``, ``--repeats``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from neuralbench import store
from neuralbench.layout import BuildLayout, SessionKey
from neuralbench.readers.base import unit_coord


def _lazy(n_units: int, n_bins: int, n_segments: int) -> xr.DataArray:
    seg = -(-n_bins // n_segments)
    bounds = [[s, min(s + seg, n_bins)] for s in range(0, n_bins, seg)]
    attrs = {"segment_bins": bounds, "bin_size_s": 0.02, "t0_s": 0.0}
    data = xr.DataArray(np.zeros((n_units, n_bins), np.uint16), dims=("unit", "time"), attrs=attrs)
    return data.assign_coords(unit=unit_coord(np.arange(n_units) * 2, "id"))


def _layout_1(out: Path, key: tuple[str, str, str], counts: xr.DataArray, attrs: dict) -> zarr.Array:
    """neuralbench 0.1: create the bare array, write, put the attrs, rename."""
    src = out / "zarr" / ".partial" / "/".join(key)
    src.parent.mkdir(parents=True, exist_ok=True)
    (a, b), *_ = counts.attrs["segment_bins"]
    arr = zarr.create_array(
        store=str(src),
        shape=counts.shape,
        chunks=(counts.shape[0], b - a),
        dtype="uint8",
        fill_value=0,
        compressors=[store.COMPRESSOR],
        dimension_names=["unit", "time"],
        config={"write_empty_chunks": True},
    )
    _write(arr, counts)
    arr.attrs.put(attrs)
    dst = store.component_path(out, key[0]) / key[1] / key[2]
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    return arr


def _layout_2(out: Path, key: tuple[str, str, str], counts: xr.DataArray, attrs: dict) -> zarr.Array:
    arr = store.create_partial(BuildLayout(out), SessionKey(*key), counts)
    _write(arr, counts)
    store.commit_session(BuildLayout(out), SessionKey(*key), attrs)
    return arr


def _write(arr: zarr.Array, counts: xr.DataArray) -> None:
    block = np.random.default_rng(0).integers(0, 4, counts.shape, dtype=np.uint8)
    for a, b in counts.attrs["segment_bins"]:
        arr[:, a:b] = block[:, a:b]


def _median(write, out: Path, counts: xr.DataArray, repeats: int) -> tuple[float, float]:
    attrs = dict(counts.attrs, n_units=counts.shape[0], n_bins=counts.shape[1], tokens=int(counts.size))
    cpu, wall = [], []
    for i in range(repeats + 1):
        c, w = time.process_time(), time.perf_counter()
        write(out, ("x", "sub-0", f"ses-{i}"), counts, attrs)
        if i:  # the first one warms imports and caches
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=96)
    parser.add_argument("--bins", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 1, 4])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"{'session':>24}  {'layout 1 ms (cpu/wall)':>22}  {'layout 2 ms (cpu/wall)':>22}  ratio (wall)")
    for n_bins, n_seg in zip(args.bins, args.segments, strict=True):
        counts = _lazy(args.units, n_bins, n_seg)
        work = Path(tempfile.mkdtemp(prefix="nb-store-"))
        try:
            store.init_component(BuildLayout(work / "two"), "x", ["sub-0"])
            one = _median(_layout_1, work / "one", counts, args.repeats)
            two = _median(_layout_2, work / "two", counts, args.repeats)
        finally:
            shutil.rmtree(work)
        label = f"{args.units} x {n_bins:,} ({n_seg} seg)"
        print(
            f"{label:>24}  {one[0] * 1e3:10.1f} / {one[1] * 1e3:9.1f}  "
            f"{two[0] * 1e3:10.1f} / {two[1] * 1e3:9.1f}  {two[1] / one[1]:.2f}"
        )


if __name__ == "__main__":
    main()
