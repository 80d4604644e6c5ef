"""The dask graph of a build: a session's block writes, one task per block.

Readers hand back lazy ``(unit, time)`` arrays whose blocks follow the segments;
here each block is wired to :func:`neuralbench.store.write_block` and the
per-block statistics to :func:`neuralbench.store.block_stats`, and each block's read
is fused with its write into one task (no binned block waits in a worker's memory
for a task of its own). Computing the
result (one ``Task.compute`` of the session chain) gives the session's
``{"n_clipped_bins": ..., "n_spikes": ...}``. A ``da.store`` plus separate sums
would read and bin every block once per consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask
import numpy as np
import xarray as xr
import zarr

from neuralbench.store import block_stats, write_block

__all__ = ["write_session"]


def write_session(
    counts: xr.DataArray, target: zarr.Array, on_block: Callable[[int, np.ndarray], Any] | None = None
) -> Any:
    """A lazy write of ``counts`` into ``target`` (see :func:`neuralbench.store.write_block`)."""
    blocks = counts.data.to_delayed().ravel()
    starts = np.cumsum((0,) + counts.data.chunks[1])[:-1]
    written = [
        dask.delayed(write_block, pure=True)(block, target, int(start), on_block)
        for block, start in zip(blocks, starts, strict=True)
    ]
    stats = dask.delayed(block_stats, pure=True)(written)
    # each block's read and write fused into one task: as two, a worker ran reads of several
    # sessions ahead of their writes and held up to 15 binned blocks (250 MB) between them
    with dask.config.set({"optimization.fuse.delayed": True}):
        (stats,) = dask.optimize(stats)
    return stats
