"""Synthetic raw trees in the exact layouts of the sources, for the demo, tests and benchmarks.

Files are real: NWB written with pynwb, MAT with scipy (v5) or h5py (v7.3), laid out
as each source's own download tool leaves them (``RAW/<component>/...``). The same
seed gives the same spike trains.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LAYOUTS", "Scale", "write_raw_tree"]

logger = logging.getLogger(__name__)

_START = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Scale:
    """Sizes of a synthetic tree: ``demo`` is seconds to build; benchmarks scale it up."""

    seconds: float = 120.0  # length of an ordinary session
    long_seconds: float = 5_200.0  # one session per units layout long enough to split
    units: int = 24
    rate_hz: float = 8.0
    sessions: int = 2

    @classmethod
    def tiny(cls) -> Scale:
        return cls(seconds=20.0, long_seconds=60.0, units=6, sessions=2)


def _spike_trains(rng: np.random.Generator, n_units: int, seconds: float, rate: float) -> list:
    """Poisson spike trains with some spikes exactly on bin edges and one silent unit."""
    trains = []
    for u in range(n_units):
        if u == 1:
            trains.append(np.array([], dtype=np.float64))  # an empty unit
            continue
        n = rng.poisson(rate * seconds * (0.5 + rng.random()))
        t = rng.uniform(0.0, seconds, n)
        on_edge = rng.integers(0, int(seconds / 0.02), size=max(1, n // 50)) * 0.02
        trains.append(np.sort(np.concatenate([t, on_edge])))
    # a final spike exactly on an edge, and a burst that saturates one bin
    trains[0] = np.sort(np.concatenate([trains[0], [round(seconds / 0.02) * 0.02]]))
    trains[-1] = np.sort(np.concatenate([trains[-1], np.full(300, 0.5 + 0.001)]))
    return trains


def _nwbfile(identifier: str, subject: str):
    from pynwb import NWBFile
    from pynwb.file import Subject

    return NWBFile(
        session_description="neuralbench synthetic session",
        identifier=identifier,
        session_start_time=_START,
        file_create_date=[_START],
        subject=Subject(subject_id=subject, species="Macaca mulatta"),
    )


def _write_nwb(path: Path, nwbfile) -> Path:
    from pynwb import NWBHDF5IO

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.nwb")  # hidden: never listed as a session
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    tmp.replace(path)
    return path


def _units_nwb(path: Path, trains: list, *, in_processing: bool, subject: str) -> Path:
    from pynwb.misc import Units

    nwb = _nwbfile(path.stem, subject)
    units = Units(name="units", description="synthetic sorted units")
    for t in trains:
        units.add_unit(spike_times=t)
    if in_processing:
        nwb.create_processing_module("ecephys", "processed extracellular data").add(units)
    else:
        nwb.units = units
    return _write_nwb(path, nwb)


def _timeseries_nwb(
    path: Path, data: np.ndarray, *, rate: float, where: str, name: str, subject: str
) -> Path:
    from pynwb import TimeSeries

    nwb = _nwbfile(path.stem, subject)
    ts = TimeSeries(name=name, data=data, unit="count", rate=rate, starting_time=0.0)
    if where == "acquisition":
        nwb.add_acquisition(ts)
    else:
        nwb.create_processing_module(where, "processed data").add(ts)
    return _write_nwb(path, nwb)


def _aux_nwb(path: Path, subject: str) -> Path:
    """A file of the dandiset that is not a session (behaviour, images, raw ephys)."""
    from pynwb import TimeSeries

    nwb = _nwbfile(path.stem, subject)
    nwb.add_acquisition(TimeSeries(name="position", data=np.zeros((10, 2)), unit="m", rate=100.0))
    return _write_nwb(path, nwb)


def _dandiset_yaml(root: Path, dandiset: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: synthetic\n")


def _churchland(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    base = root / "000070"
    _dandiset_yaml(base, "000070")
    out = []
    for i, (subject, secs) in enumerate(
        [("Jenkins", scale.long_seconds), ("Nitschke", scale.seconds)]
    ):
        n_units = scale.units + 16 if i == 0 else scale.units + 1
        trains = _spike_trains(rng, n_units, secs, scale.rate_hz)
        name = f"sub-{subject}/sub-{subject}_ses-2009091{i}_behavior+ecephys.nwb"
        out.append(_units_nwb(base / name, trains, in_processing=False, subject=subject))
    return out


def _neupane_ppc(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    base = root / "001275"
    _dandiset_yaml(base, "001275")
    out = []
    for subject, day in [("amadeus", "01042020"), ("mahler", "03122021")][: scale.sessions]:
        trains = _spike_trains(rng, scale.units, scale.seconds, scale.rate_hz)
        stem = f"sub-{subject}/sub-{subject}_ses-{day}"
        out.append(
            _units_nwb(
                base / f"{stem}_behavior+ecephys.nwb", trains, in_processing=True, subject=subject
            )
        )
        out.append(_aux_nwb(base / f"{stem}_ecephys.nwb", subject))
    return out


def _xiao(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    base = root / "000628"
    _dandiset_yaml(base, "000628")
    out = []
    for k in range(scale.sessions):
        n_ms = int(scale.seconds * 1000) + 7  # a trailing partial 20 ms window
        raster = (rng.random((n_ms, scale.units)) < scale.rate_hz / 1000).astype(np.uint8)
        stem = f"sub-An/sub-An_ses-2022010{k + 1}T173929"
        out.append(
            _timeseries_nwb(
                base / f"{stem}.nwb",
                raster,
                rate=1000.0,
                where="ecephys",
                name="rasters",
                subject="An",
            )
        )
        out.append(_aux_nwb(base / f"{stem}_behavior.nwb", "An"))
        out.append(_aux_nwb(base / f"{stem}_image.nwb", "An"))
    return out


def _h2(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    base = root / "000950"
    _dandiset_yaml(base, "000950")
    out = []
    for k, split in enumerate(["held-in-calib", "held-out-calib"][: scale.sessions]):
        n_bins = int(scale.seconds / 0.02)
        counts = rng.poisson(scale.rate_hz * 0.02, (n_bins, 192)).astype(np.int64)
        counts[3, 5] = 300  # saturates
        name = f"sub-T5-{split}/sub-T5-{split}_ses-2022051{8 + k}.nwb"
        out.append(
            _timeseries_nwb(
                base / name,
                counts,
                rate=50.0,
                where="acquisition",
                name="binned_spikes",
                subject="T5",
            )
        )
    return out


def _willett(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    from scipy.io import savemat

    out = []
    for folder, stem in [("diagnosticBlocks", "t12.2022.05.05"), ("sentences", "t12.2022.05.05")]:
        n_bins = int(scale.seconds / 0.02)
        tx1 = rng.poisson(scale.rate_hz * 0.02, (n_bins, 256)).astype(np.float64)
        path = root / folder / f"{stem}.mat"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial.mat")
        savemat(tmp, {"tx1": tx1, "blockNum": np.ones((n_bins, 1))})
        tmp.replace(path)
        out.append(path)
    return out


LAYOUTS: dict[str, Callable[[Path, np.random.Generator, Scale], list[Path]]] = {
    "xiao": _xiao,
    "neupane-ppc": _neupane_ppc,
    "willett": _willett,
    "churchland": _churchland,
    "h2": _h2,
}
"""A writer per component: ``writer(RAW/<name>, rng, scale) -> written files``."""


def write_raw_tree(
    raw: str | Path,
    only: Iterable[str] | None = None,
    *,
    seed: int = 0,
    scale: Scale | None = None,
) -> dict[str, list[Path]]:
    """Write a synthetic raw tree ``raw/<component>/...`` for the named components.

    Examples
    --------
    >>> import tempfile
    >>> files = write_raw_tree(tempfile.mkdtemp(), only=["h2"], scale=Scale.tiny())
    >>> sorted(p.name for p in files["h2"])[0]
    'sub-T5-held-in-calib_ses-20220518.nwb'
    """
    from neuralbench.catalog import get_recipe

    scale = scale or Scale()
    names = list(only) if only is not None else list(LAYOUTS)
    written = {}
    for name in names:
        get_recipe(name)
        if name not in LAYOUTS:
            raise KeyError(f"no synthetic layout for {name!r}; have {', '.join(LAYOUTS)}")
        rng = np.random.default_rng([seed, list(LAYOUTS).index(name)])
        written[name] = LAYOUTS[name](Path(raw) / name, rng, scale)
        logger.info("synth %s: %d files", name, len(written[name]))
    return written
