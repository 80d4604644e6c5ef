"""Synthetic archive files (MAT v5, MAT v7.3, NPY) in the layouts of the non-DANDI sources.

MAT v7.3 files are written as MATLAB writes them: an HDF5 file behind a 512-byte
MATLAB header, every array stored transposed (h5py sees MATLAB's dimensions
reversed) with a ``MATLAB_class`` attribute, and cells as object references into
``#refs#``, empty cells as the 1-D ``MATLAB_empty`` placeholder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralbench._synth_common import Scale, hidden_partial

__all__ = ["lanzarini", "makin", "papale", "rajalingham", "wojcik", "write_mat5", "write_mat73"]

_MAT73_HEADER = (
    "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Jan  1 00:00:00 2020 HDF5 schema 1.00 ."
)
_CLASS = {"f8": "double", "f4": "single", "u1": "uint8", "i8": "int64", "u8": "uint64"}


def write_mat73(path: Path, arrays: dict[str, np.ndarray], cells: dict | None = None) -> Path:
    """Write a MAT v7.3 file: ``arrays`` in MATLAB orientation, ``cells`` as object arrays.

    A cell is given as a 2-D numpy object array (MATLAB orientation) of arrays or
    ``None`` for an empty cell; each array is stored as a MATLAB column vector.
    """
    import h5py

    tmp = hidden_partial(path)
    with h5py.File(tmp, "w", userblock_size=512) as f:
        for name, value in arrays.items():
            value = np.asarray(value)
            ds = f.create_dataset(name, data=value.T)  # MATLAB is column-major
            ds.attrs["MATLAB_class"] = np.bytes_(_CLASS[value.dtype.str[1:]])
        refs_group = f.create_group("#refs#")
        n_ref = 0
        for name, cell in (cells or {}).items():
            refs = np.empty(cell.shape[::-1], dtype=h5py.ref_dtype)
            for (i, j), item in np.ndenumerate(cell):
                key = f"r{n_ref}"
                n_ref += 1
                if item is None:
                    target = refs_group.create_dataset(key, data=np.zeros(2, dtype=np.uint64))
                    target.attrs["MATLAB_class"] = np.bytes_("double")
                    target.attrs["MATLAB_empty"] = np.uint8(1)
                else:
                    column = np.asarray(item, dtype=np.float64).reshape(-1, 1)
                    target = refs_group.create_dataset(key, data=column.T)
                    target.attrs["MATLAB_class"] = np.bytes_("double")
                refs[j, i] = target.ref
            ds = f.create_dataset(name, data=refs)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
    header = _MAT73_HEADER.ljust(116).encode() + bytes(8) + b"\x00\x02" + b"IM"
    with open(tmp, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))
    tmp.replace(path)
    return path


def write_mat5(path: Path, content: dict) -> Path:
    """Write a MAT v5 file with scipy's ``savemat``, its header's creation time replaced.

    scipy stamps the time into the 116-byte header text: without the
    replacement, the same seed would give other bytes a second later.
    """
    from scipy.io import savemat

    tmp = hidden_partial(path)
    savemat(tmp, content)
    with open(tmp, "r+b") as fh:  # the 116-byte text at the start of a MAT v5 file
        fh.write(b"MATLAB 5.0 MAT-file, written by neuralbench.synth".ljust(116, b" "))
    tmp.replace(path)
    return path


def _trials(scale: Scale) -> int:
    return max(4, int(scale.seconds / 2))


def papale(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """GIN TVSD: ``monkeyF/THINGS_MUA_trials.mat`` (v7.3), ALLMUA MATLAB (elec, trials, 300)."""
    out = []
    for k, monkey in enumerate(["monkeyF", "monkeyN"][: scale.sessions]):
        n_elec, n_trials = 2 * scale.units + 8 * k, _trials(scale)
        mua = rng.normal(0.0, 1.0, (n_elec, n_trials, 300)).astype(np.float32)
        bursts = rng.random((n_elec, n_trials, 300)) < 0.01
        mua[bursts] += 6.0  # excursions above mean + 3.5 SD
        mua[0, 0, -1] = 50.0  # above threshold at the last sample: no event (no t + 1)
        allmat = np.arange(n_trials * 7, dtype=np.float64).reshape(n_trials, 7)
        out.append(write_mat73(root / monkey / "THINGS_MUA_trials.mat", {"ALLMUA": mua, "ALLMAT": allmat}))
        # the folder also holds the normalised MUA, which is not a session
        write_mat73(root / monkey / "THINGS_normMUA.mat", {"SNR": np.ones((n_elec, 4))})
    return out


def wojcik(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """Dryad: ``<subject>/<session>.npy`` of (trials, units, 1 ms) firing rates in Hz."""
    out = []
    for k, subject in enumerate(["monkey_a", "monkey_b"][: scale.sessions]):
        n_trials, n_units = _trials(scale), scale.units
        # rates that change from bin to bin, silent in about a third of the bins, so that
        # ceil(0.02 x mean rate) gives counts 0 to ~10 (not 1 everywhere)
        per_bin = rng.gamma(0.8, 60.0, (n_trials, n_units, 51)) * (rng.random((n_trials, n_units, 51)) < 0.65)
        rates = np.repeat(per_bin, 20, axis=2)[:, :, :1007].astype(np.float32)
        rates[:, 1, :] = 0.0  # a silent unit: ceil(0) stays 0
        rates[0, 0, :20] = 20_000.0  # a bin whose count (400) saturates
        path = root / subject / f"{subject}_session{k + 1}.npy"
        tmp = hidden_partial(path)
        with open(tmp, "wb") as fh:
            np.save(fh, rates)
        tmp.replace(path)
        out.append(path)
    return out


def makin(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """Zenodo 3854034: flat ``indy_*.mat`` / ``loco_*.mat`` (v7.3), ``spikes`` channels x units."""
    out = []
    for stem in ["indy_20160407_02", "loco_20170210_03"][: scale.sessions]:
        n_channels, slots = scale.units, 3
        start = 100.0 + rng.random() * 50  # recordings start well after t = 0
        cell = np.empty((n_channels, slots), dtype=object)
        for ch in range(n_channels):
            for u in range(slots):
                if ch == 2 or (u > 0 and rng.random() < 0.5):
                    continue  # an empty cell (channel 2 has no spikes at all)
                n = rng.poisson(scale.rate_hz * scale.seconds / slots)
                cell[ch, u] = np.sort(start + rng.uniform(0, scale.seconds, n))
        cell[0, 0] = np.sort(np.concatenate([cell[0, 0], [start + 0.04] * 3]))
        t = np.arange(start, start + scale.seconds, 0.004).reshape(-1, 1)
        out.append(write_mat73(root / f"{stem}.mat", {"t": t}, cells={"spikes": cell}))
    return out


def lanzarini(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """OSF 82jfr: ``<subject>/<session>.mat`` (v5) with ``Spk_NNNa_sh`` row vectors."""
    out = []
    for k, subject in enumerate(["monkeyA", "monkeyB"][: scale.sessions]):
        content: dict[str, np.ndarray] = {}
        for ch in range(scale.units):
            n = rng.poisson(scale.rate_hz * scale.seconds)
            content[f"Spk_{ch:03d}a_sh"] = np.sort(rng.uniform(0, scale.seconds, n)).reshape(1, -1)
        end = round(scale.seconds / 0.02) * 0.02 + 0.02
        content["Spk_000a_sh"] = np.append(content["Spk_000a_sh"], end).reshape(1, -1)  # last edge
        content["Spk_001a_sh"] = np.append([-0.5, -0.01], content["Spk_001a_sh"]).reshape(1, -1)
        content["Spk_003b_sh"] = rng.uniform(0, scale.seconds, (1, 50))  # unit b: not read
        del content["Spk_004a_sh"]  # a missing channel
        out.append(write_mat5(root / subject / f"{subject}_session{k + 1}.mat", content))
    return out


def rajalingham(root: Path, rng: np.random.Generator, scale: Scale) -> list[Path]:
    """Zenodo 13952210: flat ``{mahler,perle}_hand_dmfc_dataset_50ms.mat`` (v5 struct)."""
    out = []
    for k, monkey in enumerate(["mahler", "perle"][: scale.sessions]):
        n_neurons, n_cond, n_bins = scale.units + 3 * k, 8, 20
        resp = rng.gamma(1.0, 0.1, (n_neurons, n_cond, n_bins))
        resp[rng.random(resp.shape) < 0.05] = np.nan
        resp[0, 0, 0] = 9.0  # 450 after x50: saturates
        resp[0, 0, 1] = -0.2  # negative: 0, not a wrapped value
        struct = {"responses": resp, "cond_ids": np.arange(n_cond, dtype=np.float64)}
        path = root / f"{monkey}_hand_dmfc_dataset_50ms.mat"
        out.append(write_mat5(path, {"neural_responses_reliable": struct, "t_ms": np.arange(n_bins) * 50.0}))
    return out
