"""The shuffled merge of all components, with a reproducible test split.

Row order is shuffled, bytes are not held in memory: the merge reads the id
columns of every component, decides a permutation with ``default_rng(seed)``,
plans the output shards from the row groups' sizes, then copies each row's
encoded row group (one segment) into its shard without decoding it
(:func:`neuralbench.rowgroups.copy_row_groups`); the shards (and the card's
raster) can be written in parallel. Only components whose row groups hold more
than one row are decoded and encoded again, a row at a time.
The raster reads its rows from their zarr chunks when the build's store is given.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow.parquet as pq

from neuralbench.card import RASTER_ROWS, RASTER_SEED, draw_raster, write_card
from neuralbench.export import MANIFEST, open_partial, read_manifest, swap_in
from neuralbench.layout import PARTIAL, BuildLayout, SegmentKey
from neuralbench.rowgroups import copy_row_groups
from neuralbench.rows import ParquetRow, RowSource
from neuralbench.schema import ID_COLUMNS
from neuralbench.shards import DEFAULT_SHARD_BYTES, open_parquet, plan_shards, shard_name

__all__ = [
    "MergePlan",
    "Row",
    "SplitBy",
    "corpus_split",
    "discard_plan",
    "draw_corpus_raster",
    "finalize_merge",
    "plan_merge",
    "split_rows",
    "split_share",
    "write_shard",
]

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
    tokens: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test rows, each in shuffled order.

    ``sessions[i]`` is a hashable key of row ``i``'s session and ``tokens[i]`` its
    size (default: 1 per row). By row, this is exactly
    ``datasets.Dataset.train_test_split(test_size, seed=seed)``: test = the first
    ``ceil(test_size * n)`` rows of one permutation. By session, whole sessions
    go to test (see :func:`_pick_test_sessions`): as near ``test_size`` of the
    tokens as they allow, never more than half of them; then each split is shuffled.
    :func:`split_share` says how near it came.
    """
    n = len(sessions)
    rng = np.random.default_rng(seed)
    if SplitBy(split_by) is SplitBy.ROW:
        n_test = math.ceil(test_size * n) if n else 0
        perm = rng.permutation(n)
        return perm[n_test:], perm[:n_test]
    weights = [1] * n if tokens is None else [int(t) for t in tokens]
    keys = list(dict.fromkeys(sessions))
    rows_of: dict[Any, list[int]] = {k: [] for k in keys}
    size_of: dict[Any, int] = dict.fromkeys(keys, 0)
    for i, key in enumerate(sessions):
        rows_of[key].append(i)
        size_of[key] += weights[i]
    order = [keys[k] for k in rng.permutation(len(keys))]
    picked = _pick_test_sessions([(k, size_of[k]) for k in order], test_size)
    test = sorted(i for k in picked for i in rows_of[k])
    test_set = set(test)
    train = np.array([i for i in range(n) if i not in test_set], dtype=np.int64)
    return rng.permutation(train), rng.permutation(np.array(test, dtype=np.int64))


def _pick_test_sessions(ordered: Sequence[tuple[Any, int]], test_size: float) -> list[Any]:
    """Sessions (from the seeded ``ordered`` walk) whose sizes add up closest to ``test_size``.

    The walk takes every session that still fits under the target, then the one
    left out that lands nearest the target, if it does better than stopping short;
    never more than half of the total, so at least one session stays in train.
    A build of two or more sessions always gets a test split: when all are larger
    than the target, the one nearest it (at most half) is taken.
    """
    total = sum(size for _, size in ordered)
    target, cap = min(test_size, 0.5) * total, total / 2
    if target <= 0 or len(ordered) < 2:
        return []
    picked, got, left = [], 0, []
    for key, size in ordered:
        if got + size <= target:
            picked.append(key)
            got += size
        else:
            left.append((key, size))
    fits = [(abs(got + size - target), i) for i, (_, size) in enumerate(left) if got + size <= cap]
    if fits and (not picked or min(fits)[0] < target - got):
        picked.append(left[min(fits)[1]][0])
    return picked


def split_share(tokens: Sequence[int], test: Sequence[int], test_size: float) -> dict[str, Any]:
    """How close the test split came to its target: its tokens, their share and the aim."""
    total = int(sum(tokens))
    got = int(sum(tokens[i] for i in test))
    return {
        "tokens": got,
        "share": round(got / total, 6) if total else 0.0,
        "target": test_size,
    }


class Row(NamedTuple):
    """One row of the merge: where it is in the components' parquet, and who it is."""

    file: int  # index into MergePlan.files
    group: int  # row group in that file
    row: int  # row in that group
    key: SegmentKey
    tokens: int


@dataclass
class MergePlan:
    """Which rows go to which output shard, decided from parquet metadata alone.

    ``shards[split][k]`` lists the rows of shard ``k``; each shard can then be
    written by its own task (:func:`write_shard`) and :func:`finalize_merge`
    names them and swaps the folder in. With ``layout`` (the build whose zarr
    store the components came from), the raster reads counts from the stored sessions.
    ``whole_groups``: every row group of the inputs holds one row, so a shard is
    a copy of row groups.
    """

    final: str
    tmp: str
    files: list[str]
    shards: dict[str, list[list[Row]]]
    params: dict[str, Any]
    inputs: list[Any]
    component_dirs: list[str]
    test_sessions: list[str] = field(default_factory=list)
    layout: BuildLayout | None = None
    test_share: dict[str, Any] = field(default_factory=dict)
    whole_groups: bool = True

    def n_shards(self) -> list[tuple[str, int]]:
        """``(split, k)`` of every shard, train first."""
        return [(split, k) for split in SPLITS for k in range(len(self.shards[split]))]


SPLITS = ("train", "test")


def _row_index(component_dirs: Sequence[Path]) -> tuple[list[Path], list[Row], list[int], bool]:
    """Every row of every component, and its bytes.

    A row's bytes are its share of its row group's :func:`_uncompressed_bytes` (the
    writers put one row in each group), so shards are planned without reading any counts.
    The last value says whether every row group holds exactly one row.
    """
    files: list[Path] = []
    rows: list[Row] = []
    sizes: list[int] = []
    whole = True
    for folder in component_dirs:
        for path in sorted((folder / "data").glob("train-*.parquet")):
            pf = pq.ParquetFile(path)
            ids = pf.read(columns=list(ID_COLUMNS)).to_pydict()
            f = len(files)
            files.append(path)
            row = 0
            for rg in range(pf.metadata.num_row_groups):
                group = pf.metadata.row_group(rg)
                nbytes = _uncompressed_bytes(group)
                tokens = group.column(0).num_values // max(group.num_rows, 1)
                whole = whole and group.num_rows == 1
                for r in range(group.num_rows):
                    key = SegmentKey.from_columns(*(ids[c][row] for c in ID_COLUMNS))
                    rows.append(Row(f, rg, r, key, tokens))
                    sizes.append(nbytes // max(group.num_rows, 1))
                    row += 1
    return files, rows, sizes, whole


def _uncompressed_bytes(group: pq.RowGroupMetaData) -> int:
    """A row group's size in memory, from metadata: one byte per uint8 count plus the ids.

    The measure of the hub's ``max_shard_size`` (uncompressed Arrow bytes), as the
    export's row sizes are, not the zstd file size.
    """
    counts = group.column(0).num_values  # spike_counts, the leaf uint8 values
    return counts + sum(group.column(c).total_uncompressed_size for c in range(1, group.num_columns))


def plan_merge(
    component_dirs: Sequence[str | os.PathLike[str]],
    corpus_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    test_size: float = 0.01,
    split_by: SplitBy | str = SplitBy.SESSION,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    layout: BuildLayout | None = None,
) -> MergePlan | dict[str, Any]:
    """The plan of the merge, or the corpus manifest when the corpus is already up to date.

    Reads the id columns and the row-group sizes of every component shard, draws
    the split (:func:`split_rows`) and cuts each split into shards of about
    ``max_shard_bytes`` of uncompressed data. Creates a fresh ``.<corpus>.partial`` folder for the shards.
    ``layout``: the build whose zarr store the components were exported from (the
    pipeline passes it); the corpus raster then reads its rows there.
    """
    dirs = [Path(d) for d in component_dirs]
    final = Path(corpus_dir)
    params = {"seed": seed, "test_size": test_size, "split_by": SplitBy(split_by).value}
    inputs = [[d.name, (read_manifest(d) or {}).get("inputs")] for d in dirs]
    done = read_manifest(final)
    if done is not None and done.get("inputs") == inputs and done.get("params") == params:
        logger.info("corpus is up to date")
        return done
    files, rows, sizes, whole = _row_index(dirs)
    keys = [r.key.session for r in rows]
    tokens = [r.tokens for r in rows]
    train, test = split_rows(keys, seed=seed, test_size=test_size, split_by=split_by, tokens=tokens)
    share = split_share(tokens, test, test_size)
    logger.info(
        "test split: %s of %s tokens (%.2f %%, aim %.2f %%)",
        share["tokens"],
        sum(tokens),
        100 * share["share"],
        100 * test_size,
    )
    shards = {
        split: [
            [rows[order[i]] for i in shard]
            for shard in plan_shards([sizes[i] for i in order], max_shard_bytes)
        ]
        for split, order in (("train", train), ("test", test))
    }
    tmp = open_partial(final)
    (tmp / "data").mkdir()
    return MergePlan(
        final=str(final),
        tmp=str(tmp),
        files=[str(f) for f in files],
        shards=shards,
        params=params,
        inputs=inputs,
        component_dirs=[str(d) for d in dirs],
        test_sessions=sorted({str(keys[i]) for i in test}),
        layout=layout,
        test_share=share,
        whole_groups=whole,
    )


def _shard_partial(plan: MergePlan, split: str, k: int) -> Path:
    return Path(plan.tmp) / "data" / f".{split}-{k:05d}.parquet{PARTIAL}"


def write_shard(plan: MergePlan, split: str, k: int) -> int:
    """Write shard ``k`` of ``split`` under a temporary name; returns its rows.

    The rows' encoded row groups are copied, not decoded (a row is encoded once,
    when its component is written). Inputs with several rows per row group are
    decoded and written again, one row in memory at a time. Rewrites the file from
    the start when run again (a retried task).
    """
    rows = plan.shards[split][k]
    path = _shard_partial(plan, split, k)
    if rows and plan.whole_groups:
        return copy_row_groups(((plan.files[row.file], row.group) for row in rows), path)
    source = RowSource(None)
    with open_parquet(path) as writer:
        for row in rows:
            writer.write_table(source.table(_where(plan, row)), row_group_size=1)
    return len(rows)


def _where(plan: MergePlan, row: Row) -> ParquetRow:
    return ParquetRow(plan.files[row.file], row.group, row.row, row.tokens)


def draw_corpus_raster(plan: MergePlan) -> bool:
    """The corpus card's raster, drawn into the partial folder while the shards are written.

    The same rows ``neuralbench show`` picks from the finished folder (the plan's
    train rows are its rows, in file order), so :func:`finalize_merge` finds the
    picture there and only writes the text. False when there is nothing to draw.
    """
    from neuralbench.viz import pick_rows, segment_sample, write_samples

    rows = [row for shard in plan.shards["train"] for row in shard]
    if not rows:
        return False
    source = RowSource(plan.layout)

    def draw(path: Path) -> None:
        picked = [rows[i] for i in pick_rows(len(rows), RASTER_ROWS, RASTER_SEED)]
        samples = [segment_sample(r.key, source.counts(r.key, _where(plan, r))) for r in picked]
        path.parent.mkdir(exist_ok=True)  # not parents: a discarded plan's folder stays gone
        write_samples(samples, path)

    return draw_raster(Path(plan.tmp), draw)


def finalize_merge(plan: MergePlan, card: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Name the written shards ``<split>-{i:05d}-of-{N:05d}.parquet``, write card and manifest, swap in.

    Run once every :func:`write_shard` of the plan has returned.
    """
    tmp, data = Path(plan.tmp), Path(plan.tmp) / "data"
    counts: dict[str, tuple[int, int]] = {}
    for split in SPLITS:
        n = len(plan.shards[split])
        nbytes = 0
        for k in range(n):
            path = data / shard_name(split, k, n)
            os.replace(_shard_partial(plan, split, k), path)
            nbytes += path.stat().st_size
        counts[split] = (sum(len(s) for s in plan.shards[split]), nbytes)
    components = []
    for d in map(Path, plan.component_dirs):
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
        splits={split: rows for split, (rows, _) in counts.items()},
        components=components,
        built_with=(card or {}).get("built_with", "neuralbench"),
        params=plan.params,
        store=plan.layout,
    )
    manifest = {
        "rows": {s: c[0] for s, c in counts.items()},
        "tokens": sum(c["tokens"] for c in components),
        "params": plan.params,
        "inputs": plan.inputs,
        "test_sessions": plan.test_sessions,
        "test_share": plan.test_share,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    swap_in(tmp, plan.final)
    return manifest


def corpus_split(corpus_dir: str | os.PathLike[str]) -> dict[tuple[str, str, str], str]:
    """``{(source_dataset, subject_id, session_id): "train" | "test"}`` of a finished corpus.

    Read from the corpus manifest alone (its inputs and ``test_sessions``), so a
    reader of the zarr store can keep to one split without opening any parquet.
    A session holding rows of both splits (``split_by="row"``) is ``"mixed"``.

    Raises
    ------
    SourceError
        ``corpus_dir`` holds no finished corpus (no readable manifest).
    """
    from neuralbench.errors import SourceError

    manifest = read_manifest(corpus_dir)
    if manifest is None or "inputs" not in manifest:
        raise SourceError(Path(corpus_dir) / MANIFEST, "no corpus manifest: build the corpus first")
    sessions = {
        (component, fingerprint[0], fingerprint[1])
        for component, inputs in manifest["inputs"]
        for fingerprint in inputs or []
    }
    if manifest.get("params", {}).get("split_by") == SplitBy.ROW.value:
        return dict.fromkeys(sessions, "mixed")
    test = {tuple(key.split("/", 2)) for key in manifest.get("test_sessions", [])}
    return {key: "test" if key in test else "train" for key in sorted(sessions)}


def discard_plan(plan: MergePlan) -> None:
    """Remove the partial folder of a merge that failed."""
    shutil.rmtree(plan.tmp, ignore_errors=True)
