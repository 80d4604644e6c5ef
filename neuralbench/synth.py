"""Synthetic raw trees in the exact layouts of the sources, for the demo, tests and benchmarks.

Files are real: NWB written with pynwb, MAT with scipy (v5) or h5py (v7.3), laid out
as each source's own download tool leaves them (``RAW/<component>/...``). The same
seed gives the same spike trains. The NWB layouts are here, the MAT / NPY ones in
:mod:`neuralbench._synth_archives`; :class:`Scale` lives in
:mod:`neuralbench._synth_common`, which both import.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from neuralbench import _synth_archives as _archives
from neuralbench._synth_common import Scale, hidden_partial

__all__ = ["LAYOUTS", "Scale", "new_nwbfile", "write_raw_tree"]

logger = logging.getLogger(__name__)

_START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _spike_trains(rng: np.random.Generator, n_units: int, seconds: float, rate: float) -> list:
    """Poisson spike trains with some spikes exactly on bin edges; every unit spikes.

    The real units files of churchland, perich and the neupane dandisets have no
    silent unit (their published builders would crash on one); that case lives in
    the bad-input tests (``tests/badfiles.py``).
    """
    trains = []
    for _ in range(n_units):
        n = max(1, rng.poisson(rate * seconds * (0.5 + rng.random())))
        t = rng.uniform(0.0, seconds, n)
        on_edge = rng.integers(0, int(seconds / 0.02), size=max(1, n // 50)) * 0.02
        trains.append(np.sort(np.concatenate([t, on_edge])))
    # a final spike exactly on an edge, and a burst that saturates one bin
    trains[0] = np.sort(np.concatenate([trains[0], [round(seconds / 0.02) * 0.02]]))
    trains[-1] = np.sort(np.concatenate([trains[-1], np.full(300, 0.5 + 0.001)]))
    return trains


_SPECIES = {"000950": "Homo sapiens", "000954": "Homo sapiens", "001062": "Callithrix jacchus"}
"""Dandisets whose subjects are not rhesus macaques (their listings' species)."""


def new_nwbfile(identifier: str, subject: str, species: str = "Macaca mulatta"):
    """An empty NWBFile with fixed dates (same seed, same file), for synthetic sessions.

    The subject has species, age and sex, as nwbinspector asks of a DANDI file.
    """
    from pynwb import NWBFile
    from pynwb.file import Subject

    return NWBFile(
        session_description="neuralbench synthetic session",
        identifier=identifier,
        session_start_time=_START,
        file_create_date=[_START],
        institution="neuralbench",
        lab="synthetic",
        experimenter=["Synth, Neural"],
        experiment_description="synthetic spike trains in a source's layout",
        subject=Subject(subject_id=subject, species=species, age="P5Y", sex="U", description="synthetic"),
    )


def _species(path: Path) -> str:
    return next((sp for dandiset, sp in _SPECIES.items() if dandiset in path.parts), "Macaca mulatta")


def _write_nwb(path: Path, nwbfile) -> Path:
    from pynwb import NWBHDF5IO

    tmp = hidden_partial(path)
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    tmp.replace(path)
    return path


def _units_nwb(path: Path, trains: list, *, in_processing: bool, subject: str) -> Path:
    from pynwb.misc import Units

    nwb = new_nwbfile(path.stem, subject, _species(path))
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

    nwb = new_nwbfile(path.stem, subject, _species(path))
    ts = TimeSeries(name=name, data=data, unit="count", rate=rate, starting_time=0.0)
    if where == "acquisition":
        nwb.add_acquisition(ts)
    elif where == "analysis":
        nwb.add_analysis(ts)
    else:
        nwb.create_processing_module(where, "processed data").add(ts)
    return _write_nwb(path, nwb)


def _aux_nwb(path: Path, subject: str) -> Path:
    """A file of the dandiset that is not a session (behaviour, images, raw ephys)."""
    from pynwb import TimeSeries

    nwb = new_nwbfile(path.stem, subject, _species(path))
    nwb.add_acquisition(TimeSeries(name="position", data=np.zeros((10, 2)), unit="m", rate=100.0))
    return _write_nwb(path, nwb)


def _dandiset_yaml(root: Path, dandiset: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\nname: synthetic\n")


def _churchland(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    base = root / "000070"
    _dandiset_yaml(base, "000070")
    out = []
    for i, (subject, secs) in enumerate([("Jenkins", scale.long_seconds), ("Nitschke", scale.seconds)]):
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
            _units_nwb(base / f"{stem}_behavior+ecephys.nwb", trains, in_processing=True, subject=subject)
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
    out = []
    for folder, stem in [("diagnosticBlocks", "t12.2022.05.05"), ("sentences", "t12.2022.05.05")]:
        n_bins = int(scale.seconds / 0.02)
        # uint8 as in the real files: the published build cast nothing and its merge took uint8
        tx1 = rng.poisson(scale.rate_hz * 0.02, (n_bins, 256)).astype(np.uint8)
        path = root / folder / f"{stem}.mat"
        out.append(_archives.write_mat5(path, {"tx1": tx1, "blockNum": np.ones((n_bins, 1))}))
    return out


# Units-table dandisets: (dandiset, units in processing/ecephys?, session paths, extra files).
# Paths follow the real asset listings (kim has none at hand: its names are made up).
_UNITS_LAYOUTS: dict[str, tuple[str, bool, tuple[str, ...], tuple[str, ...]]] = {
    "neupane-entorhinal": (
        "000897",
        True,
        ("sub-amadeus/sub-amadeus_ses-08152019_behavior+ecephys.nwb",
         "sub-mahler/sub-mahler_ses-04122021_behavior+ecephys.nwb"),
        ("sub-amadeus/sub-amadeus_ses-08152019_ecephys.nwb",),
    ),
    "kim": (
        "001357",
        False,
        ("sub-M1/sub-M1_ses-1_ecephys.nwb",
         "sub-M2/sub-M2_ses-1_ecephys.nwb"),
        (),
    ),
    "even-chen": (
        "000121",
        False,
        ("sub-JenkinsC/sub-JenkinsC_ses-20151001T150307_behavior+ecephys.nwb",
         "sub-Reggie/sub-Reggie_ses-20170115T125333_behavior+ecephys.nwb"),
        ("sub-JenkinsC/sub-JenkinsC_ses-20150924T154125_behavior+ecephys+image.nwb",),
    ),
    "perich": (
        "000688",
        False,
        ("sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb",
         "sub-M/sub-M_ses-RT-20140116_behavior+ecephys.nwb"),
        (),
    ),
    "m1-a": (
        "000941",
        False,
        ("sub-MonkeyL-held-in-calib/sub-MonkeyL-held-in-calib_ses-20120924_behavior+ecephys.nwb",
         "sub-MonkeyL-held-out-calib/sub-MonkeyL-held-out-calib_ses-20121004_behavior+ecephys.nwb"),
        (),
    ),
    "m1-b": (
        "001209",
        False,
        ("sub-MonkeyX-held-in-calib/sub-MonkeyX-held-in-calib_ses-20121206_behavior+ecephys.nwb",
         "sub-MonkeyX-held-out-calib/sub-MonkeyX-held-out-calib_ses-20121219_behavior+ecephys.nwb"),
        (),
    ),
    "h1": (
        "000954",
        False,
        ("sub-HumanPitt-held-in-calib/sub-HumanPitt-held-in-calib_ses-19250101T111740.nwb",
         "sub-HumanPitt-held-out-calib/sub-HumanPitt-held-out-calib_ses-19250126T113454.nwb"),
        (),
    ),
    "moore": ("001062", False, ("sub-MG/sub-MG_ecephys.nwb",), ()),
    "dmfc-rsg": (
        "000130",
        False,
        ("sub-Haydn/sub-Haydn_desc-train_ecephys.nwb", "sub-Haydn/sub-Haydn_desc-test_ecephys.nwb"),
        (),
    ),
    "m2": (
        "000953",
        False,
        ("sub-MonkeyN-held-in-calib/sub-MonkeyN-held-in-calib_ses-2020-10-19-Run1_behavior+ecephys.nwb",
         "sub-MonkeyN-held-out-calib/sub-MonkeyN-held-out-calib_ses-2020-11-03-Run1_behavior+ecephys.nwb"),
        (),
    ),
    "area2-bump": (
        "000127",
        False,
        ("sub-Han/sub-Han_desc-train_behavior+ecephys.nwb",
         "sub-Han/sub-Han_desc-test_ecephys.nwb"),
        (),
    ),
}  # fmt: skip


_EXTRAS_WITH_UNITS = {"even-chen"}
"""Layouts whose extra files hold a Units table (even-chen's ``*+image.nwb``: Units, LFP, Position)."""


def _units_layout(name: str) -> Callable[[Path, np.random.Generator, Scale], list[Path]]:
    """The writer of a units-table dandiset of :data:`_UNITS_LAYOUTS`."""

    def write(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
        dandiset, in_processing, sessions, extra = _UNITS_LAYOUTS[name]
        base = root / dandiset
        _dandiset_yaml(base, dandiset)
        out = []
        for k, rel in enumerate(sessions[: scale.sessions]):
            subject = rel.split("/", 1)[0].removeprefix("sub-")
            trains = _spike_trains(rng, scale.units + k, scale.seconds, scale.rate_hz)
            out.append(_units_nwb(base / rel, trains, in_processing=in_processing, subject=subject))
        for rel in extra:
            subject = rel.split("/", 1)[0].removeprefix("sub-")
            if name in _EXTRAS_WITH_UNITS:  # a session file too, which the recipe skips
                trains = _spike_trains(rng, scale.units, scale.seconds, scale.rate_hz)
                out.append(_units_nwb(base / rel, trains, in_processing=in_processing, subject=subject))
            else:
                out.append(_aux_nwb(base / rel, subject))
        return out

    write.__name__ = f"_{name.replace('-', '_')}"
    return write


def _athalye(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """Monkey G: counts at 60 Hz; monkey J: at 200 Hz (summed x4 to 20 ms)."""
    base = root / "000404"
    _dandiset_yaml(base, "000404")
    out = []
    for subject, rate in [("monk-g", 60.0), ("monk-j", 200.0)][: scale.sessions]:
        n = int(scale.seconds * rate) + 3  # a trailing partial window for J
        counts = rng.poisson(scale.rate_hz / rate, (n, scale.units)).astype(np.int64)
        counts[4:8, 0] = 100  # J: 400 per 20 ms bin, saturates after the sum
        name = f"sub-{subject}/sub-{subject}_ses-session0.nwb"
        out.append(
            _timeseries_nwb(
                base / name,
                counts,
                rate=rate,
                where="behavior",
                name="spike_counts",
                subject=subject,
            )
        )
    return out


def _temmar(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """First file in the 2024 layout (processing/ecephys), the second in the 2025 one (analysis)."""
    base = root / "001201"
    _dandiset_yaml(base, "001201")
    out = []
    for k, where in enumerate(["ecephys", "analysis"][: scale.sessions]):
        counts = rng.poisson(scale.rate_hz * 0.02, (int(scale.seconds / 0.02), 96)).astype(np.int64)
        name = f"sub-Monkey-N/sub-Monkey-N_ses-2021101{5 + k}_obj-synth{k}_ecephys.nwb"
        out.append(
            _timeseries_nwb(
                base / name, counts, rate=50.0, where=where, name="ThresholdCrossings", subject="N"
            )
        )
    return out


LAYOUTS: dict[str, Callable[[Path, np.random.Generator, Scale], list[Path]]] = {
    "xiao": _xiao,
    "neupane-ppc": _neupane_ppc,
    "willett": _willett,
    "churchland": _churchland,
    "h2": _h2,
    **{name: _units_layout(name) for name in _UNITS_LAYOUTS},
    "athalye": _athalye,
    "temmar": _temmar,
    "papale": _archives.papale,
    "wojcik": _archives.wojcik,
    "makin": _archives.makin,
    "lanzarini": _archives.lanzarini,
    "rajalingham": _archives.rajalingham,
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
