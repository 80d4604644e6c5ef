"""Archive downloads (Zenodo-like, md5) against a loopback server, with tar.gz / zip unpacking."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from neuralbench.catalog import Archive, ArchiveFile, Recipe
from neuralbench.errors import ChecksumError, SourceError
from neuralbench.sources import (
    FetchOptions,
    download,
    list_files,
    resolve_url,
    unpack_archive,
)
from neuralbench.synth import Scale, write_raw_tree
from tests.sources.fakearchive import FakeArchive

_PATH = "/records/8888/files/willett.tar.gz"

NO_RETRY = FetchOptions(retries=0)


def _tar_gz(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for p in sorted(folder.rglob("*")):
            t.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def willett_tree(tmp_path_factory) -> Path:
    """A synth willett tree (``diagnosticBlocks/*.mat``, ``sentences/*.mat``)."""
    raw = tmp_path_factory.mktemp("synth")
    write_raw_tree(raw, only=["willett"], scale=Scale.tiny())
    return raw / "willett"


def _recipe(data: bytes, *, name: str = "willett", unpack_to: str = ".", md5: str = "") -> Recipe:
    f = ArchiveFile(
        "willett.tar.gz",
        url=f"https://zenodo.org{_PATH}?download=1",
        md5=md5 or hashlib.md5(data).hexdigest(),
        size=len(data),
        unpack_to=unpack_to,
    )
    return Recipe(
        name=name,
        source=Archive("zenodo", "10.5281/zenodo.8888", files=(f,)),
        reader="mat-dense",
        include=("diagnosticBlocks/*.mat", "sentences/*.mat"),
    )


def test_archive_download_verifies_md5_and_unpacks(archive: FakeArchive, willett_tree, tmp_path):
    data = _tar_gz(willett_tree)
    archive.blobs[_PATH] = data
    recipe = _recipe(data)
    raw = tmp_path / "raw"
    got = download(recipe, raw)
    root = raw / "willett"
    assert got == [root / "willett.tar.gz", root]
    assert (root / "willett.tar.gz").read_bytes() == data
    want = sorted(p.relative_to(willett_tree).as_posix() for p in willett_tree.rglob("*.mat"))
    assert recipe.select(list_files(root)) == want
    for rel in want:
        assert (root / rel).read_bytes() == (willett_tree / rel).read_bytes()
    assert [s.path for s in archive.seen] == [_PATH]  # query kept, host redirected
    # a rerun neither fetches nor unpacks again
    (root / want[0]).write_bytes(b"edited")
    assert download(recipe, raw) == got
    assert [s.path for s in archive.seen] == [_PATH]
    assert (root / want[0]).read_bytes() == b"edited"


def test_unpack_into_a_new_folder_is_one_rename(archive: FakeArchive, willett_tree, tmp_path):
    data = _tar_gz(willett_tree)
    archive.blobs[_PATH] = data
    got = download(
        _recipe(data, unpack_to="extracted"),
        tmp_path / "raw",
    )
    root = tmp_path / "raw" / "willett"
    assert got == [root / "willett.tar.gz", root / "extracted"]
    assert sorted(p.name for p in (root / "extracted").iterdir()) == [
        "diagnosticBlocks",
        "sentences",
    ]
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [".willett.tar.gz.unpacked", "extracted", "willett.tar.gz"]
    )


def test_md5_mismatch_is_a_checksum_error_and_nothing_is_unpacked(archive, willett_tree, tmp_path):
    data = _tar_gz(willett_tree)
    archive.blobs[_PATH] = data[:-1] + bytes([data[-1] ^ 0xFF])
    raw = tmp_path / "raw"
    with pytest.raises(ChecksumError) as err:
        download(_recipe(data), raw)
    dest = raw / "willett" / "willett.tar.gz"
    assert str(err.value).startswith(str(dest)) and "md5" in str(err.value)
    assert list((raw / "willett").iterdir()) == []


def test_cut_archive_download_resumes_with_range(archive: FakeArchive, willett_tree, tmp_path):
    data = _tar_gz(willett_tree)
    archive.blobs[_PATH] = data
    archive.cut_after[_PATH] = len(data) // 3
    raw = tmp_path / "raw"
    with pytest.raises(SourceError):
        download(_recipe(data), raw, options=NO_RETRY)
    assert not (raw / "willett" / "sentences").exists()
    download(_recipe(data), raw, options=NO_RETRY)
    first, second = archive.requests_for(_PATH)
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={len(data) // 3}-"
    assert (raw / "willett" / "willett.tar.gz").read_bytes() == data
    assert (raw / "willett" / "sentences").is_dir()


def test_missing_archive_file_is_a_source_error(archive: FakeArchive, willett_tree, tmp_path):
    data = _tar_gz(willett_tree)
    raw = tmp_path / "raw"
    with pytest.raises(SourceError) as err:
        download(_recipe(data), raw)
    msg = str(err.value)
    assert msg.startswith(str(raw / "willett" / "willett.tar.gz"))
    assert "404" in msg and f"{archive.url}{_PATH}?download=1" in msg


def test_recipe_without_files_says_where_to_get_them(tmp_path):
    from neuralbench.catalog import RECIPES

    with pytest.raises(SourceError) as err:
        download(RECIPES["willett"], tmp_path)
    assert str(err.value).startswith(str(tmp_path / "willett"))
    assert "https://doi.org/10.5061/dryad.x69p8czpq" in str(err.value)


def test_zip_unpack_drops_escaping_path_parts(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/b.npy", b"x")
        z.writestr("../evil.txt", b"y")
    archive = tmp_path / "r" / "d.zip"
    archive.parent.mkdir()
    archive.write_bytes(buf.getvalue())
    out = unpack_archive(archive, tmp_path / "r" / "data")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a/b.npy",
        "evil.txt",
    ]
    assert not (tmp_path / "evil.txt").exists()


def test_tar_member_leaving_the_folder_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"y"))
    archive = tmp_path / "r" / "d.tar"
    archive.parent.mkdir()
    archive.write_bytes(buf.getvalue())
    with pytest.raises(SourceError) as err:
        unpack_archive(archive, tmp_path / "r" / "data")
    assert str(err.value).startswith(str(archive))
    assert not (tmp_path / "r" / "evil.txt").exists() and not (tmp_path / "r" / "data").exists()
    assert list((tmp_path / "r").iterdir()) == [archive]


def test_not_an_archive_is_a_source_error(tmp_path):
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not an archive at all")
    with pytest.raises(SourceError, match="neither a zip nor a tar"):
        unpack_archive(bad, tmp_path / "out")


def test_archive_urls_take_the_configured_base(monkeypatch):
    assert resolve_url("gin", "x/y.mat", "http://h/g") == "http://h/g/x/y.mat"
    monkeypatch.delenv("NEURALBENCH_ZENODO_URL", raising=False)
    url = "https://zenodo.org/records/1/files/a.zip?download=1"
    assert resolve_url("zenodo", url) == url
    monkeypatch.setenv("NEURALBENCH_ZENODO_URL", "http://127.0.0.1:8000/z/")
    assert resolve_url("zenodo", url) == "http://127.0.0.1:8000/z/records/1/files/a.zip?download=1"
