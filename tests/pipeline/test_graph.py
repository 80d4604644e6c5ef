"""The session's block-write graph: one task per block, each block read once, stats summed."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr
from dask.core import get_dependencies

from neuralbench.pipeline.graph import write_session


class _Seen:
    """An ``on_block`` that records (start, shape) in a file per call: it runs where the block runs."""

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, start, block):
        (self.folder / f"{start}.npy").write_bytes(block.tobytes())


def _counts(n_units=3, n_bins=10, chunk=4):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 400, size=(n_units, n_bins)).astype(np.uint16)
    return values, xr.DataArray(da.from_array(values, chunks=(n_units, chunk)), dims=("unit", "time"))


def test_each_block_is_written_saturated_and_its_stats_summed(tmp_path):
    values, lazy = _counts()
    target = zarr.create_array(tmp_path / "a.zarr", shape=values.shape, chunks=(3, 4), dtype=np.uint8)
    stats = dask.compute(write_session(lazy, target, _Seen(tmp_path)), scheduler="sync")[0]
    assert np.array_equal(target[:], np.minimum(values, 255).astype(np.uint8))
    assert stats == {"n_clipped_bins": int((values > 255).sum()), "n_spikes": int(values.sum())}
    assert sorted(int(p.stem) for p in tmp_path.glob("*.npy")) == [0, 4, 8]  # one call per block


def test_each_blocks_read_is_fused_with_its_write(tmp_path):
    """One task reads, bins and writes a block (nothing holds a block between two tasks);
    beside it only the alias dask keeps of the write's name, one gather and the sum."""
    values, lazy = _counts(n_bins=12, chunk=3)
    target = zarr.create_array(tmp_path / "a.zarr", shape=values.shape, chunks=(3, 3), dtype=np.uint8)
    (optimized,) = dask.optimize(write_session(lazy, target))  # what a client sends
    graph = dict(optimized.__dask_graph__())
    roots = [k for k in graph if not get_dependencies(graph, k)]
    assert len(roots) == 4 and all("_write_chunk" in str(k[0]) for k in roots)
    assert len(graph) == 2 * 4 + 2
