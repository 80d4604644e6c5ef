"""NWB readers: a units table of spike times, and a dense TimeSeries of counts.

Read with h5py rather than pynwb: the tasks need hyperslab reads of one dataset,
and opening a whole NWB file with pynwb in every block task would cost more than
the binning itself.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

import h5py
import numpy as np
import xarray as xr

from neuralbench.binning import COUNT_DTYPE, arange_edges, bin_spike_times, count_bins
from neuralbench.errors import ReaderError
from neuralbench.readers._dense import DenseReader
from neuralbench.readers._h5 import get_node, open_h5, slice_reader
from neuralbench.readers.base import Reader, SessionSource, reader_call, unit_coord

__all__ = ["NwbTimeSeriesReader", "NwbUnitsReader"]

logger = logging.getLogger(__name__)

_SCAN = 1 << 18  # spike times read per step while scanning (2 MiB of float64)
_READ_SPIKES = 1 << 18  # spike times binned per step in a block task (2 MiB of float64)

MAX_SESSION_S = 7 * 86_400.0
"""Longest plausible session, in seconds after t0: a later spike time is a corrupt value.

The published histogram runs to the last spike, so one glitched time stamp (say 1e9 s)
would make a session of billions of empty bins; we refuse it instead.
"""


class NwbUnitsReader(Reader):
    """A units table (``spike_times`` + ``spike_times_index``) binned into counts."""

    name = "nwb-units"
    description = "NWB Units table: spike times per unit, binned as the published histogram"
    version = 2  # 2: unsorted units keep their spikes in every block, not only the first

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        group: str = "units",
        bin_size_s: float = 0.02,
        time_origin: str = "zero",
        max_session_s: float = MAX_SESSION_S,
    ) -> SessionSource:
        """Scan the spike times (one streaming pass, two with times before t0) and describe them.

        ``time_origin="zero"`` bins from NWB time 0 (the published units recipes);
        ``"first_spike"`` from the earliest spike of the session. Which part of
        ``spike_times`` each block reads is planned once the blocks are known
        (``plan_blocks``: one more pass when there are several), so a block task
        reads only its own spikes of each sorted unit.

        Repairs, each logged as a warning and recorded in the attrs: unsorted
        spike times are binned all the same (``unsorted_units``), NaN times are
        ignored (``n_nan_spikes``), times before t0 (negative ones, for NWB time
        0) are dropped (``n_spikes_before_t0``). Refused with a ReaderError: an
        index past the end of ``spike_times``, infinite times, a time more than
        ``max_session_s`` after t0, a table with no units or no spikes.
        A pre-release (NWB 2.0b) ``spike_times_index`` of HDF5 region
        references is read as the offsets it stands for.
        """
        path = os.fspath(path)
        if time_origin not in ("zero", "first_spike"):
            raise ReaderError(path, f"unknown time_origin {time_origin!r}")
        with open_h5(path) as f:
            table = get_node(f, group, "units table")
            st, ends = _table_columns(path, table, group)
            t_min, t_max, n_nan, unsorted = _scan_units(st, ends)
            t0 = _time_origin(path, f"/{group}", st.name, (t_min, t_max), time_origin, max_session_s)
            n_before = _count_below(st, ends, t0) if t_min < t0 else 0
            ids = _table_ids(table, len(ends))
        _log_repairs(path, n_nan, n_before, t0, unsorted)
        n_bins = count_bins(t0, t_max, bin_size_s)
        return SessionSource(
            path=path,
            name=f"units-{path}",
            n_units=len(ends),
            n_bins=n_bins,
            t0_s=t0,
            bin_size_s=bin_size_s,
            read=reader_call(_units_block, path, group, t0=t0, bin_size_s=bin_size_s, n_bins=n_bins),
            unit=ids,
            attrs={
                "n_nan_spikes": int(n_nan),
                "unsorted_units": int(np.count_nonzero(unsorted)),
                "spikes_before_t0": bool(t_min < t0),
                "n_spikes_before_t0": int(n_before),
            },
            plan_blocks=functools.partial(_plan_blocks, path, group, ends, unsorted, t0, bin_size_s),
        )


def _table_columns(path: str, table, group: str) -> tuple[h5py.Dataset, np.ndarray]:
    """The ``spike_times`` column and each unit's end offset in it; no units is a ReaderError."""
    if "spike_times" not in table and "id" in table and table["id"].shape[0] == 0:
        raise ReaderError(path, f"units table /{group} has no units")
    st = get_node(table, "spike_times", "spike_times column")
    ends = _unit_ends(path, table, st)
    if len(ends) == 0:
        raise ReaderError(path, f"units table /{group} has no units")
    return st, ends


def _time_origin(
    path: str, table: str, column: str, t_range: tuple[float, float], time_origin: str, max_s: float
) -> float:
    """t0 of the bins from the spike times' range, which must be finite and plausible."""
    t_min, t_max = t_range
    if t_min == -np.inf or t_max == np.inf:
        raise ReaderError(path, f"{column} holds infinite spike times")
    if not np.isfinite(t_max):
        raise ReaderError(path, f"units table {table} holds no spike times")
    t0 = 0.0 if time_origin == "zero" else float(t_min)
    if t_max - t0 > max_s:
        raise ReaderError(
            path,
            f"{column} holds a spike time of {t_max} s, past any plausible session end "
            f"(more than max_session_s={max_s} s after t0={t0})",
        )
    return t0


def _log_repairs(path: str, n_nan: int, n_before: int, t0: float, unsorted: np.ndarray) -> None:
    if n_nan:
        logger.warning("%s: %d NaN spike times ignored", path, n_nan)
    if n_before:
        logger.warning("%s: %d spike times before t0=%s s dropped", path, n_before, t0)
    if unsorted.any():
        logger.warning("%s: spike times of %d units are not sorted", path, np.count_nonzero(unsorted))


def _plan_blocks(
    path: str,
    group: str,
    ends: np.ndarray,
    unsorted: np.ndarray,
    t0: float,
    bin_size_s: float,
    blocks: Sequence[tuple[int, int]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each block's ``(lo, hi)``: what it reads of each unit, ``spike_times[lo[u]:hi[u]]``.

    One block reads every unit whole, with no look at the file; more blocks need
    one streaming pass over the spike times (:func:`_block_ranges`).
    """
    if len(blocks) == 1:
        lo, hi = _block_ranges(None, ends, unsorted, t0, bin_size_s, blocks)
    else:
        with open_h5(path) as f:
            st = get_node(f, f"{group}/spike_times", "spike_times column")
            lo, hi = _block_ranges(st, ends, unsorted, t0, bin_size_s, blocks)
    return [(lo[:, i], hi[:, i]) for i in range(len(blocks))]


def _table_ids(table, n_units: int) -> xr.Variable:
    """The units table's ``id`` column, or the rows when it is missing or of another length."""
    if "id" in table and table["id"].shape == (n_units,):
        return unit_coord(table["id"][:], "id of the unit in the NWB units table")
    return unit_coord(np.arange(n_units), "row of the unit in the NWB units table (0-based)")


def _unit_ends(path: str, table, st) -> np.ndarray:
    """End offset of each unit in ``spike_times``, checked against its length."""
    if "spike_times_index" not in table:
        raise ReaderError(path, f"{table.name} has spike_times but no spike_times_index")
    index = table["spike_times_index"]
    if h5py.check_dtype(ref=index.dtype) is h5py.RegionReference:
        return _region_ends(path, index, st)
    if index.dtype.kind not in "iu":
        raise ReaderError(path, f"{index.name} has dtype {index.dtype}, not integer offsets")
    ends = np.asarray(index[()], dtype=np.int64).ravel()
    if ends.size and (np.any(np.diff(ends) < 0) or ends[0] < 0):
        raise ReaderError(path, f"{index.name} is not non-decreasing")
    if ends.size and ends[-1] > st.shape[0]:
        raise ReaderError(
            path, f"{index.name} points past the end of spike_times ({ends[-1]} > {st.shape[0]})"
        )
    if st.dtype.kind not in "fiu":
        raise ReaderError(path, f"{st.name} has dtype {st.dtype}, not numbers")
    return ends


def _region_ends(path: str, index, st) -> np.ndarray:
    """End offsets from a pre-release index of region references into ``spike_times``.

    Each reference must select one contiguous run that starts where the previous
    unit's run ended, which is what the offsets of NWB 2.x express.
    """
    ends, prev = [], 0
    for i, ref in enumerate(index[()]):
        if not ref:
            raise ReaderError(path, f"{index.name}[{i}] is a null region reference")
        space = h5py.h5r.get_region(ref, st.id)
        (lo,), (hi,) = space.get_select_bounds()
        if index.file[ref].name != st.name:
            raise ReaderError(path, f"{index.name}[{i}] refers to {index.file[ref].name}, not {st.name}")
        if space.get_select_npoints() != hi - lo + 1 or lo != prev:
            raise ReaderError(
                path, f"{index.name}[{i}] selects spike_times[{lo}:{hi + 1}], not the next contiguous run"
            )
        prev = hi + 1
        ends.append(prev)
    logger.warning("%s: %s holds region references (NWB 2.0b); read as offsets", path, index.name)
    return np.asarray(ends, dtype=np.int64)


def _count_below(st, ends: np.ndarray, t0: float) -> int:
    """How many spike times lie before ``t0`` (the bins drop them)."""
    n, below = int(ends[-1]), 0
    for c0 in range(0, n, _SCAN):
        below += int(np.count_nonzero(np.asarray(st[c0 : min(c0 + _SCAN, n)], dtype=np.float64) < t0))
    return below


def _scan_units(st, ends: np.ndarray) -> tuple[float, float, int, np.ndarray]:
    """One pass over the spike times: min, max, NaN count, and which units are unsorted.

    No unit index per spike: a decrease inside a step is within a unit unless the
    later spike starts a unit, and only the (few) decreases and NaNs are looked up.
    """
    n = int(ends[-1]) if ends.size else 0
    t_min, t_max, n_nan = np.inf, -np.inf, 0
    unsorted = np.zeros(len(ends), dtype=bool)
    prev_last = None
    for c0 in range(0, n, _SCAN):
        c1 = min(c0 + _SCAN, n)
        t = np.asarray(st[c0:c1], dtype=np.float64)
        nan = np.flatnonzero(np.isnan(t))
        if nan.size:
            n_nan += int(nan.size)
            unsorted[np.searchsorted(ends, nan + c0, side="right")] = True
        if nan.size < t.size:
            t_min = min(t_min, float(np.nanmin(t)))
            t_max = max(t_max, float(np.nanmax(t)))
        later = np.flatnonzero(np.diff(t) < 0) + (c0 + 1)  # positions of spikes earlier than the one before
        if prev_last is not None and t[0] < prev_last:
            later = np.concatenate([[c0], later])
        prev_last = t[-1]
        later = later[~_starts_unit(ends, later)]
        unsorted[np.searchsorted(ends, later, side="right")] = True
    return t_min, t_max, n_nan, unsorted


def _starts_unit(ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether each position in ``spike_times`` is the first spike of a unit (the end of another)."""
    i = np.minimum(np.searchsorted(ends, positions), len(ends) - 1)
    return ends[i] == positions


def _block_ranges(st, ends, unsorted, t0, bin_size_s, blocks) -> tuple[np.ndarray, np.ndarray]:
    """What each block reads of each unit: ``spike_times[lo[u, i]:hi[u, i]]``.

    A sorted unit's spikes of block ``i`` lie between its offsets at the block's
    edges, found by a binary search of the edges in the unit's part of every
    step; an unsorted unit is read whole by every block (and filtered there).
    One block reads every unit whole: ``st`` is not read then (None will do).
    """
    n_units = len(ends)
    starts = np.concatenate([[0], ends[:-1]])
    edges = arange_edges(t0, bin_size_s, np.array([b[0] for b in blocks][1:], dtype=np.int64))
    k = len(blocks)
    before = np.zeros((n_units, k - 1), dtype=np.int64)  # spikes of unit u before edge i
    n = int(ends[-1]) if ends.size and k > 1 else 0  # one block: nothing to search
    for c0 in range(0, n, _SCAN):
        c1 = min(c0 + _SCAN, n)
        t = np.asarray(st[c0:c1], dtype=np.float64)
        first, last = np.searchsorted(ends, [c0, c1 - 1], side="right")
        for u in range(int(first), int(last) + 1):
            if unsorted[u]:
                continue
            lo, hi = max(starts[u], c0) - c0, min(ends[u], c1) - c0
            if hi > lo:
                before[u] += np.searchsorted(t[lo:hi], edges, side="left")
    cuts = np.empty((n_units, k + 1), dtype=np.int64)
    cuts[:, 0] = starts
    cuts[:, 1:-1] = starts[:, None] + before
    cuts[:, -1] = ends
    lo, hi = cuts[:, :-1].copy(), cuts[:, 1:].copy()
    lo[unsorted], hi[unsorted] = starts[unsorted, None], ends[unsorted, None]
    return lo, hi


def _units_block(
    path: str,
    group: str,
    start: int,
    stop: int,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    t0: float,
    bin_size_s: float,
    n_bins: int,
) -> np.ndarray:
    """Counts of bins ``[start, stop)``, read and binned a group of units at a time.

    Each group's spike times (at most ``_READ_SPIKES`` unless one unit alone has
    more) are read straight into one reused float64 buffer and binned into the
    group's rows of the block, so the memory beyond the block itself is bounded
    whatever the spike density.
    """
    out = np.zeros((len(lo), stop - start), dtype=COUNT_DTYPE)
    sizes = hi - lo
    groups = _unit_groups(sizes, _READ_SPIKES)
    buf = np.empty(int(min(sizes.sum(), max(_READ_SPIKES, sizes.max(initial=0)))), dtype=np.float64)
    with open_h5(path) as f:
        st = slice_reader(f, f"{group}/spike_times", "spike_times column")
        for u0, u1 in groups:
            offsets = np.concatenate([[0], np.cumsum(sizes[u0:u1])])
            for u in range(u0, u1):
                if sizes[u]:
                    st.read_direct(buf, np.s_[lo[u] : hi[u]], np.s_[offsets[u - u0] : offsets[u - u0 + 1]])
            owners = np.repeat(np.arange(u1 - u0, dtype=np.int32), sizes[u0:u1])
            bin_spike_times(
                buf[: offsets[-1]],
                owners,
                u1 - u0,
                t0=t0,
                bin_size_s=bin_size_s,
                n_bins=n_bins,
                start=start,
                stop=stop,
                out=out[u0:u1],
            )
    return out


def _unit_groups(sizes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive units ``[u0, u1)`` whose spikes add up to at most ``budget`` (one unit at least)."""
    groups: list[tuple[int, int]] = []
    u0, total = 0, 0
    for u, size in enumerate(sizes.tolist()):
        if u > u0 and total + size > budget:
            groups.append((u0, u))
            u0, total = u, 0
        total += size
    if len(sizes):
        groups.append((u0, len(sizes)))
    return groups


class NwbTimeSeriesReader(DenseReader):
    """A dense TimeSeries of counts (``data`` of shape (time, units) or (units, time))."""

    name = "nwb-timeseries"
    description = "NWB TimeSeries of binned counts or a spike raster, summed to the bin width"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        group: str,
        alt_groups: tuple[str, ...] = (),
        time_axis: int = 0,
        native_bin_s: float = 0.02,
        bin_size_s: float = 0.02,
    ) -> SessionSource:
        """Describe the series summed into ``bin_size_s`` bins (trailing partial bin dropped).

        ``alt_groups`` are later locations of the same series, tried in order when
        ``group`` is absent (a dandiset re-published with a new layout); the one
        used is recorded in the ``source_group`` attribute.
        """
        path = os.fspath(path)
        with open_h5(path) as f:
            group = next((g for g in (group, *alt_groups) if g in f), group)
            series = get_node(f, group, "TimeSeries")
            data = get_node(series, "data", "TimeSeries data")
            shape, dtype = data.shape, data.dtype
            t0 = _series_start(series)
            unit = _series_electrodes(f, series, shape[1 - time_axis] if len(shape) == 2 else 0)
        return self.dense_source(
            path,
            f"{group}/data",
            shape,
            dtype,
            time_axis=time_axis,
            native_bin_s=native_bin_s,
            bin_size_s=bin_size_s,
            t0_s=t0,
            extra_attrs={"source_group": group},
            unit=unit,
        )


def _series_electrodes(f, series, n_units: int) -> xr.Variable | None:
    """Electrode ids of an ElectricalSeries' channels (its ``electrodes`` region), when it has one."""
    table = "general/extracellular_ephys/electrodes/id"
    if "electrodes" not in series or table not in f or series["electrodes"].shape != (n_units,):
        return None
    rows = np.asarray(series["electrodes"][:], dtype=np.int64)
    ids = f[table][:]
    if rows.size and (rows.min() < 0 or rows.max() >= ids.shape[0]):
        return None
    return unit_coord(ids[rows], "id of the channel's electrode in the NWB electrodes table")


def _series_start(series) -> float:
    """Time of the first sample: ``starting_time`` or ``timestamps[0]``, else 0."""
    if "starting_time" in series:
        return float(series["starting_time"][()])
    if "timestamps" in series and series["timestamps"].shape[0]:
        return float(series["timestamps"][0])
    return 0.0
