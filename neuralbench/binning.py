"""Spike times to counts, dense rebinning, and saturation to uint8.

The bins reproduce the published histogram bit for bit: edges are the values
``np.arange(t0, t_max + w, w)`` would hold, bin ``k`` takes ``e_k <= t < e_k+1``
(the last bin closed), and a spike exactly on an interior edge goes right. We get
there without materialising the edges or looping over units: an integer guess
``floor((t - t0) / w)``, one correction step against the exact edge values, and a
single ``bincount`` per group of units.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "COUNT_DTYPE",
    "arange_edges",
    "bin_spike_times",
    "count_bins",
    "rebin_dense",
    "saturate",
    "saturate_lazy",
]

COUNT_DTYPE = np.dtype("uint16")
"""Unsaturated counts per bin, before :func:`saturate` makes them uint8."""

_COUNT_MAX = np.iinfo(COUNT_DTYPE).max
_GROUP_TOKENS = 1 << 20  # bincount buffer per unit group: 8 MiB of int64


def count_bins(t0: float, t_max: float, bin_size_s: float) -> int:
    """Number of bins of the published histogram: ``len(np.arange(t0, t_max + w, w)) - 1``."""
    n_edges = math.ceil((t_max + bin_size_s - t0) / bin_size_s)
    return max(n_edges - 1, 0)


def arange_edges(t0: float, bin_size_s: float, k: np.ndarray) -> np.ndarray:
    """The values ``np.arange(t0, ..., bin_size_s)[k]`` without building the range.

    numpy fills a float range as ``start, start + step, start + i * delta`` with
    ``delta = (start + step) - start``; we reproduce that exactly.
    """
    k = np.asarray(k, dtype=np.int64)
    delta = (t0 + bin_size_s) - t0
    edges = t0 + k * delta
    return np.where(k == 1, t0 + bin_size_s, edges)


def bin_spike_times(
    times: np.ndarray,
    unit_index: np.ndarray,
    n_units: int,
    *,
    t0: float,
    bin_size_s: float,
    n_bins: int,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Count spikes per (unit, bin) for the bins ``[start, stop)`` of a session.

    Parameters
    ----------
    times, unit_index
        Spike times in seconds and the row of the unit each spike belongs to.
        Spikes outside the block (or the session) are ignored, so a caller may
        pass a superset.
    n_units
        Rows of the result.
    t0, bin_size_s, n_bins
        The session's time origin, bin width and total number of bins.
    start, stop
        The block of bins to count (default: the whole session).

    Returns
    -------
    numpy.ndarray
        ``(n_units, stop - start)`` counts as :data:`COUNT_DTYPE` (clipped at its
        maximum; :func:`saturate` then clips to uint8 and counts what it clipped).
    """
    stop = n_bins if stop is None else stop
    width = stop - start
    times = np.asarray(times, dtype=np.float64)
    unit_index = np.asarray(unit_index, dtype=np.int64)
    out = np.zeros((n_units, width), dtype=COUNT_DTYPE)
    if width <= 0 or times.size == 0:
        return out
    lo = arange_edges(t0, bin_size_s, start)
    hi = arange_edges(t0, bin_size_s, stop)
    keep = (times >= lo) & ((times < hi) | ((times == hi) & (stop == n_bins)))
    times, unit_index = times[keep], unit_index[keep]
    if times.size == 0:
        return out
    guess = np.floor((times - t0) / bin_size_s).astype(np.int64)
    np.clip(guess, start, stop - 1, out=guess)
    guess -= times < arange_edges(t0, bin_size_s, guess)
    guess += (times >= arange_edges(t0, bin_size_s, guess + 1)) & (guess + 1 < n_bins)
    np.clip(guess, start, stop - 1, out=guess)
    _accumulate(out, unit_index, guess - start)
    return out


def _accumulate(out: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Add one count per (row, col) pair into ``out``, one bincount per unit group."""
    n_units, width = out.shape
    group = max(1, _GROUP_TOKENS // max(width, 1))
    if n_units <= group:
        counts = np.bincount(rows * width + cols, minlength=n_units * width)
        np.minimum(counts, _COUNT_MAX, out=counts)
        out += counts.reshape(n_units, width).astype(COUNT_DTYPE)
        return
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    bounds = np.searchsorted(rows, np.arange(0, n_units + group, group))
    for g, u0 in enumerate(range(0, n_units, group)):
        u1 = min(u0 + group, n_units)
        r, c = rows[bounds[g] : bounds[g + 1]] - u0, cols[bounds[g] : bounds[g + 1]]
        counts = np.bincount(r * width + c, minlength=(u1 - u0) * width)
        np.minimum(counts, _COUNT_MAX, out=counts)
        out[u0:u1] += counts.reshape(u1 - u0, width).astype(COUNT_DTYPE)


def rebin_dense(block: np.ndarray, factor: int) -> np.ndarray:
    """Sum non-overlapping windows of ``factor`` samples along the last axis.

    The trailing partial window is dropped (published semantics). Sums are
    taken in int64 so a bool or uint8 input cannot wrap, then clipped to
    :data:`COUNT_DTYPE`.
    """
    if factor < 1:
        raise ValueError(f"rebinning factor must be >= 1, got {factor}")
    n = block.shape[-1] // factor
    trimmed = block[..., : n * factor]
    if factor == 1:
        summed = trimmed.astype(np.int64, copy=False)
    else:
        summed = trimmed.reshape(*block.shape[:-1], n, factor).sum(axis=-1, dtype=np.int64)
    return np.minimum(summed, _COUNT_MAX).astype(COUNT_DTYPE)


def saturate(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Clip counts to uint8 (255 stays 255, nothing wraps) and count the clipped bins."""
    clipped = int(np.count_nonzero(counts > 255))
    return np.minimum(counts, 255).astype(np.uint8), clipped


def saturate_lazy(counts):
    """Lazy :func:`saturate` of a dask-backed DataArray.

    Returns the uint8 DataArray and a lazy dict of session statistics
    (``n_clipped_bins``, ``n_spikes``), to be computed together with the write so
    each block of counts is computed once.
    """
    import dask
    import dask.array as da

    data = counts.data
    sat = counts.copy(data=da.map_blocks(_to_uint8, data, dtype=np.uint8))
    clipped = (data > 255).sum()
    spikes = data.sum(dtype=np.int64)
    stats = dask.delayed(_stats)(clipped, spikes)
    return sat, stats


def _to_uint8(block: np.ndarray) -> np.ndarray:
    return np.minimum(block, 255).astype(np.uint8)


def _stats(clipped, spikes) -> dict[str, int]:
    return {"n_clipped_bins": int(clipped), "n_spikes": int(spikes)}
