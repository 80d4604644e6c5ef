"""The shuffled merge of all components, with a reproducible test split.

Row order is shuffled, bytes are not held in memory: the merge reads the id
columns of every component, decides a permutation with ``default_rng(seed)``,
then copies one row group (one segment) at a time into the output shards.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from neuralbench.card import write_card
from neuralbench.export import MANIFEST, partial_dir, read_manifest
from neuralbench.shards import DEFAULT_SHARD_BYTES, ShardWriter

__all__ = ["SplitBy", "merge_components", "split_rows"]

logger = logging.getLogger(__name__)


class SplitBy(enum.StrEnum):
    """How the test split is drawn."""

    SESSION = "session"  # whole sessions: no session in both splits (our default)
    ROW = "row"  # rows, as the published corpus (datasets' train_test_split rule)


def split_rows(
    sessions: Sequence[Any],
    *,
    seed: int,
    test_size: float = 0.01,
    split_by: SplitBy | str = SplitBy.SESSION,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test rows, each in shuffled order.

    ``sessions[i]`` is a hashable key of row ``i``'s session. By row, this is
    exactly ``datasets.Dataset.train_test_split(test_size, seed=seed)``: test =
    the first ``ceil(test_size * n)`` rows of one permutation. By session, whole
    sessions in a seeded order go to test until it holds that many rows (at least
    one session stays in train), then each split is shuffled.
    """
    n = len(sessions)
    rng = np.random.default_rng(seed)
    n_test = math.ceil(test_size * n) if n else 0
    if SplitBy(split_by) is SplitBy.ROW:
        perm = rng.permutation(n)
        return perm[n_test:], perm[:n_test]
    keys = list(dict.fromkeys(sessions))
    rows_of: dict[Any, list[int]] = {k: [] for k in keys}
    for i, key in enumerate(sessions):
        rows_of[key].append(i)
    test: list[int] = []
    order = rng.permutation(len(keys))
    for k in order[:-1]:  # the last session of the order always stays in train
        if len(test) >= n_test:
            break
        test.extend(rows_of[keys[k]])
    test_set = set(test)
    train = np.array([i for i in range(n) if i not in test_set], dtype=np.int64)
    test_arr = np.array(sorted(test), dtype=np.int64)
    return rng.permutation(train), rng.permutation(test_arr)


def _row_index(
    component_dirs: Sequence[Path],
) -> tuple[list[Path], list[tuple[int, int, int]], list]:
    """Every row of every component: (file, row group, row in group) and its session key."""
    files: list[Path] = []
    where: list[tuple[int, int, int]] = []
    keys: list[tuple[str, str, str]] = []
    for folder in component_dirs:
        for path in sorted((folder / "data").glob("train-*.parquet")):
            pf = pq.ParquetFile(path)
            ids = pf.read(columns=["source_dataset", "subject_id", "session_id"]).to_pydict()
            f = len(files)
            files.append(path)
            row = 0
            for rg in range(pf.metadata.num_row_groups):
                for r in range(pf.metadata.row_group(rg).num_rows):
                    where.append((f, rg, r))
                    keys.append((ids["source_dataset"][row], ids["subject_id"][row], ids["session_id"][row]))
                    row += 1
    return files, where, keys


def merge_components(
    component_dirs: Sequence[str | os.PathLike[str]],
    corpus_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    test_size: float = 0.01,
    split_by: SplitBy | str = SplitBy.SESSION,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    card: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``corpus_dir`` (train and test parquet shards + card) from the component folders.

    Components enter in the order given (the published order, see
    :data:`neuralbench.catalog.MERGE_ORDER`). Same inputs and seed give the same bytes.
    """
    dirs = [Path(d) for d in component_dirs]
    final = Path(corpus_dir)
    params = {"seed": seed, "test_size": test_size, "split_by": SplitBy(split_by).value}
    inputs = [[d.name, (read_manifest(d) or {}).get("inputs")] for d in dirs]
    done = read_manifest(final)
    if done is not None and done.get("inputs") == inputs and done.get("params") == params:
        logger.info("corpus is up to date")
        return done
    files, where, keys = _row_index(dirs)
    train, test = split_rows(keys, seed=seed, test_size=test_size, split_by=split_by)
    with partial_dir(final) as tmp:
        readers: dict[int, pq.ParquetFile] = {}
        counts: dict[str, tuple[int, int]] = {}
        for split, order in (("train", train), ("test", test)):
            with ShardWriter(tmp / "data", split, max_shard_bytes) as writer:
                for i in order:
                    f, rg, r = where[i]
                    pf = readers.get(f) or readers.setdefault(f, pq.ParquetFile(files[f]))
                    writer.write(pf.read_row_group(rg).slice(r, 1))
            nbytes = sum(p.stat().st_size for p in (tmp / "data").glob(f"{split}-*.parquet"))
            counts[split] = (writer.rows, nbytes)
        components = []
        for d in dirs:
            m = read_manifest(d) or {}
            components.append(
                dict(
                    (card or {}).get("components", {}).get(d.name, {}),
                    name=d.name,
                    sessions=m.get("sessions", 0),
                    tokens=m.get("tokens", 0),
                )
            )
        write_card(
            tmp,
            title="neuralbench primate corpus",
            summary=(card or {}).get("summary", ""),
            splits=counts,
            components=components,
            built_with=(card or {}).get("built_with", "neuralbench"),
            params=params,
        )
        manifest = {
            "rows": {s: c[0] for s, c in counts.items()},
            "tokens": sum(c["tokens"] for c in components),
            "params": params,
            "inputs": inputs,
            "test_sessions": sorted({"/".join(keys[i]) for i in test}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest
