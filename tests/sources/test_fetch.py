"""fetch.py against a loopback server: verify, resume, retry, rename; many files through a mapper."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import dask.config
import pytest

from neuralbench.errors import ChecksumError, SourceError
from neuralbench.sources.fetch import FetchJob, FetchOptions, base_url, fetch_all, fetch_file
from neuralbench.sources.local import list_files, source_sha256
from tests.sources.fakearchive import FakeArchive, Gate

DATA = bytes(range(256)) * 400  # 100 kB: several reads of the body
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


def _serve(archive: FakeArchive, name: str = "a.bin", data: bytes = DATA) -> str:
    archive.blobs[f"/blobs/{name}"] = data
    return f"{archive.url}/blobs/{name}"


def _partial(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def test_fetch_verifies_renames_records_the_digest_and_skips_a_complete_file(archive, tmp_path):
    url = _serve(archive)
    dest = tmp_path / "sub" / "a.bin"
    assert fetch_file(url, dest, sha256=SHA.upper(), size=len(DATA)) == dest
    assert dest.read_bytes() == DATA
    assert list_files(tmp_path) == ["sub/a.bin"]  # no partial, sidecar or digest record listed
    assert source_sha256(dest) == SHA  # the verified digest is recorded beside the file
    assert fetch_file(url, dest, sha256=SHA, size=len(DATA)) == dest
    assert len(archive.requests_for("/blobs/a.bin")) == 1


def test_existing_file_is_rehashed_only_when_asked(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    fetch_file(url, dest, sha256=SHA, size=len(DATA))
    dest.write_bytes(bytes(len(DATA)))  # same size, other bytes
    fetch_file(url, dest, sha256=SHA, size=len(DATA))
    assert dest.read_bytes() == bytes(len(DATA))  # size matched: kept
    fetch_file(url, dest, sha256=SHA, size=len(DATA), verify_existing=True)
    assert dest.read_bytes() == DATA


@pytest.mark.parametrize("digest", ["sha256", "md5"])
def test_wrong_bytes_are_a_checksum_error_and_leave_nothing(archive, tmp_path, digest):
    bad = bytearray(DATA)
    bad[len(bad) // 2] ^= 0xFF
    url, dest = _serve(archive, data=bytes(bad)), tmp_path / "a.bin"
    with pytest.raises(ChecksumError) as err:
        fetch_file(url, dest, **{digest: SHA if digest == "sha256" else MD5}, retries=0)
    msg = str(err.value)
    assert msg.startswith(f"{dest}: {digest} ") and url in msg and "deleted" in msg
    assert list(tmp_path.iterdir()) == []  # no file, no partial, no sidecar


def test_cut_connection_resumes_with_range_on_rerun(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    archive.cut_after["/blobs/a.bin"] = 5000
    with pytest.raises(SourceError) as err:
        fetch_file(url, dest, sha256=SHA, size=len(DATA), retries=0)
    assert str(err.value).startswith(str(dest)) and "rerun resumes" in str(err.value)
    assert not dest.exists() and _partial(dest).stat().st_size == 5000
    assert list_files(tmp_path) == []  # the partial and its sidecar are not sessions
    fetch_file(url, dest, sha256=SHA, size=len(DATA), retries=0)
    first, second = archive.requests_for("/blobs/a.bin")
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=5000-"
    assert dest.read_bytes() == DATA


def test_cut_connection_is_retried_within_one_call(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    archive.cut_after["/blobs/a.bin"] = 1234
    fetch_file(url, dest, sha256=SHA, size=len(DATA), retries=1)
    assert dest.read_bytes() == DATA
    assert archive.requests_for("/blobs/a.bin")[1].headers["Range"] == "bytes=1234-"


def test_server_without_ranges_restarts_from_zero(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    archive.cut_after["/blobs/a.bin"] = 777
    archive.ranges = False
    with pytest.raises(SourceError):
        fetch_file(url, dest, sha256=SHA, size=len(DATA), retries=0)
    fetch_file(url, dest, sha256=SHA, size=len(DATA), retries=0)
    assert dest.read_bytes() == DATA  # the 777 bytes were not kept in front of a full body


def test_partial_of_another_version_is_not_resumed(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    archive.cut_after["/blobs/a.bin"] = 100
    with pytest.raises(SourceError):
        fetch_file(url, dest, md5="0" * 32, size=len(DATA), retries=0)
    fetch_file(url, dest, md5=MD5, size=len(DATA), retries=0)  # now another digest is pinned
    assert "Range" not in archive.requests_for("/blobs/a.bin")[1].headers
    assert dest.read_bytes() == DATA


def test_whole_partial_of_unknown_size_is_finished_by_a_416(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    _partial(dest).write_bytes(DATA)  # a fetch that got every byte, then was stopped
    sidecar = dest.with_name(f".{dest.name}.partial.json")
    sidecar.write_text(json.dumps({"sha256": SHA, "md5": "", "size": None}))
    fetch_file(url, dest, sha256=SHA, retries=0)
    (seen,) = archive.requests_for("/blobs/a.bin")
    assert seen.headers["Range"] == f"bytes={len(DATA)}-"  # answered 416: nothing past it
    assert dest.read_bytes() == DATA and not sidecar.exists()


def test_5xx_is_retried_then_given_up_naming_the_attempts(archive, tmp_path):
    url, dest = _serve(archive), tmp_path / "a.bin"
    archive.fail_first["/blobs/a.bin"] = 2
    fetch_file(url, dest, sha256=SHA, retries=2)
    assert dest.read_bytes() == DATA and len(archive.requests_for("/blobs/a.bin")) == 3
    other = tmp_path / "b.bin"
    archive.fail_first["/blobs/a.bin"] = 5
    with pytest.raises(SourceError) as err:
        fetch_file(url, other, sha256=SHA, retries=1)
    assert str(err.value).startswith(str(other))
    assert "HTTP 503" in str(err.value) and "after 2 attempt(s)" in str(err.value)


def test_404_is_not_retried(archive, tmp_path):
    url, dest = f"{archive.url}/blobs/missing", tmp_path / "a.bin"
    with pytest.raises(SourceError) as err:
        fetch_file(url, dest, sha256=SHA, retries=3)
    assert not isinstance(err.value, ChecksumError)
    assert str(err.value).startswith(str(dest)) and "HTTP 404" in str(err.value) and url in str(err.value)
    assert len(archive.requests_for("/blobs/missing")) == 1


def test_unwritable_destination_is_a_source_error(archive, tmp_path):
    (tmp_path / "file").write_text("")
    dest = tmp_path / "file" / "a.bin"  # its folder is a file
    with pytest.raises(SourceError, match="cannot write the download") as err:
        fetch_file(_serve(archive), dest)
    assert str(err.value).startswith(str(dest))


def _jobs(archive: FakeArchive, tmp_path: Path, n: int, bad: int | None = None) -> list[FetchJob]:
    jobs = []
    for i in range(n):
        url = _serve(archive, f"{i}.bin", DATA[i:])
        digest = "0" * 64 if i == bad else hashlib.sha256(DATA[i:]).hexdigest()
        jobs.append(FetchJob(url, tmp_path / f"{i}.bin", sha256=digest))
    return jobs


def test_one_bad_file_never_stops_the_others(archive, tmp_path):
    jobs = _jobs(archive, tmp_path, 4, bad=1)
    jobs.insert(2, FetchJob(f"{archive.url}/blobs/missing", tmp_path / "missing.bin"))
    paths, errors = fetch_all(jobs, options=FetchOptions(retries=0))
    assert paths == [tmp_path / f"{i}.bin" for i in (0, 2, 3)]  # in job order
    assert [type(e) for e in errors] == [ChecksumError, SourceError]
    assert [e.path for e in errors] == [str(tmp_path / "1.bin"), str(tmp_path / "missing.bin")]


def _thread_map(calls: list, fn, items, limit):
    """A MapJobs on a thread pool, recording each call; it lets any exception through."""
    calls.append(limit)
    with ThreadPoolExecutor(limit) as pool:
        return list(pool.map(fn, items))


def test_a_mapper_gets_the_limit_and_tasks_that_return_their_errors(archive, tmp_path):
    jobs = _jobs(archive, tmp_path, 6, bad=4)
    archive.gate = Gate(width=3, total=len(jobs))
    calls: list[int] = []
    mapper = partial(_thread_map, calls)
    paths, errors = fetch_all(jobs, map_jobs=mapper, options=FetchOptions(max_concurrent=3, retries=0))
    assert calls == [3]
    assert paths == [j.dest for i, j in enumerate(jobs) if i != 4]
    assert [e.path for e in errors] == [str(jobs[4].dest)]
    assert (archive.gate.most, archive.gate.timeouts) == (3, 0)


def test_without_a_mapper_one_file_at_a_time(archive, tmp_path):
    jobs = _jobs(archive, tmp_path, 3)
    archive.gate = Gate(width=1, total=len(jobs))
    paths, errors = fetch_all(jobs, options=FetchOptions(max_concurrent=8))
    assert paths == [j.dest for j in jobs] and errors == []
    assert archive.gate.most == 1


@pytest.mark.parametrize("limit", [1, 2])
def test_map_bounded_on_a_local_cluster_keeps_the_limit(archive, tmp_path, cluster_client, limit):
    """The pipeline's mapper on 2 worker processes: exactly ``limit`` downloads at once."""
    from neuralbench.pipeline.driver import map_bounded

    jobs = _jobs(archive, tmp_path, 5, bad=3)
    archive.gate = Gate(width=limit, total=len(jobs))
    options = FetchOptions(max_concurrent=limit, retries=0)
    paths, errors = fetch_all(jobs, map_jobs=partial(map_bounded, cluster_client), options=options)
    assert paths == [j.dest for i, j in enumerate(jobs) if i != 3]
    assert all(p.read_bytes() == DATA[int(p.stem) :] for p in paths)
    assert len(errors) == 1 and isinstance(errors[0], ChecksumError)  # came back from a worker
    assert str(errors[0]).startswith(str(jobs[3].dest))
    assert (archive.gate.most, archive.gate.timeouts) == (limit, 0)
    assert os.getpid() not in set(cluster_client.run(os.getpid).values())


def test_base_urls_resolve_argument_env_config_default(monkeypatch):
    monkeypatch.delenv("NEURALBENCH_ZENODO_URL", raising=False)
    assert base_url("zenodo") == "https://zenodo.org"
    with dask.config.set({"neuralbench.sources.zenodo": "http://mirror/z/"}):
        assert base_url("zenodo") == "http://mirror/z"
        monkeypatch.setenv("NEURALBENCH_ZENODO_URL", "http://env")
        assert base_url("zenodo") == "http://env"
        assert base_url("zenodo", "http://arg") == "http://arg"
    with pytest.raises(SourceError, match="unknown source"):
        base_url("figshare")
