"""Fetching one file over HTTP(S): verified, atomic and resumable; and many at once.

:func:`fetch_file` is the per-file task, a pure ``(url, dest, digest) -> path`` that
:func:`fetch_all` maps over a list of jobs with whatever mapper it is given. It writes
``<dest>.partial`` beside ``.<dest>.partial.json`` (the digest it is fetching),
resumes a partial file with an HTTP ``Range`` request when the recorded digest is
the one asked for, verifies size and sha256 (or md5), and renames the file into
place only when it verifies.

Parallel downloads
------------------
This module builds no task graph and holds no client. A caller that wants
downloads in parallel passes a :class:`MapJobs`: "run ``fn`` on every item, at
most ``limit`` at a time, results in input order" (the pipeline passes its
bounded queue on a Dask client, ``functools.partial(map_bounded, client)``). The
``fn`` it is given never raises for a problem with one file: it returns the
error, so one bad file never stops the others.

Settings
--------
Base URLs resolve as explicit argument, then environment variable, then
``dask.config.get("neuralbench.sources.<key>")``, then the public default:

============  ===========================  ================================
key           environment variable         default
============  ===========================  ================================
dandi_api     ``NEURALBENCH_DANDI_API_URL``  https://api.dandiarchive.org/api
zenodo        ``NEURALBENCH_ZENODO_URL``     https://zenodo.org
dryad         ``NEURALBENCH_DRYAD_URL``      https://datadryad.org
osf           ``NEURALBENCH_OSF_URL``        https://osf.io
gin           ``NEURALBENCH_GIN_URL``        https://gin.g-node.org
============  ===========================  ================================

Tests point them at a loopback server; a mirror or proxy can do the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from neuralbench.errors import ChecksumError, NeuralbenchError, SourceError
from neuralbench.sources.local import file_digest, record_sha256, sha256_file

__all__ = [
    "DEFAULT_URLS",
    "FetchJob",
    "FetchOptions",
    "MapJobs",
    "base_url",
    "fetch_all",
    "fetch_file",
    "raise_failures",
]

logger = logging.getLogger(__name__)

DEFAULT_URLS: dict[str, str] = {
    "dandi_api": "https://api.dandiarchive.org/api",
    "zenodo": "https://zenodo.org",
    "dryad": "https://datadryad.org",
    "osf": "https://osf.io",
    "gin": "https://gin.g-node.org",
}
"""Public base URL of each source, by setting key."""

_T = TypeVar("_T")
_R = TypeVar("_R")

_CHUNK = 1 << 20
_PERMANENT = (400, 401, 403, 404, 410)  # retrying will not help


def base_url(key: str, override: str | None = None) -> str:
    """The base URL of source ``key`` (``dandi_api``, ``zenodo``, ...), see the module doc."""
    if key not in DEFAULT_URLS:
        raise SourceError(None, f"unknown source {key!r}; known: {', '.join(DEFAULT_URLS)}")
    if override:
        return override.rstrip("/")
    env = os.environ.get(f"NEURALBENCH_{key.upper()}_URL")
    if env:
        return env.rstrip("/")
    import dask.config

    return str(dask.config.get(f"neuralbench.sources.{key}", DEFAULT_URLS[key])).rstrip("/")


@dataclass(frozen=True)
class FetchJob:
    """One file to fetch: where from, where to, and what it must hash to."""

    url: str
    dest: Path
    sha256: str = ""
    md5: str = ""
    size: int | None = None


@dataclass(frozen=True)
class FetchOptions:
    """How a download stage fetches its files.

    Attributes
    ----------
    max_concurrent
        The ``limit`` handed to a parallel :class:`MapJobs`: at most this many
        downloads at a time.
    retries
        Further attempts per file after a connection error or a 5xx answer, each
        resuming where the last stopped.
    verify_existing
        Hash files already in place too, not only compare their size.
    """

    max_concurrent: int = 4
    retries: int = 3
    verify_existing: bool = False


def fetch_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str = "",
    md5: str = "",
    size: int | None = None,
    retries: int = 3,
    verify_existing: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` unless it is there already; return ``dest``.

    Parameters
    ----------
    url, dest
        Where from, and the final file name.
    sha256, md5, size
        What the archive publishes; each one given is checked (sha256 in
        preference to md5).
    retries
        Further attempts after a connection error or a 5xx answer; each resumes
        where the last stopped.
    verify_existing
        Hash an existing final file too, not only compare its size.

    Raises
    ------
    ChecksumError
        The downloaded bytes hash to another digest; nothing is left behind.
    SourceError
        The server refused (404, ...) or kept failing; a partial file is kept,
        and the next call resumes it.
    """
    dest = Path(dest)
    if dest.is_file() and _is_complete(dest, sha256, md5, size, verify_existing):
        logger.debug("%s: already complete", dest)
        return dest
    partial, sidecar = _partial_paths(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _prepare_partial(dest, {"sha256": sha256, "md5": md5, "size": size})
        _stream_with_retries(url, dest, size, retries, timeout)
        _verify(partial, dest, url, sha256, md5, size)
        partial.replace(dest)
        sidecar.unlink(missing_ok=True)
        if sha256:
            record_sha256(dest, sha256)
    except NeuralbenchError:
        raise
    except OSError as exc:
        raise SourceError(dest, f"cannot write the download ({exc.strerror or exc})") from exc
    logger.info("%s: fetched from %s", dest, url)
    return dest


def _partial_paths(dest: Path) -> tuple[Path, Path]:
    """``<dest>.partial`` (the bytes so far) and ``.<dest>.partial.json`` (what they are of)."""
    return dest.with_name(dest.name + ".partial"), dest.with_name(f".{dest.name}.partial.json")


def _prepare_partial(dest: Path, want: dict[str, Any]) -> None:
    """Keep a partial file only if it is of the digest asked for now, and record that digest.

    A partial file left by a fetch of another version (the recipe now pins another
    digest) would resume into a file that can never verify: it is started over.
    """
    partial, sidecar = _partial_paths(dest)
    if partial.exists() and _read_json(sidecar) != want:
        logger.info("%s: partial file is of another version; starting over", dest)
        partial.unlink()
    sidecar.write_text(json.dumps(want))


def _stream_with_retries(url: str, dest: Path, size: int | None, retries: int, timeout: float) -> None:
    """Stream ``url`` into the partial file, retrying transient failures with a back-off.

    Each attempt resumes where the last stopped; after the last one the partial
    file is kept and the SourceError says so, so that a rerun resumes it.
    """
    import requests
    import urllib3

    partial, _ = _partial_paths(dest)
    with requests.Session() as session:
        for attempt in range(retries + 1):
            try:
                _stream(session, url, dest, partial, size, timeout)
                return
            except (requests.RequestException, urllib3.exceptions.HTTPError, _Transient) as exc:
                if attempt == retries:
                    got = partial.stat().st_size if partial.exists() else 0
                    raise SourceError(
                        dest,
                        f"download from {url} failed after {attempt + 1} attempt(s) "
                        f"({exc}); {got} bytes kept in {partial.name}, a rerun resumes",
                    ) from exc
                logger.warning("%s: %s; retrying (%d/%d)", dest, exc, attempt + 1, retries)
                time.sleep(min(0.5 * 2**attempt, 30.0))


class _Transient(Exception):
    """A failure worth retrying (5xx, early end of body)."""


def _stream(session: Any, url: str, dest: Path, partial: Path, size: int | None, timeout: float):
    offset = partial.stat().st_size if partial.exists() else 0
    if size is not None and offset > size:
        offset = 0
    if size is not None and offset == size:
        return  # the last attempt got every byte
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, stream=True, headers=headers, timeout=timeout) as r:
        if r.status_code == 416 and offset:
            if size is None:
                return  # nothing past what we have
            partial.unlink()
            raise _Transient(f"HTTP 416 for a resume at byte {offset}; starting over")
        if r.status_code >= 400:
            where = url if r.url == url else f"{url} (redirected to {r.url})"
            problem = f"HTTP {r.status_code} {r.reason} for {where}"
            if r.status_code in _PERMANENT:
                raise SourceError(dest, problem)
            raise _Transient(problem)
        resumed = r.status_code == 206 and _range_start(r.headers) == offset
        if offset and not resumed:
            logger.info("%s: server ignored the Range request; starting over", dest)
        with open(partial, "ab" if resumed else "wb") as f:
            # read1 hands over what has arrived, so a cut connection keeps every byte
            while block := r.raw.read1(_CHUNK, decode_content=True):
                f.write(block)
    got = partial.stat().st_size
    if size is not None and got < size:
        raise _Transient(f"connection ended after {got} of {size} bytes")


def _range_start(headers: Any) -> int | None:
    """The first byte of a ``Content-Range: bytes a-b/n`` answer."""
    value = headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _verify(partial: Path, dest: Path, url: str, sha256: str, md5: str, size: int | None):
    """Raise ChecksumError (and delete the bytes) unless ``partial`` is what was published."""
    problem = ""
    got_size = partial.stat().st_size
    if size is not None and got_size != size:
        problem = f"size {got_size} != {size} published"
    elif sha256 and (got := sha256_file(partial)) != sha256.lower():
        problem = f"sha256 {got} != {sha256} published"
    elif not sha256 and md5 and (got := _md5_file(partial)) != md5.lower():
        problem = f"md5 {got} != {md5} published"
    if problem:
        partial.unlink(missing_ok=True)
        _partial_paths(dest)[1].unlink(missing_ok=True)
        raise ChecksumError(dest, f"{problem} (from {url}); the download was deleted")


def _is_complete(dest: Path, sha256: str, md5: str, size: int | None, verify: bool) -> bool:
    if size is not None and dest.stat().st_size != size:
        logger.info("%s: size differs from the published one; fetching again", dest)
        return False
    if verify and (sha256 or md5):
        got = sha256_file(dest) if sha256 else _md5_file(dest)
        if got != (sha256 or md5).lower():
            logger.warning("%s: existing file has another digest; fetching again", dest)
            return False
    return True


def _md5_file(path: Path) -> str:
    return file_digest(path, lambda: hashlib.md5(usedforsecurity=False))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class MapJobs(Protocol):
    """Run ``fn`` on every item, at most ``limit`` at a time; the results in input order.

    ``fn`` is a picklable module-level function (or a ``functools.partial`` of one),
    so a mapper may run it in other processes or on other machines, such as the
    pipeline's ``functools.partial(map_bounded, client)`` on a Dask client. The
    ``fn`` that :func:`fetch_all` passes never raises for one file's problem.
    """

    def __call__(self, fn: Callable[[_T], _R], items: Sequence[_T], limit: int, /) -> list[_R]: ...


def _map_serial(fn: Callable[[_T], _R], items: Sequence[_T], limit: int = 1, /) -> list[_R]:
    """``map_jobs=None``: one item after the other, in this process."""
    return [fn(item) for item in items]


def fetch_all(
    jobs: Sequence[FetchJob], *, map_jobs: MapJobs | None = None, options: FetchOptions | None = None
) -> tuple[list[Path], list[NeuralbenchError]]:
    """Run :func:`fetch_file` for every job; one failure never stops the others.

    Parameters
    ----------
    jobs
        The files to fetch.
    map_jobs
        How to run them: a :class:`MapJobs` given ``options.max_concurrent`` as its
        limit (with a mapper that runs on other machines, every ``dest`` must be on
        a file system they share); ``None`` fetches serially in this process.
    options
        Concurrency, retries, re-hashing of files in place.

    Returns
    -------
    (fetched paths in job order, errors in job order)
    """
    options = options or FetchOptions()
    task = partial(_fetch_caught, retries=options.retries, verify_existing=options.verify_existing)
    results = (map_jobs or _map_serial)(task, list(jobs), max(1, options.max_concurrent))
    errors = [r for r in results if isinstance(r, NeuralbenchError)]
    for exc in errors:
        logger.error("%s", exc)
    return [r for r in results if not isinstance(r, NeuralbenchError)], errors


def _fetch_caught(
    job: FetchJob, *, retries: int = 3, verify_existing: bool = False
) -> Path | NeuralbenchError:
    """:func:`fetch_file` for one job, its NeuralbenchError returned rather than raised.

    This is the task a :class:`MapJobs` runs: a failed file is a value in the
    results, so a mapper never has to tell one file's problem from its own.
    """
    try:
        return fetch_file(
            job.url,
            job.dest,
            sha256=job.sha256,
            md5=job.md5,
            size=job.size,
            retries=retries,
            verify_existing=verify_existing,
        )
    except NeuralbenchError as exc:
        return exc


def raise_failures(where: str | os.PathLike[str], total: int, errors: list[NeuralbenchError]):
    """Re-raise a lone error as it is; several as one SourceError that lists them."""
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    listing = "; ".join(str(e) for e in errors[:5]) + ("; ..." if len(errors) > 5 else "")
    raise SourceError(where, f"{len(errors)} of {total} files failed: {listing}") from errors[0]
