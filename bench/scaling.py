"""Time and worker memory against session size: one session of 1, 10, 100 segments.

Each size is one session alone in a raw tree (neupane-ppc units-table layout,
300 units; optionally xiao's 1 ms raster layout, 100 units), built by
``build_all`` on one fresh worker. Time should grow linearly with the session
and the worker's peak RSS above its idle size stay flat: the session is read,
binned and written one time block at a time. Writes ``bench/scaling.png`` and
prints the figures.

Run: ``python bench/scaling.py [--segments 1 10 100] [--layouts neupane-ppc xiao]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])

import measure  # noqa: E402
import tree  # noqa: E402

UNITS = {"neupane-ppc": 300, "xiao": 100}


def one(layout: str, segments: int, work: Path) -> dict:
    units = UNITS[layout]
    bins = segments * tree.SEGMENT // units
    raw = work / f"raw-{layout}-{segments}"
    plan = tree.Plan(layout, 1, units, bins)
    path = raw / layout / tree._session_paths(plan)[0]
    if not path.exists():
        tree.write_session(plan, path, seed=segments)
    res = measure.build(raw, work / "out", 1)
    res.pop("report")
    shutil.rmtree(work / "out")
    return {
        "layout": layout,
        "segments": segments,
        "tokens": res["tokens"],
        "wall_s": res["wall_s"],
        "peak_rss": res["peak_rss"][0],
        "idle_rss": res["idle_rss"][0],
        "stages_s": res["stages_s"],
        "stage_at_peak": res["stage_at_peak"][0],
    }


def plot(results: list[dict], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for layout in dict.fromkeys(r["layout"] for r in results):
        rs = [r for r in results if r["layout"] == layout]
        seg = [r["segments"] for r in rs]
        ax_t.plot(seg, [r["wall_s"] for r in rs], "o-", label=layout)
        ax_m.plot(seg, [r["peak_rss"] / 1e6 for r in rs], "o-", label=f"{layout}: peak RSS")
        above = [(r["peak_rss"] - r["idle_rss"]) / 1e6 for r in rs]
        ax_m.plot(seg, above, "s--", label=f"{layout}: above idle")
    for ax in (ax_t, ax_m):
        ax.set_xscale("log")
        ax.set_xlabel("session size (segments of 10 M tokens)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    ax_t.set_yscale("log")
    ax_t.set_ylabel("build_all wall time, 1 worker (s)")
    ax_m.set_ylabel("worker memory (MB)")
    ax_m.set_ylim(bottom=0)
    fig.suptitle("neuralbench: one session, 1 worker")
    fig.tight_layout()
    fig.savefig(target, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--layouts", nargs="+", default=["neupane-ppc"])
    ap.add_argument("--work", type=Path, default=Path("bench-work/scaling"))
    ap.add_argument("--out", type=Path, default=HERE / "scaling.png")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for layout in args.layouts:
        for n in args.segments:
            results.append(one(layout, n, args.work))
            r = results[-1]
            print(
                f"{layout} {n:4d} segments: {r['wall_s']:7.1f} s, peak RSS {r['peak_rss'] / 1e6:.0f} MB "
                f"({(r['peak_rss'] - r['idle_rss']) / 1e6:.0f} MB above idle, at {r['stage_at_peak']})",
                flush=True,
            )
    (args.work / "scaling.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out)


if __name__ == "__main__":
    main()
