"""Two versions of neuralbench on the same tree, interleaved: is a change faster or slower?

A refactor must keep the speed (issue 17); on a noisy machine two runs an hour apart
say nothing, so this script checks out ``--before`` (a git revision) beside the
working tree and runs ``build_all`` of each in turn, ``--repeats`` times, on a fresh
LocalCluster of ``--workers`` single-threaded processes, from a warm page cache, with
the measurement code of this checkout (bench/measure.py). It prints medians of wall
time and worker CPU seconds and the per-round ratio after / before.

Run: ``python bench/versions.py --before 2790e58 [--tokens 3e8] [--repeats 3] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

import tree  # noqa: E402
from run import warm_cache  # noqa: E402

_ONE_BUILD = """
import json, sys
sys.path.insert(0, {bench!r})
import measure
res = measure.build(__import__("pathlib").Path({raw!r}), __import__("pathlib").Path({out!r}), {workers})
print(json.dumps({{"ok": res["ok"], "tokens": res["tokens"], "wall_s": res["wall_s"],
                  "cpu_s": res.get("cpu_s", {{}}), "stages_s": res.get("stages_s", {{}}),
                  "tasks_s": res.get("tasks_s", {{}}), "threads_cpu_s": res.get("threads_cpu_s", {{}}),
                  "metrics_s": res.get("metrics_s", {{}})}}))
"""


def build_with(code: Path, raw: Path, out: Path, workers: int) -> dict:
    """One build by the neuralbench in ``code``, in its own interpreter."""
    out.parent.mkdir(parents=True, exist_ok=True)  # the cwd: never the repository, whose code would win
    script = _ONE_BUILD.format(bench=str(HERE), raw=str(raw), out=str(out), workers=workers)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(HERE)])}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=out.parent, capture_output=True, text=True,
        check=False, timeout=3600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"build by {code} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def checkout(rev: str, where: Path) -> Path:
    """``rev`` of this repository as a detached worktree (removed at the end)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-f", "--detach", str(where), rev], check=True,
                   capture_output=True)  # fmt: skip
    return where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git revision to compare the working tree with")
    ap.add_argument("--tokens", type=float, default=3e8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    args = ap.parse_args()
    raw = args.work / "raw"
    tree.write_tree(raw, int(args.tokens))
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="neuralbench-before-") as tmp:
        old = checkout(args.before, Path(tmp) / "before")
        try:
            for rep in range(args.repeats):
                for label, code in (("before", old), ("after", REPO)):
                    warm_cache(raw)
                    res = build_with(code, raw, args.work / f"out-{label}", args.workers)
                    if not res["ok"]:
                        raise SystemExit(f"the {label} build failed")
                    runs[label].append(res)
                    print(f"round {rep} {label}: {res['wall_s']:.1f} s")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    print(report(runs, args))


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> str:
    def med(label: str, pick) -> float:
        return float(np.median([pick(r) for r in runs[label]]))

    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(runs["after"], runs["before"], strict=True)]
    rows = [
        f"{args.tokens:.2g} tokens, {args.workers} workers, medians of {args.repeats} interleaved rounds",
        "| version | wall s | worker CPU-s | client + scheduler CPU-s |",
        "|---|---:|---:|---:|",
    ]
    for label in ("before", "after"):
        cpu = med(label, lambda r: r["cpu_s"].get("workers", float("nan")))
        main = med(label, lambda r: r["cpu_s"].get("main", float("nan")))
        rows.append(f"| {label} ({args.before if label == 'before' else 'working tree'}) "
                    f"| {med(label, lambda r: r['wall_s']):.1f} | {cpu:.1f} | {main:.1f} |")  # fmt: skip
    rows.append(f"after / before, per round: {', '.join(f'{r:.3f}' for r in ratios)} "
                f"(median {np.median(ratios):.3f})")  # fmt: skip
    for field in ("stages_s", "tasks_s", "threads_cpu_s", "metrics_s"):
        rows += ["", *_per_kind(runs, field)]
    return "\n".join(rows)


_LABELS = ("before", "after")


def _per_kind(runs: dict[str, list[dict]], field: str) -> list[str]:
    """Medians per stage (``stages_s``), task function (``tasks_s``, both worker s in tasks), thread kind."""
    rows = [f"| {field} (medians) | before | after | after - before |"]
    rows.append("|---|---:|---:|---:|")
    for name in sorted({n for label in runs for r in runs[label] for n in r.get(field, {})}):
        b, a = (float(np.median([r.get(field, {}).get(name, 0.0) for r in runs[k]])) for k in _LABELS)
        if max(a, b) >= 0.01:
            rows.append(f"| {name} | {b:.2f} | {a:.2f} | {a - b:+.2f} |")
    return rows


if __name__ == "__main__":
    main()
