"""Raster plots: layout, pooling, sources (parquet, zarr, datasets streaming) and the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neuralbench import viz
from neuralbench.errors import SourceError


def _gray(path):
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def _assert_not_blank(path):
    img = _gray(path)
    # a white page with black axes has a bimodal histogram; a raster adds many grey levels
    assert (img < 250).mean() > 0.2, "mostly white: the panels show nothing"
    assert len(np.unique(img)) > 20


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (1, 2)), (4, (2, 2)), (6, (2, 3)), (9, (3, 3))])
def test_grid_shape_is_the_published_layout(n, shape):
    assert viz.grid_shape(n) == shape


def test_pool_keeps_every_spike():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.1, size=(7, 10_001)).astype(np.uint8)
    pooled = viz._pool(counts, 1, 300)
    assert pooled.shape[0] == 7 and pooled.shape[1] <= 300
    k = -(-counts.shape[1] // pooled.shape[1])
    widths = np.diff(np.append(np.arange(0, counts.shape[1], k), counts.shape[1]))
    np.testing.assert_allclose((pooled * widths).sum(), counts.sum(), rtol=1e-5)
    assert viz._pool(counts[:, :500], 1, 300) is not None and viz._pool(counts[:, :500], 1, 300).shape == (
        7,
        500,
    )


def test_show_corpus_png_has_the_expected_size_and_is_not_blank(built, tmp_path):
    _, out, _ = built
    path = viz.show(out, tmp_path / "r.png", n=6, dpi=100)
    assert Image.open(path).size == (3 * 400, 2 * 300)
    _assert_not_blank(path)


def test_samples_are_seeded_and_distinct(built):
    _, out, _ = built
    a = [s.title for s in viz.sample_segments(out, n=5, seed=3)]
    b = [s.title for s in viz.sample_segments(out, n=5, seed=3)]
    c = [s.title for s in viz.sample_segments(out, n=5, seed=4)]
    assert a == b and len(set(a)) == 5 and a != c


def test_component_from_parquet_and_zarr_agree(built):
    _, out, _ = built
    from_parquet = viz.sample_segments(out, component="h2", n=50)
    from_zarr = viz.sample_segments(out, component="h2", n=50, prefer="zarr")
    assert all(s.title.startswith("h2 ") for s in from_parquet + from_zarr)
    by_title = {s.title: s.counts for s in from_zarr}
    assert sorted(by_title) == sorted(s.title for s in from_parquet)
    for s in from_parquet:
        np.testing.assert_array_equal(s.counts, by_title[s.title])


def test_rows_of_a_build_are_read_from_its_store(built, tmp_path):
    # a build's folders read a sampled row from its zarr chunk; a bare hub folder
    # decodes parquet: the same rows and counts either way
    _, out, _ = built
    folder = out / "components" / "xiao"
    via_store = viz.sample_segments(folder, n=4, seed=1, store=out)
    via_parquet = viz.sample_segments(folder, n=4, seed=1)
    assert [s.title for s in via_store] == [s.title for s in via_parquet]
    for a, b in zip(via_store, via_parquet, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
    # the store is really read: a copy whose parquet counts are all zero still draws the real ones
    import pyarrow as pa
    import pyarrow.parquet as pq

    from neuralbench.shards import open_parquet

    copy = tmp_path / "xiao"
    (copy / "data").mkdir(parents=True)
    for shard in sorted((folder / "data").glob("train-*.parquet")):
        table = pq.read_table(shard)
        with open_parquet(copy / "data" / shard.name) as writer:
            for r in range(table.num_rows):
                row = table.slice(r, 1)
                units = row.column("spike_counts").combine_chunks()
                bins = units.values
                zeros = pa.array(np.zeros(len(bins.values), dtype=np.uint8))
                blank = pa.ListArray.from_arrays(units.offsets, pa.ListArray.from_arrays(bins.offsets, zeros))
                writer.write_table(row.set_column(0, "spike_counts", blank), row_group_size=1)
    assert all(s.counts.max() == 0 for s in viz.sample_segments(copy, n=4, seed=1))
    from_store = viz.sample_segments(copy, n=4, seed=1, store=out)
    for a, b in zip(from_store, via_parquet, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
    assert any(s.counts.max() > 0 for s in from_store)


def test_zarr_samples_know_their_bin_width(built):
    _, out, _ = built
    samples = viz.sample_segments(out, component="rajalingham", n=2, prefer="zarr")
    assert {s.bin_size_s for s in samples} == {0.05}
    fig = viz.plot_rasters(samples)
    assert fig.axes[0].get_xlabel() == "Time (x 50 ms)"
    assert fig.axes[0].get_xticks().tolist() == [0, samples[0].counts.shape[1]]


def test_streaming_code_path_reads_a_local_folder(built):
    _, out, _ = built
    samples = viz._from_hub(str(out / "corpus"), "train", "xiao", 2, 0)
    assert len(samples) == 2 and all(s.title.startswith("xiao ") for s in samples)
    assert all(s.counts.dtype == np.uint8 and s.counts.ndim == 2 and s.counts.sum() > 0 for s in samples)


def test_errors_name_the_source(built, tmp_path):
    _, out, _ = built
    with pytest.raises(SourceError, match="no rows of component 'xiao'"):
        viz.sample_segments(out / "components" / "h2", component="xiao")
    with pytest.raises(SourceError, match=str(tmp_path / "missing")):
        viz.sample_segments(tmp_path / "missing")
    with pytest.raises(SourceError, match="neither a build"):
        viz.sample_segments(tmp_path)


def test_cli_show_end_to_end(built, tmp_path):
    _, out, _ = built
    png = tmp_path / "churchland.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuralbench",
            "show",
            str(out),
            "--component",
            "churchland",
            "--n",
            "2",
            "--out",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(png).size == (800, 300)
    _assert_not_blank(png)
    bad = subprocess.run(
        [sys.executable, "-m", "neuralbench", "show", str(tmp_path / "x")], capture_output=True
    )
    assert bad.returncode == 2


def test_an_unknown_component_lists_the_known_names(built):
    _, out, _ = built
    with pytest.raises(SourceError, match=r"unknown component 'h3'; known: area2-bump, athalye, .*xiao"):
        viz.sample_segments(out, component="h3")
