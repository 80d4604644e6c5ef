"""CPU time of opening sessions and computing their blocks, in one process, no cluster.

What a build spends per session outside the store: ``session.open_session`` (the
reader's metadata scan, the segment cut, the lazy array) and then every block of
the lazy array computed with dask's synchronous scheduler. The raw tree is the
synthetic one (``neuralbench.synth``) of a few components, one units-table layout
with sessions long enough to split into several blocks. Run it against two
checkouts, interleaved, to compare them (``PYTHONPATH=<checkout>``): figures are
medians of process CPU time, so a busy machine changes them less than wall time.

Run: ``python bench/open_sessions.py --raw /tmp/nb-open-raw`` (``--repeats``,
``--components``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _tree(raw: Path, components: list[str], seconds: float) -> None:
    """Write the synthetic tree once; a later run reuses it (the same files for every checkout)."""
    from neuralbench.synth import Scale, write_raw_tree

    missing = [c for c in components if not (raw / c).exists()]
    if missing:
        write_raw_tree(raw, only=missing, scale=Scale(seconds=seconds, long_seconds=seconds * 8, units=96))


def _sessions(raw: Path, components: list[str]) -> list:
    from neuralbench.catalog import get_recipe
    from neuralbench.session import find_sessions

    out = []
    for name in components:
        recipe = get_recipe(name)
        files = sorted(str(p.relative_to(raw / name)) for p in (raw / name).rglob("*") if p.is_file())
        out += [(recipe, ref) for ref in find_sessions(recipe, files)]
    return out


def measure(raw: Path, components: list[str], repeats: int) -> dict:
    """Median CPU seconds of ``open_session`` and of the blocks, summed over the sessions."""
    import dask

    from neuralbench.session import open_session

    sessions = _sessions(raw, components)
    open_s, blocks_s, digest = [], [], 0
    for _ in range(repeats + 1):  # the first round warms the page cache and the imports
        t_open = t_blocks = 0.0
        for recipe, ref in sessions:
            c = time.process_time()
            counts = open_session(recipe, raw, ref)
            t_open += time.process_time() - c
            c = time.process_time()
            values = dask.compute(counts.data, scheduler="synchronous")[0]
            t_blocks += time.process_time() - c
            digest += int(values.sum(dtype=np.int64))
        open_s.append(t_open)
        blocks_s.append(t_blocks)
    return {
        "sessions": len(sessions),
        "open_cpu_s": float(np.median(open_s[1:])),
        "blocks_cpu_s": float(np.median(blocks_s[1:])),
        "count_sum": digest // (repeats + 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("/tmp/nb-open-raw"))
    ap.add_argument("--components", default="churchland,h2")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    components = args.components.split(",")
    _tree(args.raw, components, args.seconds)
    print(json.dumps(measure(args.raw, components, args.repeats)))


if __name__ == "__main__":
    main()
