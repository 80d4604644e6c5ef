"""Training windows per second: ``neuralbench.windows`` from zarr vs Hugging Face ``datasets`` routes.

On one synthetic build (``bench/tree.py`` layouts, built by ``build_all``), each route
yields the same kind of sample, a dict with a uint8 ``units x bins`` window, through a
torch ``DataLoader`` (batch 64) with 1 and 2 worker processes:

- ``zarr``: ``WindowDataset(windows(OUT, split="train"))``, every window of the epoch;
- ``hf-tiled``: the best ``datasets`` route we know: ``load_dataset(OUT/corpus)
  .with_format("numpy", dtype=np.uint8)``, each worker takes every n-th row and cuts
  every window of it (same windows per row as ours: random offset, random units);
- ``hf-one``: the usual map-style route: ``__getitem__(row)`` decodes a row and crops one
  random window (an epoch = one window per row, shuffled).

Tokens "used" are the real (not padding) counts of the windows yielded. Medians of
``--repeats`` runs, each a fresh DataLoader (worker start-up included for every route);
the time ``load_dataset`` takes to prepare its Arrow cache is reported apart.
Needs the torch extra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tree  # noqa: E402


def build(work: Path, tokens: int) -> Path:
    """The benchmark's build (kept and reused when its report says it is complete)."""
    from neuralbench import build_all

    raw, out = work / "raw", work / "out"
    tree.write_tree(raw, tokens)
    report = out / "report.json"
    if not (report.exists() and json.loads(report.read_text()).get("ok")):
        build_all(raw, out)
    return out


def _hf_window(row, rng, units: int, bins: int, start: int, n_units: int) -> dict:
    counts = row["spike_counts"]
    rows = np.sort(rng.permutation(n_units)[:units]) if n_units > units else np.arange(n_units)
    window = np.zeros((units, bins), np.uint8)
    window[: len(rows)] = counts[rows, start : start + bins]
    unit_index = np.full(units, -1, np.int64)
    unit_index[: len(rows)] = rows
    return {"spike_counts": window, "unit_index": unit_index, "session_id": row["session_id"]}


def hf_datasets(corpus: Path, units: int, bins: int, seed: int):
    """The two datasets routes as torch datasets (defined here so that torch is imported late)."""
    import datasets
    from torch.utils.data import Dataset, IterableDataset, get_worker_info

    def load():
        return datasets.load_dataset(str(corpus), split="train").with_format("numpy", dtype=np.uint8)

    class Tiled(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
            ds, rng = load(), np.random.default_rng([seed, wid])
            for i in range(wid, len(ds), nw):
                row = ds[i]
                n_units, n_bins = row["spike_counts"].shape
                offset = int(rng.integers(0, n_bins % bins + 1))
                for t in range(n_bins // bins):
                    yield _hf_window(row, rng, units, bins, offset + t * bins, n_units)

    class One(Dataset):
        def __init__(self):
            self.ds = None
            self.n = len(load())

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            self.ds = self.ds or load()
            row = self.ds[int(i)]
            n_units, n_bins = row["spike_counts"].shape
            rng = np.random.default_rng([seed, int(i)])
            return _hf_window(row, rng, units, bins, int(rng.integers(0, n_bins - bins + 1)), n_units)

    started = time.perf_counter()
    load()
    return Tiled(), One(), time.perf_counter() - started


def run(dataset, workers: int, shuffle: bool) -> tuple[int, int, float]:
    """Windows, used tokens and wall seconds of one epoch through a fresh DataLoader
    (worker start-up included: an epoch pays it)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=64, num_workers=workers, shuffle=shuffle or None)
    started = time.perf_counter()
    n = used = 0
    for batch in loader:
        real = batch["unit_index"] >= 0
        n += len(real)
        used += int(real.sum()) * batch["spike_counts"].shape[-1]
    return n, used, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=1e8)
    parser.add_argument("--work", type=Path, default=Path("bench-work/windows"))
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HOME", str(args.work / "hf"))  # the Arrow cache stays in the work folder
    from neuralbench import windows
    from neuralbench.loader import WindowDataset

    out = build(args.work, int(args.tokens))
    tiled, one, prepare_s = hf_datasets(out / "corpus", args.units, args.bins, seed=0)
    ours = WindowDataset(windows(out, units=args.units, bins=args.bins, seed=0, split="train"))
    routes = {"zarr": (ours, False), "hf-tiled": (tiled, False), "hf-one": (one, True)}
    results = []
    for workers in (1, 2):
        for name, (dataset, shuffle) in routes.items():
            runs = [run(dataset, workers, shuffle) for _ in range(args.repeats)]
            n, used, _ = runs[0]
            wall = statistics.median(r[2] for r in runs)
            results.append(
                {"route": name, "workers": workers, "windows": n, "used_tokens": used, "wall_s": wall,
                 "windows_per_s": n / wall, "used_tokens_per_s": used / wall}
            )  # fmt: skip
    report = {"tokens": int(args.tokens), "units": args.units, "bins": args.bins, "hf_prepare_s": prepare_s}
    report["results"] = results
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


def _print(report: dict) -> None:
    shape = f"{report['units']} x {report['bins']}"
    print(f"windows of {shape}; datasets' Arrow cache: {report['hf_prepare_s']:.1f} s")
    print("| route | workers | windows | windows/s | used M tokens/s | zarr x this |")
    print("|---|---|---|---|---|---|")
    rows = report["results"]
    for r in rows:
        ours = next(o for o in rows if o["route"] == "zarr" and o["workers"] == r["workers"])
        ratio = ours["used_tokens_per_s"] / r["used_tokens_per_s"]
        print(
            f"| {r['route']} | {r['workers']} | {r['windows']} | {r['windows_per_s']:,.0f} "
            f"| {r['used_tokens_per_s'] / 1e6:,.1f} | {ratio:.1f} |"
        )


if __name__ == "__main__":
    main()
