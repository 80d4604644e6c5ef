"""Damaged and unusual raw files, written for real (pynwb, scipy, h5py) or copied from ../shared.

Each case is a :class:`BadFile`: the component whose layout it joins, where it goes
below ``RAW/<component>``, how to write it, and what the build must say about it
(``error`` is a piece of the failure message; ``None`` means the session is built,
repaired where the data is still meaningful).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import REAL_DATA

EDGE = REAL_DATA / "nwb" / "edge_cases"
DANDI_CLI = REAL_DATA / "nwb" / "dandi-cli"


@dataclass(frozen=True)
class BadFile:
    case: str
    component: str
    relpath: str
    write: Callable[[Path], None]
    error: str | None  # a piece of the error message, or None when the session is built
    real: Path | None = None  # a real file this case copies (skipped when absent)


def _units(path: Path, trains: list, *, group: str = "units") -> None:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.misc import Units

    from neuralbench.synth import _START

    nwb = NWBFile(session_description="bad input", identifier=path.stem, session_start_time=_START)
    units = Units(name="units", description="bad input")
    for t in trains:
        units.add_unit(spike_times=np.asarray(t, dtype=np.float64))
    nwb.units = units
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)


def _series(path: Path, data: np.ndarray) -> None:
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    from neuralbench.synth import _START

    nwb = NWBFile(session_description="bad input", identifier=path.stem, session_start_time=_START)
    nwb.add_acquisition(TimeSeries(name="binned_spikes", data=data, unit="count", rate=50.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)


def _copy(src: Path) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)

    return write


def _bytes(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return write


def _truncated(path: Path) -> None:
    _units(path, GOOD_TRAINS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _mat_without_variable(path: Path) -> None:
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"blockNum": np.ones((50, 1))})


GOOD_TRAINS = [np.array([0.01, 0.03, 0.03, 0.5, 1.0]), np.array([0.2, 0.9, 1.5])]
"""Spike trains of the synthetic bad-input sessions that are still built."""

NEGATIVE_NAN = [np.array([-0.5, -0.01, 0.01, 0.03, 1.0]), np.array([0.2, np.nan, 0.9, 1.5])]

CASES = [
    BadFile(
        "truncated-allen",
        "kim",
        "sub-Allen/sub-Allen_ses-truncated.nwb",
        _copy(EDGE / "nwb-linkml_aibs_truncated.nwb"),
        "spike_times_index points past the end of spike_times",
        real=EDGE / "nwb-linkml_aibs_truncated.nwb",
    ),
    BadFile(
        "nwb20b-region-refs",
        "kim",
        "sub-MatNWB/sub-MatNWB_ses-tutorial.nwb",
        _copy(EDGE / "matnwb_ecephys_tutorial_nwb2.0b.nwb"),
        None,
        real=EDGE / "matnwb_ecephys_tutorial_nwb2.0b.nwb",
    ),
    BadFile(
        "units-unusual-path",
        "kim",
        "sub-Explorer/sub-Explorer_ses-units.nwb",
        _copy(EDGE / "nwb-explorer_test_Units.nwb"),
        "no units table at /units",
        real=EDGE / "nwb-explorer_test_Units.nwb",
    ),
    BadFile(
        "unsorted-dandi-cli",
        "kim",
        "sub-anm369963/sub-anm369963_ses-20170228.nwb",
        _copy(DANDI_CLI / "sub-anm369963_ses-20170228.nwb"),
        None,
        real=DANDI_CLI / "sub-anm369963_ses-20170228.nwb",
    ),
    BadFile(
        "unsorted-synth",
        "kim",
        "sub-U/sub-U_ses-unsorted.nwb",
        lambda p: _units(p, [t[::-1] for t in GOOD_TRAINS]),
        None,
    ),
    BadFile(
        "negative-and-nan",
        "kim",
        "sub-N/sub-N_ses-negnan.nwb",
        lambda p: _units(p, NEGATIVE_NAN),
        None,
    ),
    BadFile(
        "past-session-end",
        "kim",
        "sub-P/sub-P_ses-glitch.nwb",
        lambda p: _units(p, [np.array([0.1, 0.2, 1e9]), np.array([0.5])]),
        "past any plausible session end",
    ),
    BadFile(
        "infinite-spike-time",
        "kim",
        "sub-P/sub-P_ses-inf.nwb",
        lambda p: _units(p, [np.array([0.1, np.inf])]),
        "infinite spike times",
    ),
    BadFile("no-units", "kim", "sub-E/sub-E_ses-nounits.nwb", lambda p: _units(p, []), "has no units"),
    BadFile(
        "no-spikes",
        "kim",
        "sub-E/sub-E_ses-nospikes.nwb",
        lambda p: _units(p, [np.array([]), np.array([])]),
        "holds no spike times",
    ),
    BadFile(
        "one-silent-unit",  # the synthetic tree has none (nor have the real files of 4 dandisets)
        "kim",
        "sub-S/sub-S_ses-silent.nwb",
        lambda p: _units(p, [np.array([0.1, 0.5]), np.array([]), np.array([0.3])]),
        None,
    ),
    BadFile("truncated-hdf5", "kim", "sub-T/sub-T_ses-truncated.nwb", _truncated, "HDF5 file"),
    BadFile(
        "not-hdf5", "kim", "sub-T/sub-T_ses-text.nwb", _bytes(b"this is not HDF5\n" * 40), "not an HDF5 file"
    ),
    BadFile("zero-bytes", "kim", "sub-T/sub-T_ses-empty.nwb", _bytes(b""), "file is empty (0 bytes)"),
    BadFile(
        "spaces-and-unicode",
        "kim",
        "sub-Zoë Ånd/sub-Zoë Ånd_ses-1 (copie é).nwb",
        lambda p: _units(p, GOOD_TRAINS),
        None,
    ),
    BadFile(
        "series-length-0",
        "h2",
        "000950/sub-T5-empty/sub-T5-empty_ses-20990101.nwb",
        lambda p: _series(p, np.zeros((0, 8), dtype=np.int64)),
        "holds 0 samples",
    ),
    BadFile(
        "float-counts",
        "h2",
        "000950/sub-T5-float/sub-T5-float_ses-20990102.nwb",
        lambda p: _series(p, np.full((100, 8), 0.5)),
        "float values that are not counts",
    ),
    BadFile(
        "negative-counts",
        "h2",
        "000950/sub-T5-neg/sub-T5-neg_ses-20990103.nwb",
        lambda p: _series(p, np.full((100, 8), -1, dtype=np.int64)),
        "negative counts",
    ),
    BadFile(
        "mat-without-variable",
        "willett",
        "sentences/t12.2099.01.01.mat",
        _mat_without_variable,
        "has no variable 'tx1'",
    ),
    BadFile("mat-zero-bytes", "willett", "sentences/t12.2099.01.02.mat", _bytes(b""), "file is empty"),
]
"""Every bad input of the reliability issue, by case name."""


def write_cases(raw: Path, cases: list[BadFile]) -> list[BadFile]:
    """Write ``cases`` into ``raw/<component>/<relpath>``; those whose real file is absent are left out."""
    written = []
    for case in cases:
        if case.real is not None and not case.real.exists():
            continue
        case.write(raw / case.component / case.relpath)
        written.append(case)
    return written
