"""Synthetic raw trees of a chosen size, in the layouts of five components.

``neuralbench.synth`` writes small trees held in memory; a benchmark needs
sessions of hundreds of MB. This writes the same layouts (xiao, neupane-ppc,
willett, churchland, h2: the paths, groups, dtypes and orientations the recipes
read) with real pynwb / scipy files, streaming the dense rasters to disk block by
block so that the writer never holds a whole session. Tokens are shared between
the components as in the published corpus (xiao 17.7 B, neupane-ppc 7.9 B,
willett 1.8 B, churchland 1.28 B, h2 0.3 B).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from neuralbench.synth import new_nwbfile

SHARES = {"xiao": 17.70, "neupane-ppc": 7.90, "willett": 1.80, "churchland": 1.28, "h2": 0.30}
SEGMENT = 10_000_000
RATE_HZ = 8.0  # spikes per unit per second: 0.16 spikes per 20 ms token


@dataclass(frozen=True)
class Plan:
    """Sessions of one component: units, 20 ms bins and count of sessions."""

    name: str
    sessions: int
    units: int
    bins: int

    @property
    def tokens(self) -> int:
        return self.sessions * self.units * self.bins


# units per session and tokens per session aimed at, per component (about the published means)
_SHAPE = {
    "xiao": (100, 26_000_000),
    "neupane-ppc": (300, 68_000_000),
    "willett": (256, 10_000_000),  # MAT v5 is read whole: one segment per file keeps it fair
    "churchland": (150, 22_000_000),
    "h2": (192, 5_000_000),
}


def plan_tree(tokens: int) -> list[Plan]:
    """Session shapes giving about ``tokens`` in total, at least two sessions per component."""
    total = sum(SHARES.values())
    plans = []
    for name, share in SHARES.items():
        units, per_session = _SHAPE[name]
        want = tokens * share / total
        sessions = max(2, round(want / per_session))
        bins = max(50, int(want / (sessions * units)))
        plans.append(Plan(name, sessions, units, bins))
    return plans


def _write(path: Path, nwb) -> None:
    from pynwb import NWBHDF5IO

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.nwb")
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    tmp.replace(path)


def _spikes(rng: np.random.Generator, units: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted Poisson trains, concatenated unit after unit, a few spikes exactly on 20 ms edges."""
    lens = rng.poisson(RATE_HZ * seconds * rng.uniform(0.5, 1.5, units))
    trains = []
    for k in lens:
        t = rng.uniform(0.0, seconds, k)
        t[: k // 50] = rng.integers(0, int(seconds / 0.02), k // 50) * 0.02
        trains.append(np.sort(t))
    return np.concatenate(trains), np.cumsum(lens)


def write_units_session(path: Path, units: int, bins: int, *, seed: int, in_processing: bool) -> None:
    """An NWB units table (``spike_times`` + ``spike_times_index``) spanning ``bins`` 20 ms bins."""
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    rng = np.random.default_rng(seed)
    times, ends = _spikes(rng, units, bins * 0.02 - 0.01)
    st = VectorData(name="spike_times", description="spike times (s)", data=times)
    index = VectorIndex(name="spike_times_index", data=ends, target=st)
    table = Units(
        name="units",
        description="benchmark units",
        id=ElementIdentifiers(name="id", data=np.arange(units)),
        columns=[st, index],
    )
    subject = path.parent.name.removeprefix("sub-")
    nwb = new_nwbfile(path.stem, subject)
    if in_processing:
        nwb.create_processing_module("ecephys", "processed extracellular data").add(table)
    else:
        nwb.units = table
    _write(path, nwb)


def _raster_iterator(n_rows: int, units: int, *, seed: int, p: float, dtype: str):
    """A (time, unit) count array produced block by block (hdmf writes it chunk by chunk)."""
    from hdmf.data_utils import GenericDataChunkIterator

    class _Raster(GenericDataChunkIterator):
        def _get_data(self, selection):
            a, b = selection[0].start or 0, selection[0].stop
            rng = np.random.default_rng([seed, a])
            block = np.zeros((b - a, units), dtype=dtype)
            flat = block.reshape(-1)
            hits = rng.integers(0, flat.size, int(flat.size * p))
            np.add.at(flat, hits, 1) if dtype != "uint8" else flat.__setitem__(hits, 1)
            return block[:, selection[1]]

        def _get_maxshape(self):
            return (n_rows, units)

        def _get_dtype(self):
            return np.dtype(dtype)

    rows = max(1, min(n_rows, 100_000))
    buffer = (min(n_rows, 10 * rows), units)
    return _Raster(chunk_shape=(rows, units), buffer_shape=buffer, display_progress=False)


def write_dense_session(
    path: Path, units: int, rows: int, *, seed: int, rate: float, where: str, name: str, dtype: str, p: float
) -> None:
    """An NWB TimeSeries of counts, (time, unit), written without holding it whole."""
    from pynwb import TimeSeries

    data = _raster_iterator(rows, units, seed=seed, p=p, dtype=dtype)
    ts = TimeSeries(name=name, data=data, unit="count", rate=rate, starting_time=0.0)
    nwb = new_nwbfile(path.stem, path.parent.name.removeprefix("sub-"))
    if where == "acquisition":
        nwb.add_acquisition(ts)
    else:
        nwb.create_processing_module(where, "processed data").add(ts)
    _write(path, nwb)


def write_xiao(path: Path, units: int, bins: int, seed: int) -> None:
    """1 ms uint8 raster at processing/ecephys/rasters, 7 trailing ms (a partial 20 ms window)."""
    write_dense_session(
        path, units, bins * 20 + 7, seed=seed, rate=1000.0, where="ecephys", name="rasters",
        dtype="uint8", p=RATE_HZ / 1000,
    )  # fmt: skip


def _willett(path: Path, units: int, bins: int, seed: int) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tx1 = rng.poisson(RATE_HZ * 0.02, (bins, units)).astype(np.float64)
    tmp = path.with_name(f".{path.name}.partial.mat")
    savemat(tmp, {"tx1": tx1, "blockNum": np.ones((bins, 1))})
    tmp.replace(path)


def _session_paths(plan: Plan) -> list[Path]:
    out = []
    for k in range(plan.sessions):
        if plan.name == "xiao":
            sub = f"sub-{'ABCDEFGHIJKLM'[k % 13]}"
            out.append(Path("000628") / sub / f"{sub}_ses-{20220101 + k}T173929.nwb")
        elif plan.name == "neupane-ppc":
            sub = ("sub-amadeus", "sub-mahler")[k % 2]
            out.append(Path("001275") / sub / f"{sub}_ses-{1042020 + k:08d}_behavior+ecephys.nwb")
        elif plan.name == "willett":
            folder = ("diagnosticBlocks", "sentences", "tuningTasks")[k % 3]
            out.append(Path(folder) / f"t12.2022.{5 + k // 28:02d}.{1 + k % 28:02d}.mat")
        elif plan.name == "churchland":
            sub = ("sub-Jenkins", "sub-Nitschke")[k % 2]
            out.append(Path("000070") / sub / f"{sub}_ses-{20090910 + k}_behavior+ecephys.nwb")
        else:
            sub = ("sub-T5-held-in-calib", "sub-T5-held-out-calib")[k % 2]
            out.append(Path("000950") / sub / f"{sub}_ses-{20220518 + k}.nwb")
    return out


def write_session(plan: Plan, path: Path, seed: int) -> None:
    """One session of ``plan`` at ``path`` in the component's own layout."""
    if plan.name == "xiao":
        write_xiao(path, plan.units, plan.bins, seed)
    elif plan.name == "neupane-ppc":
        write_units_session(path, plan.units, plan.bins, seed=seed, in_processing=True)
    elif plan.name == "churchland":
        write_units_session(path, plan.units, plan.bins, seed=seed, in_processing=False)
    elif plan.name == "willett":
        _willett(path, plan.units, plan.bins, seed)
    else:
        write_dense_session(
            path, plan.units, plan.bins, seed=seed, rate=50.0, where="acquisition",
            name="binned_spikes", dtype="int64", p=RATE_HZ * 0.02,
        )  # fmt: skip


def write_tree(raw: Path, tokens: int, seed: int = 0) -> list[Plan]:
    """Write ``raw/<component>/...`` for about ``tokens`` tokens; reuse a finished tree of the same plan."""
    plans = plan_tree(tokens)
    stamp = raw / ".bench-tree.json"
    want = {"seed": seed, "plans": [asdict(p) for p in plans]}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return plans
    for i, plan in enumerate(plans):
        for k, rel in enumerate(_session_paths(plan)):
            write_session(plan, raw / plan.name / rel, seed=seed * 1_000_003 + i * 1000 + k)
    stamp.write_text(json.dumps(want))
    return plans


def segments_of(units: int, bins: int) -> int:
    """Rows the segment rule gives a session of that shape."""
    return max(1, math.ceil(units * bins / SEGMENT))
