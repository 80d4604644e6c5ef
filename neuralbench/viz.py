"""Raster plots of random segments: a look at the corpus before training on it.

The layout follows the published corpus' ``visualize_dataset.py``: a grid of
``floor(sqrt(n))`` rows x ``ceil(n / rows)`` columns, each panel one segment's
``spike_counts`` as an image (units on y, time bins on x, reversed grey, nearest
interpolation, free aspect, ticks only at 0 and the size), axis labels on the
bottom-left panel. Two changes make the pictures honest at any size:

- a segment wider (or taller) than its panel has pixels is averaged over
  adjacent bins (units) first, so the resampling never drops spikes; the axes
  still count bins and units;
- the grey scale tops out at the 99th percentile of the non-zero counts, so one
  saturated bin does not wash the panel out to white.

Samples come from a hub folder of parquet shards (a component or the merged
corpus), from a build's zarr store, or from a hub repository id (streamed with
``datasets``). Draws are seeded (``np.random.default_rng(seed)``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from neuralbench.catalog import RECIPES
from neuralbench.errors import SourceError
from neuralbench.layout import PARTIAL, BuildLayout, SegmentKey
from neuralbench.rows import ParquetRow, RowSource, list_to_array
from neuralbench.schema import ID_COLUMNS

__all__ = [
    "Sample",
    "list_to_array",
    "pick_rows",
    "plot_rasters",
    "sample_segments",
    "segment_sample",
    "show",
    "write_raster",
    "write_samples",
]

logger = logging.getLogger(__name__)

PANEL_INCHES = (4.0, 3.0)
"""Width and height of one panel; a figure of n panels is cols*4 x rows*3 inches."""


@dataclass(frozen=True)
class Sample:
    """One segment to draw: its title, its ``(units, bins)`` counts and bin width if known."""

    title: str
    counts: np.ndarray
    bin_size_s: float | None = None


def grid_shape(n: int) -> tuple[int, int]:
    """``(rows, cols)`` of the published layout: floor(sqrt(n)) x ceil(n / rows)."""
    rows = max(1, math.isqrt(max(n, 1)))
    return rows, math.ceil(max(n, 1) / rows)


def _title(row: dict) -> str:
    session = row["session_id"]
    session = session if len(session) <= 44 else session[:41] + "..."
    return f"{row['source_dataset']} · {row['segment_id']}\n{session}"


def _from_parquet(
    folder: Path, split: str, component: str | None, n: int, seed: int, store: Path | None = None
) -> list[Sample]:
    """Random rows of a hub folder; with ``store`` (the build folder it came from), each
    row's counts come from its zarr chunk when stored there (:class:`~neuralbench.rows.RowSource`)."""
    files = sorted((folder / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise SourceError(folder / "data", f"no {split}-*.parquet shards")
    where: list[tuple[SegmentKey, ParquetRow]] = []
    for path in files:
        pf = pq.ParquetFile(path)
        ids = pf.read(columns=list(ID_COLUMNS)).to_pydict()
        row = 0
        for rg in range(pf.metadata.num_row_groups):
            group = pf.metadata.row_group(rg)
            tokens = group.column(0).num_values // max(group.num_rows, 1)
            for r in range(group.num_rows):
                key = SegmentKey.from_columns(*(ids[c][row] for c in ID_COLUMNS))
                if component is None or key.session.component == component:
                    where.append((key, ParquetRow(path, rg, r, tokens)))
                row += 1
    if not where:
        raise SourceError(folder, f"no rows of component {component!r} in the {split} split")
    source = RowSource(store)
    return [segment_sample(where[i][0], source.counts(*where[i])) for i in pick_rows(len(where), n, seed)]


def pick_rows(n_rows: int, n: int, seed: int) -> np.ndarray:
    """Positions of ``min(n, n_rows)`` distinct random rows out of ``n_rows``, in draw order.

    The one draw of a parquet folder's rows (in file, row-group, row order), so
    that anything drawing from the same rows in that order picks the same ones.
    """
    return np.random.default_rng(seed).choice(n_rows, size=min(n, n_rows), replace=False)


def segment_sample(key: SegmentKey, counts: np.ndarray) -> Sample:
    """The panel of one row, titled by its component, segment and session."""
    return Sample(_segment_title(key), counts)


def _segment_title(key: SegmentKey) -> str:
    component, _, session = key.session
    return _title({"source_dataset": component, "session_id": session, "segment_id": key.segment})


def _from_zarr(out: Path, component: str | None, n: int, seed: int) -> list[Sample]:
    from neuralbench.store import (
        segment_spans,
        session_array,
        session_attrs,
        stored_components,
        stored_sessions,
    )

    where: list[tuple[SegmentKey, int, int, float | None]] = []
    for name in [component] if component else stored_components(out):
        for key in stored_sessions(out, name):
            attrs = session_attrs(out, *key) or {}
            for seg_id, (start, stop) in segment_spans(attrs).items():
                where.append((SegmentKey(key, seg_id), start, stop, attrs.get("bin_size_s")))
    if not where:
        zarr_dir = BuildLayout.of(out).zarr_dir
        raise SourceError(zarr_dir, f"no stored session{f' of {component!r}' if component else ''}")
    rng = np.random.default_rng(seed)
    samples = []
    for i in rng.choice(len(where), size=min(n, len(where)), replace=False):
        seg, start, stop, bin_s = where[i]
        arr = session_array(out, *seg.session)
        samples.append(Sample(_segment_title(seg), np.asarray(arr[:, start:stop]), bin_s))
    return samples


def _from_hub(repo_id: str, split: str, component: str | None, n: int, seed: int) -> list[Sample]:
    """Stream rows from the hub (or any path ``datasets.load_dataset`` takes): a seeded
    shuffle buffer, then the first ``n`` rows, so nothing is downloaded whole."""
    from datasets import load_dataset

    ds = load_dataset(repo_id, split=split, streaming=True)
    if component:
        ds = ds.filter(lambda row: row["source_dataset"] == component)
    ds = ds.shuffle(seed=seed, buffer_size=max(8 * n, 64)).with_format("arrow")
    samples = []
    for table in ds.iter(batch_size=1):
        ids = {k: table.column(k)[0].as_py() for k in ("source_dataset", "session_id", "segment_id")}
        samples.append(Sample(_title(ids), list_to_array(table.column("spike_counts"))))
        if len(samples) == n:
            break
    if not samples:
        raise SourceError(repo_id, f"no rows{f' of component {component!r}' if component else ''} in {split}")
    return samples


def sample_segments(
    source: str | os.PathLike[str],
    *,
    component: str | None = None,
    n: int = 6,
    seed: int = 0,
    split: str = "train",
    prefer: str = "parquet",
    store: str | os.PathLike[str] | None = None,
) -> list[Sample]:
    """Draw ``n`` distinct random segments from a build, a hub folder or a hub repo id.

    Parameters
    ----------
    source
        A build's output folder (``OUT`` with ``corpus/``, ``components/``,
        ``zarr/``), a hub folder (``data/*.parquet``), or a hub repository id
        such as ``eminorhan/xiao`` (needs the network).
    component
        Only rows of this component. From ``OUT`` it reads
        ``OUT/components/<component>`` (or its zarr when ``prefer="zarr"``).
    prefer
        ``"parquet"`` or ``"zarr"``: which copy of a build to read.
    store
        The build folder a hub folder was exported from: rows whose segment is
        stored there are read from zarr (no parquet decode). A build's own
        folders use the build's store.

    Raises
    ------
    SourceError
        The source holds no matching rows, or a local path does not exist.
    """
    if component is not None and component not in RECIPES:
        raise SourceError(
            Path(source), f"unknown component {component!r}; known: {', '.join(sorted(RECIPES))}"
        )
    path = Path(source)
    if path.is_dir():
        store = Path(store) if store is not None else None
        if (path / "data").is_dir():
            return _from_parquet(path, split, component, n, seed, store)
        build = BuildLayout(path)
        comp_dir = build.component_dir(component) if component else build.components_dir
        if prefer == "parquet" and component and (comp_dir / "data").is_dir():
            return _from_parquet(comp_dir, split, None, n, seed, store or path)
        if prefer == "parquet" and not component and (build.corpus_dir / "data").is_dir():
            return _from_parquet(build.corpus_dir, split, None, n, seed, store or path)
        if build.zarr_dir.is_dir():
            return _from_zarr(path, component, n, seed)
        raise SourceError(path, "neither a build (zarr/, components/, corpus/) nor a hub folder (data/)")
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise SourceError(path, "no such folder, and not a hub repository id (owner/name)")
    return _from_hub(str(source), split, component, n, seed)


def _pool(counts: np.ndarray, axis: int, pixels: int) -> np.ndarray:
    """Average adjacent entries along ``axis`` when there are more than 2 per pixel."""
    size = counts.shape[axis]
    if pixels <= 0 or size <= 2 * pixels:
        return counts
    k = math.ceil(size / pixels)
    starts = np.arange(0, size, k)
    widths = np.diff(np.append(starts, size))
    # summed in place of a float copy of the whole segment (10 M counts: 40 MB and most of a card's time)
    acc = np.uint32 if counts.dtype.kind in "ub" else np.float32
    sums = np.add.reduceat(counts, starts, axis=axis, dtype=acc)
    shape = [1, 1]
    shape[axis] = len(widths)
    return (sums / widths.reshape(shape)).astype(np.float32)


def _display_max(counts: np.ndarray) -> float:
    """Top of the grey scale: the 99th percentile of non-zero values (at least 1)."""
    nz = counts[counts > 0]
    return max(1.0, float(np.percentile(nz, 99))) if nz.size else 1.0


def plot_rasters(samples: Sequence[Sample], *, dpi: int = 100):
    """A matplotlib ``Figure`` (Agg, no pyplot state) of one raster panel per sample.

    The figure is ``cols * 4`` x ``rows * 3`` inches, so ``cols * 4 * dpi`` x
    ``rows * 3 * dpi`` pixels once saved.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = grid_shape(len(samples))
    width, height = cols * PANEL_INCHES[0], rows * PANEL_INCHES[1]
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    # fixed margins in inches (labels, two-line titles): matplotlib's constrained layout
    # measured every text to find them and took half the time of a card
    margins = dict(left=0.5 / width, right=1 - 0.35 / width, bottom=0.45 / height, top=1 - 0.4 / height)
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=dict(margins, wspace=0.17, hspace=0.33))
    px_w, px_h = int(PANEL_INCHES[0] * dpi * 0.8), int(PANEL_INCHES[1] * dpi * 0.7)
    for ax, sample in zip(axes.flat, samples, strict=False):
        n_units, n_bins = sample.counts.shape
        image = _pool(_pool(sample.counts, 1, px_w), 0, px_h)
        ax.imshow(
            image,
            cmap="gray_r",
            interpolation="nearest",
            aspect="auto",
            vmin=0,
            vmax=_display_max(image),
            extent=(0, n_bins, n_units, 0),
        )
        ax.set_xticks([0, n_bins])
        ax.set_yticks([0, n_units])
        ax.tick_params(labelsize=8)
        ax.set_title(sample.title, fontsize=7)
    for ax in list(axes.flat)[len(samples) :]:
        ax.set_axis_off()
    widths = {s.bin_size_s for s in samples}
    ms = 1000 * widths.pop() if len(widths) == 1 and None not in widths else 20.0
    label_ax = axes[-1, 0] if len(samples) > (rows - 1) * cols else axes[-2, 0]
    label_ax.set_xlabel(f"Time (x {ms:g} ms)")
    label_ax.set_ylabel("Units")
    return fig


def show(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    component: str | None = None,
    n: int = 6,
    seed: int = 0,
    split: str = "train",
    prefer: str = "parquet",
    dpi: int = 100,
    store: str | os.PathLike[str] | None = None,
) -> Path:
    """Draw ``n`` random segments of ``source`` and save the figure to ``out`` (png/jpg by suffix).

    See :func:`sample_segments` for the sources and :func:`plot_rasters` for the image.

    Examples
    --------
    >>> show("demo-out", "xiao.png", component="xiao", n=4)  # doctest: +SKIP
    """
    samples = sample_segments(
        source, component=component, n=n, seed=seed, split=split, prefer=prefer, store=store
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return write_samples(samples, out, dpi=dpi)


def write_samples(samples: Sequence[Sample], out: str | os.PathLike[str], *, dpi: int = 100) -> Path:
    """Save :func:`plot_rasters` of ``samples`` to ``out`` (png/jpg by suffix), atomically.

    ``out``'s folder must exist: a task drawing into a partial folder that a failed
    stage has removed must not bring it back.
    """
    return _save(plot_rasters(samples, dpi=dpi), Path(out))


def write_raster(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    n: int = 6,
    seed: int = 0,
    store: str | os.PathLike[str] | None = None,
) -> Path:
    """The raster of a hub folder's train split, saved for its dataset card."""
    return show(folder, out, n=n, seed=seed, store=store)


def _save(fig, out: Path) -> Path:
    tmp = out.with_name(f".{out.stem}{PARTIAL}{out.suffix}")
    try:
        # zlib level 1: a grey raster compresses almost as well, in a fraction of the time
        fig.savefig(tmp, pil_kwargs={"compress_level": 1} if out.suffix.lower() == ".png" else None)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # a failed save (full disk) leaves nothing behind
    logger.info("wrote %s", out)
    return out
