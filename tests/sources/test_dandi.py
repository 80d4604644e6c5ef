"""DANDI downloads against a loopback DANDI API that serves real listings and synth blobs."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from neuralbench.catalog import RECIPES
from neuralbench.errors import ChecksumError, SourceError
from neuralbench.sources import FetchOptions, asset_urls, download, list_assets, list_files
from neuralbench.synth import Scale, write_raw_tree
from tests.sources.fakearchive import FakeArchive, real_listing

NO_RETRY = FetchOptions(retries=0)


def _serve(archive: FakeArchive, real_data: Path, tmp_path: Path, name: str, n: int = 2):
    """Serve the real listing of ``name``'s dandiset with synth files as the first ``n``
    selected assets' blobs; return (pruned recipe, {relpath: bytes}, listing served)."""
    recipe = RECIPES[name].prune(n)
    ds = recipe.source.dandiset
    listing = real_listing(real_data, ds)
    synth = sorted(write_raw_tree(tmp_path / "synth", only=[name], scale=Scale.tiny())[name])
    chosen = recipe.select(f"{ds}/{a['path']}" for a in listing["assets"])
    files = {p.split("/", 1)[1]: synth[i % len(synth)].read_bytes() for i, p in enumerate(chosen)}
    served = archive.serve_dandiset(listing, files, version=recipe.source.version)
    return recipe, {f"{ds}/{k}": v for k, v in files.items()}, served


def _blob_of(archive: FakeArchive, served: dict, relpath: str) -> str:
    (asset,) = [a for a in served["assets"] if f"{served['dandiset_id']}/{a['path']}" == relpath]
    return f"/blobs/{asset['blob']}"


def test_full_download_verifies_and_lays_out_as_dandi(archive, real_data, tmp_path):
    recipe, files, served = _serve(archive, real_data, tmp_path, "h2")
    raw = tmp_path / "raw"
    got = download(recipe, raw)
    root = raw / "h2"
    assert [p.relative_to(root).as_posix() for p in got] == sorted(files)
    for rel, data in files.items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert recipe.select(list_files(root)) == sorted(files)
    assert "identifier: DANDI:000950" in (root / "000950" / "dandiset.yaml").read_text()
    # only the selected assets were fetched, from the pinned version
    blob_gets = [s.path for s in archive.seen if s.path.startswith("/blobs/")]
    assert sorted(blob_gets) == sorted(_blob_of(archive, served, r) for r in files)
    assert all("/versions/0.241029.1403/" in s.path for s in archive.seen if "/versions/" in s.path)
    # a rerun fetches nothing
    n = len(archive.seen)
    assert download(recipe, raw) == got
    assert not [s for s in archive.seen[n:] if s.path.startswith("/blobs/")]


def test_listing_gives_real_ids_and_served_digests(archive, real_data, tmp_path):
    recipe, files, served = _serve(archive, real_data, tmp_path, "h2")
    assets = list_assets(recipe)
    assert [a.path for a in assets] == sorted(files)
    real_ids = {a["path"]: a["asset_id"] for a in served["assets"]}
    for a in assets:
        assert a.asset_id == real_ids[a.path.split("/", 1)[1]]
        assert a.sha256 == hashlib.sha256(files[a.path]).hexdigest()
        assert a.size == len(files[a.path])
        assert a.url == f"{archive.url}/api/assets/{a.asset_id}/download/"
    # without the selection: every asset of the real listing (47 for 000950)
    everything = list_assets(recipe, only_selected=False)
    assert len(everything) == len(served["assets"]) == 47


def test_missing_blob_is_a_source_error_naming_url_and_file(archive, real_data, tmp_path):
    recipe, files, served = _serve(archive, real_data, tmp_path, "h2", n=1)
    (rel,) = files
    del archive.blobs[_blob_of(archive, served, rel)]
    raw = tmp_path / "raw"
    with pytest.raises(SourceError) as err:
        download(recipe, raw)
    msg = str(err.value)
    assert msg.startswith(str(raw / "h2" / rel)) and "404" in msg and "/blobs/" in msg
    assert not isinstance(err.value, ChecksumError)


def test_unknown_version_is_a_source_error(archive, real_data, tmp_path):
    _serve(archive, real_data, tmp_path, "h2", n=1)
    import dataclasses

    recipe = dataclasses.replace(
        RECIPES["h2"], source=dataclasses.replace(RECIPES["h2"].source, version="0.999999.0000")
    )
    with pytest.raises(SourceError) as err:
        download(recipe, tmp_path / "raw")
    assert "/dandisets/000950/versions/0.999999.0000/" in str(err.value)


def test_downloads_run_on_a_dask_client(archive, real_data, tmp_path, cluster_client):
    from neuralbench.pipeline.driver import map_bounded

    recipe, files, served = _serve(archive, real_data, tmp_path, "h2", n=2)
    raw = tmp_path / "raw"
    mapper = partial(map_bounded, cluster_client)
    got = download(recipe, raw, map_jobs=mapper, options=FetchOptions(max_concurrent=1))
    assert [p.relative_to(raw / "h2").as_posix() for p in got] == sorted(files)
    assert all(p.read_bytes() == files[p.relative_to(raw / "h2").as_posix()] for p in got)
    worker_pids = set(cluster_client.run(os.getpid).values())
    assert os.getpid() not in worker_pids  # the bytes came through workers


def _read_session(path: str) -> np.ndarray:
    from neuralbench.session import open_file

    return open_file("nwb-units", path).values


def test_streaming_a_dandi_asset_matches_the_local_file(archive, real_data, tmp_path):
    recipe, files, served = _serve(archive, real_data, tmp_path, "churchland", n=1)
    ((rel, url),) = asset_urls(recipe).items()
    local = tmp_path / "local.nwb"
    local.write_bytes(files[rel])
    # The URL is read in a fresh process, never next to the server's threads: h5py holds
    # its global lock while remfile waits for the server, and a server thread that
    # happens to garbage-collect an hdmf IO object (left by earlier tests) waits for that
    # same lock in its __del__ -- a deadlock seen once in CI. A real DANDI server is
    # another machine, so the reader itself never meets this.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        streamed = pool.submit(_read_session, url).result(timeout=300)
    np.testing.assert_array_equal(streamed, _read_session(str(local)))
    assert streamed.sum() > 0
    blob = _blob_of(archive, served, rel)
    assert any("Range" in s.headers for s in archive.requests_for(blob))


def test_streaming_a_missing_url_is_a_reader_error(archive: FakeArchive):
    from neuralbench.errors import ReaderError
    from neuralbench.readers import get_reader

    url = f"{archive.url}/blobs/nothing-here"
    with pytest.raises(ReaderError) as err:
        get_reader("nwb-units").open_session(url)
    assert str(err.value).startswith(url) and "404" in str(err.value)
