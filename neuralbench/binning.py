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
]

COUNT_DTYPE = np.dtype("uint16")
"""Unsaturated counts per bin, before :func:`saturate` makes them uint8."""

_COUNT_MAX = np.iinfo(COUNT_DTYPE).max
_GROUP_TOKENS = 1 << 18  # bincount buffer per unit group: 2 MiB of int64, stays in cache
_CHUNK = 1 << 14  # spikes per vectorised step: the temporaries stay in L2 cache


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
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Count spikes per (unit, bin) for the bins ``[start, stop)`` of a session.

    Parameters
    ----------
    times, unit_index
        Spike times in seconds and the row of the unit each spike belongs to.
        Spikes outside the block (or the session) are ignored, so a caller may
        pass a superset. Spikes grouped by unit (as a units table stores them)
        are binned without a sort.
    n_units
        Rows of the result.
    t0, bin_size_s, n_bins
        The session's time origin, bin width and total number of bins.
    start, stop
        The block of bins to count (default: the whole session).
    out
        Where to put the counts (e.g. some rows of a block being filled group by
        group); a new array when None.

    Returns
    -------
    numpy.ndarray
        ``(n_units, stop - start)`` counts as :data:`COUNT_DTYPE` (clipped at its
        maximum; :func:`saturate` then clips to uint8 and counts what it clipped).
    """
    stop = n_bins if stop is None else stop
    width = max(stop - start, 0)
    out = _zeroed(out, n_units, width)
    times = np.asarray(times, dtype=np.float64)
    unit_index = np.asarray(unit_index)
    if width == 0 or times.size == 0:
        return out
    if unit_index.dtype.kind not in "iu":
        unit_index = unit_index.astype(np.int64)
    if unit_index.size > 1 and not (unit_index[1:] >= unit_index[:-1]).all():
        order = np.argsort(unit_index, kind="stable")
        times, unit_index = times[order], unit_index[order]
    # padded rows: columns 0-1 take spikes before the block, the last two those after it
    row = width + 4
    edges = _Edges(t0, bin_size_s, start, stop, n_bins)
    flat = np.empty(times.size, dtype=np.int64)
    for c0 in range(0, times.size, _CHUNK):
        c1 = min(c0 + _CHUNK, times.size)
        edges.flat_index(times[c0:c1], unit_index[c0:c1], row, flat[c0:c1])
    _count_groups(flat, unit_index, row, out)
    return out


def _zeroed(out: np.ndarray | None, n_units: int, width: int) -> np.ndarray:
    """``out`` checked and set to 0, or a new block of zeros."""
    if out is None:
        return np.zeros((n_units, width), dtype=COUNT_DTYPE)
    if out.shape != (n_units, width) or out.dtype != COUNT_DTYPE:
        raise ValueError(f"out is {out.dtype}{out.shape}, need {COUNT_DTYPE}{(n_units, width)}")
    out[...] = 0
    return out


def _count_groups(flat: np.ndarray, unit_index: np.ndarray, row: int, out: np.ndarray) -> None:
    """Count the padded flat indices into ``out``, one bincount per group of units.

    Each group's buffer is small enough to stay in cache; the padding columns
    (spikes outside the block) are dropped on the way into ``out``.
    """
    n_units = out.shape[0]
    group = max(1, _GROUP_TOKENS // row)
    bounds = np.searchsorted(unit_index, np.arange(0, n_units + group, group))
    for g, u0 in enumerate(range(0, n_units, group)):
        lo, hi = int(bounds[g]), int(bounds[g + 1])
        if hi <= lo:
            continue
        u1 = min(u0 + group, n_units)
        part = flat[lo:hi] - u0 * row if u0 else flat[lo:hi]
        counts = np.bincount(part, minlength=(u1 - u0) * row)
        if hi - lo > _COUNT_MAX:  # fewer spikes than that cannot overflow a bin
            np.minimum(counts, _COUNT_MAX, out=counts)
        out[u0:u1] = counts.reshape(u1 - u0, row)[:, 2:-2]


class _Edges:
    """Bin index of spike times against the published edges, in cache-sized steps.

    A guess ``trunc((t - t0) / w)`` is within one bin of the truth; one comparison
    with the exact edge values on each side corrects it. Guesses are clamped to
    ``[start - 1, stop]`` first (NaN to ``start - 1``), so spikes outside the block
    land in the two padding columns on each side of their row and are dropped
    with them.
    """

    def __init__(self, t0: float, bin_size_s: float, start: int, stop: int, n_bins: int):
        self.t0, self.start, self.stop = t0, start, stop
        self.inv = 1.0 / bin_size_s
        self.delta = (t0 + bin_size_s) - t0  # numpy's arange step
        # edge 1 is t0 + w itself; it differs from t0 + 1 * delta only for some t0 != 0
        self.edge1 = t0 + bin_size_s
        self.exact1 = self.edge1 == t0 + 1.0 * self.delta
        self.closed = stop == n_bins  # the last bin is closed on the right
        self.e_stop = float(arange_edges(t0, bin_size_s, stop))
        n = _CHUNK
        self.f, self.e = np.empty(n), np.empty(n)
        self.g = np.empty(n, dtype=np.int64)
        self.b, self.b2, self.d = np.empty(n, dtype=bool), np.empty(n, dtype=bool), np.empty(n, np.int8)

    def _edge(self, kf: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Edge values at the (float) indices ``kf``: ``t0 + kf * delta`` as arange has them."""
        np.multiply(kf, self.delta, out=out)
        if self.t0 != 0.0:
            np.add(out, self.t0, out=out)
        if not self.exact1:
            out[kf == 1.0] = self.edge1
        return out

    def flat_index(self, t: np.ndarray, u: np.ndarray, row: int, out: np.ndarray) -> None:
        """``out = u * row + (bin - start + 2)``; bins outside the block fall in the padding."""
        n = t.size
        f, e, g, b, b2, d = (x[:n] for x in (self.f, self.e, self.g, self.b, self.b2, self.d))
        if self.t0 != 0.0:
            np.subtract(t, self.t0, out=f)
            np.multiply(f, self.inv, out=f)
        else:
            np.multiply(t, self.inv, out=f)
        np.fmax(f, self.start - 1, out=f)  # fmax/fmin map NaN to the bound
        np.fmin(f, self.stop, out=f)
        np.copyto(g, f, casting="unsafe")  # trunc
        np.copyto(f, g, casting="unsafe")  # the guess as float (exact)
        np.less(t, self._edge(f, e), out=b)
        np.add(f, 1.0, out=f)
        np.greater_equal(t, self._edge(f, e), out=b2)
        np.subtract(b2.view(np.int8), b.view(np.int8), out=d)
        if self.closed:  # a spike exactly on the last edge counts in the last bin
            np.equal(t, self.e_stop, out=b)
            np.subtract(d, b.view(np.int8), out=d)
        np.add(g, d, out=g)
        np.multiply(u, row, out=out, casting="unsafe")
        np.add(out, g, out=out)
        np.add(out, 2 - self.start, out=out)


def rebin_dense(block: np.ndarray, factor: int) -> np.ndarray:
    """Sum non-overlapping windows of ``factor`` samples along the last axis.

    The trailing partial window is dropped (published semantics). Sums are
    taken in a type that cannot wrap (uint16 when ``factor`` samples of the
    input's type always fit, else int64), then clipped to :data:`COUNT_DTYPE`.
    A transposed (time, unit) block is summed in its own memory order, a
    reshape-sum over whole rows, and the result returned as a (unit, time) view.
    """
    if factor < 1:
        raise ValueError(f"rebinning factor must be >= 1, got {factor}")
    n = block.shape[-1] // factor
    acc = _sum_dtype(block.dtype, factor)
    if block.ndim == 2 and factor > 1 and block.T.flags.c_contiguous and not block.flags.c_contiguous:
        rows = block.T[: n * factor].reshape(n, factor, block.shape[0])
        summed = rows.sum(axis=1, dtype=acc).T  # (unit, time) view of a (time, unit) result
    else:
        trimmed = block[..., : n * factor]
        if factor == 1:
            summed = trimmed.astype(acc, copy=False)
        else:
            summed = trimmed.reshape(*block.shape[:-1], n, factor).sum(axis=-1, dtype=acc)
    if summed.dtype == COUNT_DTYPE:
        return summed
    return np.minimum(summed, _COUNT_MAX).astype(COUNT_DTYPE)


def _sum_dtype(dtype: np.dtype, factor: int) -> np.dtype:
    """uint16 when a sum of ``factor`` values of ``dtype`` cannot exceed its range, else int64."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or (dtype.kind == "u" and dtype.itemsize == 1 and factor * 255 <= _COUNT_MAX):
        return COUNT_DTYPE
    if dtype == COUNT_DTYPE and factor == 1:
        return COUNT_DTYPE
    return np.dtype(np.int64)


def saturate(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Clip counts to uint8 (255 stays 255, nothing wraps) and count the clipped bins.

    Done a few columns at a time straight into the uint8 result, so the only
    block-sized allocation is the result itself (no bool mask, no clipped copy).
    """
    counts = np.asarray(counts)
    out = np.empty(counts.shape, dtype=np.uint8)
    if counts.ndim != 2 or counts.dtype.kind not in "iu":
        clipped = int(np.count_nonzero(counts > 255))
        np.copyto(out, np.minimum(counts, 255), casting="unsafe")
        return out, clipped
    if counts.size and counts.max() <= 255:  # the usual block: one pass to check, one to cast
        np.copyto(out, counts, casting="unsafe")
        return out, 0
    step = max(1, _GROUP_TOKENS // max(counts.shape[0], 1))
    clipped = 0
    for c0 in range(0, counts.shape[1], step):
        part = counts[:, c0 : c0 + step]
        clipped += int(np.count_nonzero(part > 255))
        np.minimum(part, 255, out=out[:, c0 : c0 + step], casting="unsafe")
    return out, clipped
