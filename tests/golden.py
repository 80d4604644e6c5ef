"""Digests of a build's parquet outputs: what a refactor must leave unchanged.

``file``: sha256 of each parquet file's bytes (the encoding included);
``rows``: sha256 of its decoded rows in order (counts shape and bytes, the four ids),
which stays the same when only the encoding changes. ``python -m tests.golden RAW OUT``
builds ``write_raw_tree(RAW, seed=7)`` and prints the JSON recorded in
``tests/data/build_digests.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from neuralbench.schema import ID_COLUMNS


def _rows_digest(path: Path) -> str:
    digest = hashlib.sha256()
    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        table = pf.read_row_group(i)
        for r in range(table.num_rows):
            counts = table.column("spike_counts")[r].values
            n_units = len(counts)
            flat = np.asarray(counts.values if n_units else [], dtype=np.uint8)
            digest.update(f"{n_units}x{flat.size // max(n_units, 1)}".encode())
            digest.update(flat.tobytes())
            for col in ID_COLUMNS:
                digest.update(b"\0" + str(table.column(col)[r].as_py()).encode())
    return digest.hexdigest()


def build_digests(out_dir: Path) -> dict[str, dict[str, str]]:
    """``{relative path: {"file": ..., "rows": ...}}`` of every parquet file of a build."""
    files = sorted([*out_dir.glob("components/*/data/*.parquet"), *out_dir.glob("corpus/data/*.parquet")])
    return {
        p.relative_to(out_dir).as_posix(): {
            "file": hashlib.sha256(p.read_bytes()).hexdigest(),
            "rows": _rows_digest(p),
        }
        for p in files
    }


if __name__ == "__main__":
    import warnings

    from neuralbench import build_all
    from neuralbench.synth import write_raw_tree

    raw, out = Path(sys.argv[1]), Path(sys.argv[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, seed=7)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            build_all(raw, out, client=client)
    print(json.dumps(build_digests(out), indent=1, sort_keys=True))
