"""The dask graph of a build: a session's block writes, one task per block.

Readers hand back lazy ``(unit, time)`` arrays whose blocks follow the segments;
here :func:`neuralbench.store.write_block` is mapped over the blocks and the
per-block statistics reduced by :func:`neuralbench.store.block_stats`. Mapped as a
blockwise layer, each block's write fuses with its read into one task (dask's
array optimization), so no binned block ever waits in a worker's memory for a
task of its own. Computing the result (one ``Task.compute`` of the session chain)
gives the session's ``{"n_clipped_bins": ..., "n_spikes": ...}``. A ``da.store``
plus separate sums would read and bin every block once per consumer.
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
    """A lazy write of ``counts`` into ``target`` (see :func:`neuralbench.store.write_block`).

    One graph for the session (two separate tasks per block, a read and a write, let a
    worker run reads of several sessions ahead of their writes and hold up to 15 binned
    blocks, 250 MB; a delayed call per block cost the client ~5 ms each to tokenize and
    merge graphs).
    """
    n_blocks = len(counts.data.chunks[1])
    written = counts.data.map_blocks(
        _write_chunk, target, on_block, chunks=((1,), (2,) * n_blocks), dtype=np.int64
    )
    (written,) = dask.optimize(written)  # the array's optimization, which fuses each read and write
    return dask.delayed(_session_stats, pure=True)(written)


def _write_chunk(block: np.ndarray, target: zarr.Array, on_block, block_info=None) -> np.ndarray:
    """``write_block`` of one chunk, at its place in the session: ``[[clipped bins, spikes]]``."""
    start = block_info[0]["array-location"][1][0]
    return np.array([write_block(block, target, int(start), on_block)], dtype=np.int64)


def _session_stats(written: np.ndarray) -> dict[str, int]:
    return block_stats([(int(c), int(s)) for c, s in written.reshape(-1, 2)])
