"""Microbenchmarks of the two binning kernels, per core.

``bin_spike_times`` (spikes/s) on a units table's spikes of one block (grouped by
unit, sorted within a unit, as the NWB reader hands them over), against the
published way (``np.histogram`` per unit); ``rebin_dense`` (raw MB/s and
tokens/s) on a (time, unit) uint8 1 ms raster summed to 20 ms, as xiao's reader
does it. Throughput is counted on process CPU time (one thread), so a busy
machine changes it less than wall time; both are printed.

Run: ``python bench/micro.py`` (``--repeats``, ``--spikes``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neuralbench.binning import arange_edges, bin_spike_times, count_bins, rebin_dense


def _median_times(fn, repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of ``repeats`` calls after one warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def spike_inputs(n_spikes: int, n_units: int, rate_hz: float, seed: int = 0):
    """Poisson-like trains, grouped by unit and sorted within each, some spikes on edges."""
    rng = np.random.default_rng(seed)
    seconds = n_spikes / (n_units * rate_hz)
    lens = rng.multinomial(n_spikes, np.full(n_units, 1 / n_units))
    trains = []
    for k in lens:
        t = rng.uniform(0, seconds, k)
        t[: k // 50] = rng.integers(0, int(seconds / 0.02), k // 50) * 0.02  # exactly on edges
        trains.append(np.sort(t))
    times = np.concatenate(trains)
    units = np.repeat(np.arange(n_units), lens)
    return times, units, trains, seconds


def bench_spikes(n_spikes: int, n_units: int, rate_hz: float, repeats: int) -> dict:
    times, units, trains, seconds = spike_inputs(n_spikes, n_units, rate_hz)
    n_bins = count_bins(0.0, float(times.max()), 0.02)

    def ours():
        return bin_spike_times(times, units, n_units, t0=0.0, bin_size_s=0.02, n_bins=n_bins)

    edges = arange_edges(0.0, 0.02, np.arange(n_bins + 1))

    def published():
        return np.stack([np.histogram(t, edges)[0] for t in trains])

    assert np.array_equal(ours(), np.minimum(published(), 65535))
    cpu, wall = _median_times(ours, repeats)
    pcpu, pwall = _median_times(published, max(1, repeats // 2))
    return {
        "spikes": times.size,
        "tokens": n_units * n_bins,
        "cpu_s": cpu,
        "wall_s": wall,
        "spikes_per_s": times.size / cpu,
        "spikes_per_s_wall": times.size / wall,
        "histogram_spikes_per_s": times.size / pcpu,
        "speedup_vs_histogram": pcpu / cpu,
    }


def bench_rebin(n_ms: int, n_units: int, repeats: int) -> dict:
    rng = np.random.default_rng(1)
    raster = (rng.random((n_ms, n_units)) < 0.008).astype(np.uint8)  # (time, unit), 1 ms
    cpu, wall = _median_times(lambda: rebin_dense(raster.T, 20), repeats)
    return {
        "raw_mb": raster.nbytes / 1e6,
        "tokens": n_units * (n_ms // 20),
        "cpu_s": cpu,
        "raw_mb_per_s": raster.nbytes / 1e6 / cpu,
        "tokens_per_s": n_units * (n_ms // 20) / cpu,
    }


def run(spikes: int = 20_000_000, repeats: int = 5) -> dict:
    """Both microbenchmarks; the spike case is one 10 M-token block of a dense session."""
    return {
        "bin_spike_times": bench_spikes(spikes, n_units=200, rate_hz=8.0, repeats=repeats),
        "bin_spike_times_block": bench_spikes(1_600_000, n_units=200, rate_hz=8.0, repeats=repeats * 3),
        "rebin_dense": bench_rebin(1_000_000, 100, repeats),
    }


def format_report(res: dict) -> str:
    s, b, r = res["bin_spike_times"], res["bin_spike_times_block"], res["rebin_dense"]
    m = 1e6
    lines = ["| kernel | input | per core (CPU time) | vs published way |", "|---|---|---|---|"]
    for case, note in ((s, ""), (b, " (one block)")):
        lines.append(
            f"| bin_spike_times | {case['spikes'] / m:.1f} M spikes, 200 units, "
            f"{case['tokens'] / m:.0f} M tokens{note} | {case['spikes_per_s'] / m:.0f} M spikes/s "
            f"| {case['speedup_vs_histogram']:.1f}x np.histogram per unit "
            f"({case['histogram_spikes_per_s'] / m:.0f} M spikes/s) |"
        )
    lines.append(
        f"| rebin_dense 1 ms -> 20 ms | {r['raw_mb']:.0f} MB uint8 (time, unit) raster "
        f"| {r['raw_mb_per_s']:.0f} MB/s raw = {r['tokens_per_s'] / m:.0f} M tokens/s | |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spikes", type=int, default=20_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(format_report(run(args.spikes, args.repeats)))


if __name__ == "__main__":
    main()
