"""The session's block-write graph: one task per block, each block read once, stats summed."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr

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


def test_the_graph_has_one_write_task_per_block_and_one_sum(tmp_path):
    values, lazy = _counts(n_bins=12, chunk=3)
    target = zarr.create_array(tmp_path / "a.zarr", shape=values.shape, chunks=(3, 3), dtype=np.uint8)
    graph = dict(write_session(lazy, target).__dask_graph__())
    names = [k[0] if isinstance(k, tuple) else k for k in graph]
    assert sum(str(n).startswith("write_block-") for n in names) == 4
    assert sum(str(n).startswith("block_stats-") for n in names) == 1
