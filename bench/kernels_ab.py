"""The binning kernels of this checkout against another checkout's, interleaved in one process.

A refactoring of ``binning.py`` should not slow it down; separate runs of
``bench/micro.py`` on a shared machine differ by more than that (±30 % seen).
Here both versions run on the same inputs, alternately, in the same process:
``binning.py`` imports only numpy, so the other checkout's file is loaded as a
module of its own. Figures are medians of process CPU time and their ratio.

Run: ``python bench/kernels_ab.py --against /path/to/other/neuralbench/binning.py``
(``--rounds``, ``--spikes``).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
from micro import spike_inputs  # bench/ is sys.path[0] when run as a script

from neuralbench import binning
from neuralbench.binning import count_bins


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("other_binning", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu(case, module) -> float:
    c = time.process_time()
    case(module)
    return time.process_time() - c


def compare(other, spikes: int, rounds: int) -> dict:
    """Median CPU seconds of each kernel, this checkout's (``new``) and the other's (``old``)."""
    times, units, _, _ = spike_inputs(spikes, n_units=200, rate_hz=8.0)
    n_bins = count_bins(0.0, float(times.max()), 0.02)
    raster = (np.random.default_rng(1).random((1_000_000, 100)) < 0.008).astype(np.uint8)
    cases = {
        "bin_spike_times": lambda m: m.bin_spike_times(
            times, units, 200, t0=0.0, bin_size_s=0.02, n_bins=n_bins
        ),
        "rebin_dense": lambda m: m.rebin_dense(raster.T, 20),
    }
    out = {}
    for name, case in cases.items():
        assert np.array_equal(case(binning), case(other))
        new, old = [], []
        for i in range(rounds):  # each goes first in every other round
            first, second = (new, binning), (old, other)
            for times_s, module in (first, second) if i % 2 else (second, first):
                times_s.append(_cpu(case, module))
        out[name] = {
            "new_cpu_s": float(np.median(new)),
            "old_cpu_s": float(np.median(old)),
            "new_over_old": float(np.median(new) / np.median(old)),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, required=True, help="the other checkout's binning.py")
    ap.add_argument("--spikes", type=int, default=5_000_000)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    for name, r in compare(_load(args.against), args.spikes, args.rounds).items():
        new, old, ratio = r["new_cpu_s"], r["old_cpu_s"], r["new_over_old"]
        print(f"{name}: new {new:.4f} s, old {old:.4f} s, new/old {ratio:.3f}")


if __name__ == "__main__":
    main()
