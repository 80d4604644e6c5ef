"""The plain per-file build, in the style of the published scripts: the yardstick.

Serial, one file at a time, each read whole (pynwb ``to_dataframe`` of the units
table, or the TimeSeries data loaded in full, or scipy ``loadmat``), binned with
``np.histogram`` per unit or a reshape-sum, every row of a component kept in
memory, then ``Dataset.from_generator`` + ``to_parquet`` per component, and the
merge with ``concatenate_datasets`` + ``train_test_split``. Written for this
benchmark after the description of the published build (RECIPES.md); it is not
their code. It wraps counts to uint8 as they did.

Run: ``python bench/baseline.py RAW OUT [--seed 0]``; prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

LIMIT = 10_000_000
BIN = 0.02

# which files each component's script keeps, by name (the published suffix rules)
SELECT = {
    "xiao": lambda n: n.endswith(".nwb") and not n.endswith(("_image.nwb", "_behavior.nwb")),
    "neupane-ppc": lambda n: n.endswith("_behavior+ecephys.nwb"),
    "willett": lambda n: n.endswith(".mat"),
    "churchland": lambda n: n.endswith(".nwb"),
    "h2": lambda n: n.endswith(".nwb"),
}
ORDER = ["xiao", "neupane-ppc", "willett", "churchland", "h2"]


def find_files(data_dir: str, keep) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            if keep(name) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return sorted(found)


def units_counts(path: str, where: str) -> np.ndarray:
    """Every unit's histogram against edges 0, w, 2w, ... up to the session's last spike."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        nwb = io.read()
        table = nwb.processing["ecephys"]["units"] if where == "processing" else nwb.units
        df = table.to_dataframe()
        trains = [np.asarray(t) for t in df["spike_times"]]
    max_t = max(t.max() for t in trains if len(t))
    edges = np.arange(0.0, max_t + BIN, BIN)
    rows = [np.histogram(t, bins=edges)[0] for t in trains]
    return np.array(rows).astype(np.uint8)


def series_counts(path: str, module: str | None, name: str, factor: int) -> np.ndarray:
    """A (time, unit) TimeSeries loaded whole, summed over windows of ``factor`` samples."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        nwb = io.read()
        series = nwb.processing[module][name] if module else nwb.acquisition[name]
        data = series.data[:]
    n = data.shape[0] // factor
    binned = data[: n * factor].reshape(n, factor, data.shape[1]).sum(axis=1, dtype=data.dtype)
    return binned.T.astype(np.uint8)


def mat_counts(path: str) -> np.ndarray:
    from scipy.io import loadmat

    return loadmat(path)["tx1"].T.astype(np.uint8)


READ = {
    "xiao": lambda p: series_counts(p, "ecephys", "rasters", 20),
    "neupane-ppc": lambda p: units_counts(p, "processing"),
    "willett": mat_counts,
    "churchland": lambda p: units_counts(p, "top"),
    "h2": lambda p: series_counts(p, None, "binned_spikes", 1),
}


def segment(counts: np.ndarray) -> list[np.ndarray]:
    """The published segment rule."""
    n, t = counts.shape
    if n * t <= LIMIT:
        return [counts]
    k = math.ceil(n * t / LIMIT)
    size = math.ceil(t / k)
    return [counts[:, i * size : (i + 1) * size] for i in range(k) if i * size < t]


def build_component(name: str, raw: Path, out: Path, cache: Path) -> dict:
    """Read every file of a component, keep all rows, write them as one parquet dataset."""
    from datasets import Dataset

    rows = []
    t0 = time.perf_counter()
    for path in find_files(str(raw / name), SELECT[name]):
        counts = READ[name](path)
        subject_id = os.path.basename(os.path.dirname(path))
        session_id = os.path.splitext(os.path.basename(path))[0]
        for i, seg in enumerate(segment(counts)):
            row = {"spike_counts": seg, "subject_id": subject_id, "session_id": session_id}
            rows.append(dict(row, segment_id=f"segment_{i}"))
    t_read = time.perf_counter() - t0

    def gen(rows=rows):
        yield from rows

    ds = Dataset.from_generator(gen, cache_dir=str(cache), writer_batch_size=1, fingerprint=f"bench-{name}")
    target = out / "components" / name
    target.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(target / "train.parquet"))
    tokens = int(sum(r["spike_counts"].size for r in rows))
    return {"rows": len(rows), "tokens": tokens, "read_bin_s": t_read, "total_s": time.perf_counter() - t0}


def merge(out: Path, names: list[str], cache: Path, seed: int) -> dict:
    """Load every component, tag it, concatenate, split 1 % test, write both splits."""
    from datasets import Dataset, concatenate_datasets

    t0 = time.perf_counter()
    parts = []
    for name in names:
        ds = Dataset.from_parquet(str(out / "components" / name / "train.parquet"), cache_dir=str(cache))
        parts.append(ds.add_column("source_dataset", [name] * len(ds)))
    full = concatenate_datasets(parts)
    split = full.train_test_split(test_size=0.01, seed=seed)
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for key in ("train", "test"):
        split[key].to_parquet(str(corpus / f"{key}.parquet"))
    return {"rows": {k: len(v) for k, v in split.items()}, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cache = args.out / "hf-cache"
    names = [n for n in ORDER if (args.raw / n).is_dir()]
    t0 = time.perf_counter()
    components = {n: build_component(n, args.raw, args.out, cache) for n in names}
    t_build = time.perf_counter() - t0
    merged = merge(args.out, names, cache, args.seed)
    result = {
        "seconds": time.perf_counter() - t0,
        "build_s": t_build,
        "merge_s": merged["seconds"],
        "components": components,
        "corpus_rows": merged["rows"],
        "tokens": sum(c["tokens"] for c in components.values()),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
