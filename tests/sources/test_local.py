"""Digests recorded at download time are reused by the build while the file is unchanged."""

from __future__ import annotations

import hashlib
import os

from neuralbench.sources.local import list_files, record_sha256, source_sha256


def test_recorded_digest_is_used_until_the_file_changes(tmp_path):
    path = tmp_path / "sub-a" / "x.nwb"
    path.parent.mkdir()
    path.write_bytes(b"abc")
    real = hashlib.sha256(b"abc").hexdigest()
    record_sha256(path, "F" * 64)  # a recorded digest wins while size and mtime match
    assert source_sha256(path) == "f" * 64
    assert list_files(tmp_path) == ["sub-a/x.nwb"]  # the record is hidden from sessions
    path.write_bytes(b"abd")  # same size, new mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert source_sha256(path) == hashlib.sha256(b"abd").hexdigest()
    record_sha256(path, real)
    path.write_bytes(b"abcd")  # other size
    assert source_sha256(path) == hashlib.sha256(b"abcd").hexdigest()


def test_download_records_the_verified_digest(archive, real_data, tmp_path):
    from neuralbench.sources import download
    from tests.sources.test_dandi import _serve

    recipe, files, _ = _serve(archive, real_data, tmp_path, "h2", n=1)
    (path,) = download(recipe, tmp_path / "raw")
    ((rel, data),) = files.items()
    record = (path.parent / f".{path.name}.sha256").read_text()
    assert hashlib.sha256(data).hexdigest() in record
    assert source_sha256(path) == hashlib.sha256(data).hexdigest()


def test_a_computed_digest_is_recorded_and_reused_until_the_file_is_replaced(tmp_path):
    path = tmp_path / "x.nwb"
    path.write_bytes(b"raw bytes")
    real = hashlib.sha256(b"raw bytes").hexdigest()
    record = tmp_path / ".x.nwb.sha256"
    assert source_sha256(path) == real and real in record.read_text()  # hashed once, then recorded
    record.write_text(record.read_text().replace(real, "e" * 64))
    assert source_sha256(path) == "e" * 64  # the record is what a later build reads
    # another file moved into place (same size and mtime, new inode): hashed again
    other = tmp_path / "y.nwb"
    other.write_bytes(b"raw bytez")
    st = path.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)
    assert source_sha256(path) == hashlib.sha256(b"raw bytez").hexdigest()


def test_a_record_without_an_inode_is_still_used(tmp_path):
    import json

    path = tmp_path / "x.nwb"
    path.write_bytes(b"abc")
    st = path.stat()
    (tmp_path / ".x.nwb.sha256").write_text(
        json.dumps({"sha256": "d" * 64, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    )
    assert source_sha256(path) == "d" * 64
