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
