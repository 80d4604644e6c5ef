"""End-to-end benchmark: neuralbench on 1 and 2 workers against the plain per-file build.

Writes (or reuses) a synthetic raw tree of about ``--tokens`` tokens in the
layouts of xiao, neupane-ppc, willett, churchland and h2 (bench/tree.py), runs
the baseline (bench/baseline.py, in a subprocess) and ``build_all`` on a fresh
LocalCluster of 1 and of 2 single-threaded worker processes, each ``--repeats``
times and each from a warm page cache, and prints a markdown table of medians:
wall time, tokens/s, spikes/s in binning, peak RSS per worker, ratio to the
baseline, scaling 1 -> 2 workers.
The kernels' microbenchmarks (bench/micro.py) follow.

Run: ``python bench/run.py [--tokens 1e9] [--repeats 1] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])

import measure  # noqa: E402
import micro  # noqa: E402
import tree  # noqa: E402

MB = 1e6


def run_baseline(raw: Path, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / "baseline.py"), str(raw), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0  # with the interpreter start, as a user runs it
    shutil.rmtree(out)
    return res


def _median(runs: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def table(base: list[dict], ours: dict[int, list[dict]], spikes_per_s: float) -> str:
    b_wall = _median(base, "wall_s")
    tokens = base[0]["tokens"]
    rows = [
        "| build | wall s (median) | tokens/s | binning spikes/s (units tasks) | peak RSS per worker "
        "| above idle worker | x baseline | x 1 worker |",
        "|---|---|---|---|---|---|---|---|",
        f"| baseline (serial, per file) | {b_wall:.1f} | {tokens / b_wall / MB:.1f} M | "
        f"| {np.median([r['peak_rss_bytes'] for r in base]) / MB:.0f} MB (one process) | | 1.00 | |",
    ]
    one = _median(ours[1], "wall_s") if 1 in ours else None
    for n, runs in sorted(ours.items()):
        wall = _median(runs, "wall_s")
        peak = max(max(r["peak_rss"]) for r in runs)
        above = max(max(p - i for p, i in zip(r["peak_rss"], r["idle_rss"], strict=True)) for r in runs)
        key = "read+bin units"
        binning = [r["units_spikes"] / r["stages_s"][key] for r in runs if r["stages_s"].get(key)]
        # since a block's read fuses with its write (graph.py) its binning has no task of its own
        spikes = f"{np.median(binning) / MB:.0f} M/s" if binning else "(fused with the writes)"
        rows.append(
            f"| neuralbench, {n} worker{'s' if n > 1 else ''} | {wall:.1f} | {tokens / wall / MB:.1f} M "
            f"| {spikes} | {peak / MB:.0f} MB | {above / MB:.0f} MB "
            f"| {b_wall / wall:.2f} | {one / wall:.2f} |"
        )
    rows.append("")
    if 1 in ours:  # runs are paired: run i of every build follows the same cache warm-up
        for n, runs in sorted(ours.items()):
            if n > 1:
                per = [f"{a['wall_s'] / b['wall_s']:.2f}" for a, b in zip(ours[1], runs, strict=False)]
                rows.append(f"Per run, {n} workers vs 1 worker: {', '.join(per)}.")
                # the machine's speed drifts between runs (the same work takes more or fewer
                # worker CPU-s): scaled by the CPU each build used, the ratio leaves that out
                fair = [
                    f"{a['wall_s'] / b['wall_s'] * b['cpu_s']['workers'] / a['cpu_s']['workers']:.2f}"
                    for a, b in zip(ours[1], runs, strict=False)
                ]
                rows.append(f"Per run, scaled by worker CPU-s (theirs / 1 worker's): {', '.join(fair)}.")
    rows.append(f"Kernel alone (bench/micro.py): bin_spike_times {spikes_per_s / MB:.0f} M spikes/s/core.")
    return "\n".join(rows)


def stage_table(ours: dict[int, list[dict]]) -> str:
    """Worker seconds per stage (task stream), median over repeats."""
    names = sorted({k for runs in ours.values() for r in runs for k in r["stages_s"]})
    head = "| stage | " + " | ".join(f"{n} worker(s), worker-s" for n in sorted(ours)) + " |"
    rows = [head, "|---|" + "---|" * len(ours)]
    for name in names:
        cells = [f"{np.median([r['stages_s'].get(name, 0.0) for r in ours[n]]):.1f}" for n in sorted(ours)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    peaks = [f"{', '.join(r['stage_at_peak'])}" for n in sorted(ours) for r in ours[n][:1]]
    rows.append("| (stage running at each worker's RSS peak) | " + " | ".join(peaks) + " |")
    return "\n".join(rows)


def cpu_table(ours: dict[int, list[dict]]) -> str:
    """CPU seconds per build and what they allow: a build cannot be faster than its CPU
    seconds spread over the machine's cores, so that bounds the speed-up over 1 worker."""
    cores = os.cpu_count() or 1
    one = _median(ours[1], "wall_s") if 1 in ours else None
    rows = [
        f"| build | wall s | worker CPU-s | worker CPU-s per B tokens | scheduler+client CPU-s "
        f"| cores busy (of {cores}) | fastest possible wall s | x 1 worker at most |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, runs in sorted(ours.items()):
        if "cpu_s" not in runs[0]:
            continue
        wall = _median(runs, "wall_s")
        work = float(np.median([r["cpu_s"]["workers"] for r in runs]))
        main = float(np.median([r["cpu_s"]["main"] for r in runs]))
        floor = (work + main) / min(cores, n)  # n workers use at most n cores of work
        cells = [f"{floor:.1f}", f"{one / floor:.2f}" if one else ""] if n > 1 else ["", ""]
        per_b = work / (runs[0]["tokens"] / 1e9)
        rows.append(
            f"| {n} worker{'s' if n > 1 else ''} | {wall:.1f} | {work:.1f} | {per_b:.1f} | {main:.1f} "
            f"| {(work + main) / wall:.2f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def _digests(raw: Path, record: bool) -> str:
    """Record (or remove) the ``.<file>.sha256`` records the download stage leaves."""
    from neuralbench.sources.local import list_files, record_sha256, sha256_file

    files = [raw / name / rel for name in sorted(p.name for p in raw.iterdir() if p.is_dir())
             for rel in list_files(raw / name)]  # fmt: skip
    for path in files:
        path.with_name(f".{path.name}.sha256").unlink(missing_ok=True)
    if not record:
        return "none recorded: the build hashes every raw file"
    t0 = time.perf_counter()
    for path in files:
        record_sha256(path, sha256_file(path))
    return f"recorded for {len(files)} files ({time.perf_counter() - t0:.0f} s, as at download time)"


def warm_cache(raw: Path) -> None:
    """Flush dirty pages and read every raw file once, untimed: every build starts alike.

    Without it the order decides: a build that follows another one finds the
    kernel still writing that build's output back to disk, or part of the raw
    tree evicted.
    """
    t0 = time.perf_counter()
    os.sync()
    for path in sorted(raw.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(16 << 20):
                    pass
    print(f"  (synced, page cache warmed: {time.perf_counter() - t0:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=float, default=1e9)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    ap.add_argument(
        "--hash-raw",
        action="store_true",
        help="leave no digest records beside the raw files, so the build hashes every file, as it "
        "must for a tree it did not download (default: record each file's sha256 first, as "
        "`neuralbench download` does after verifying it; the baseline hashes nothing either way)",
    )
    args = ap.parse_args()
    raw = args.work / "raw"
    t0 = time.perf_counter()
    plans = tree.write_tree(raw, int(args.tokens))
    total = sum(p.tokens for p in plans) / 1e9
    print(f"tree: {total:.2f} B tokens in {raw} ({time.perf_counter() - t0:.0f} s)")
    for p in plans:
        print(f"  {p.name}: {p.sessions} sessions of {p.units} units x {p.bins} bins")
    print(f"digests: {_digests(raw, not args.hash_raw)}")
    base, ours = [], {n: [] for n in args.workers}
    for rep in range(args.repeats):
        warm_cache(raw)
        base.append(run_baseline(raw, args.work / "baseline-out"))
        print(f"baseline run {rep}: {base[-1]['wall_s']:.1f} s")
        for n in args.workers:
            if args.hash_raw:  # a build records the digests it computes: the next must not find them
                _digests(raw, False)
            warm_cache(raw)
            res = measure.build(raw, args.work / f"out-{n}", n)
            if not res["ok"]:
                raise SystemExit(f"build on {n} workers failed: see {args.work / f'out-{n}' / 'report.json'}")
            if res["tokens"] != base[-1]["tokens"]:
                raise SystemExit(f"token counts differ: ours {res['tokens']}, baseline {base[-1]['tokens']}")
            res.pop("report")
            ours[n].append(res)
            print(f"{n} worker(s) run {rep}: {res['wall_s']:.1f} s")
    kernel = micro.bench_spikes(1_600_000, n_units=200, rate_hz=8.0, repeats=15)
    print()
    print(table(base, ours, kernel["spikes_per_s"]))
    print()
    print(stage_table(ours))
    print()
    print(cpu_table(ours))
    if args.json:
        args.json.write_text(json.dumps({"baseline": base, "ours": ours}, indent=1, default=str))


if __name__ == "__main__":
    main()
