"""Fetching one file over HTTP(S): verified, atomic and resumable; and many at once.

:func:`fetch_file` is the per-file task, a pure ``(url, dest, digest) -> path`` that
``pipeline.py`` (or :func:`fetch_all`) can map over a Dask client. It writes
``<dest>.partial`` beside ``.<dest>.partial.json`` (the digest it is fetching),
resumes a partial file with an HTTP ``Range`` request when the recorded digest is
the one asked for, verifies size and sha256 (or md5), and renames the file into
place only when it verifies.

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
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuralbench.errors import ChecksumError, NeuralbenchError, SourceError
from neuralbench.sources.local import record_sha256, sha256_file

__all__ = [
    "DEFAULT_URLS",
    "FetchJob",
    "FetchOptions",
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
        With a ``distributed.Client``: at most this many downloads at a time.
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
    import requests
    import urllib3

    dest = Path(dest)
    if dest.is_file() and _is_complete(dest, sha256, md5, size, verify_existing):
        logger.debug("%s: already complete", dest)
        return dest
    partial = dest.with_name(dest.name + ".partial")
    sidecar = dest.with_name(f".{dest.name}.partial.json")
    want = {"sha256": sha256, "md5": md5, "size": size}
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists() and _read_json(sidecar) != want:
            logger.info("%s: partial file is of another version; starting over", dest)
            partial.unlink()
        sidecar.write_text(json.dumps(want))
        with requests.Session() as session:
            for attempt in range(retries + 1):
                try:
                    _stream(session, url, dest, partial, size, timeout)
                    break
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
        dest.with_name(f".{dest.name}.partial.json").unlink(missing_ok=True)
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
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fetch_all(
    jobs: Sequence[FetchJob], *, client: Any = None, options: FetchOptions | None = None
) -> tuple[list[Path], list[NeuralbenchError]]:
    """Run :func:`fetch_file` for every job; one failure never stops the others.

    With a ``distributed.Client``, at most ``options.max_concurrent`` downloads run
    at a time as tasks on its workers (``dest`` must be on a file system they
    share); without one, serially here.

    Returns
    -------
    (fetched paths in job order, errors)
    """
    options = options or FetchOptions()
    kwargs = {"retries": options.retries, "verify_existing": options.verify_existing}
    done: dict[int, Path] = {}
    errors: list[NeuralbenchError] = []
    if client is None:
        results = ((i, _run_caught(job, kwargs)) for i, job in enumerate(jobs))
    else:
        results = _map_bounded(client, jobs, kwargs, max(1, options.max_concurrent))
    for i, result in results:
        if isinstance(result, NeuralbenchError):
            logger.error("%s", result)
            errors.append(result)
        else:
            done[i] = result
    return [done[i] for i in sorted(done)], errors


def _run_caught(job: FetchJob, kwargs: dict[str, Any]) -> Path | NeuralbenchError:
    try:
        return _run(job, kwargs)
    except NeuralbenchError as exc:
        return exc


def _run(job: FetchJob, kwargs: dict[str, Any]) -> Path:
    return fetch_file(job.url, job.dest, sha256=job.sha256, md5=job.md5, size=job.size, **kwargs)


def _map_bounded(client: Any, jobs: Sequence[FetchJob], kwargs: dict[str, Any], limit: int):
    """Yield ``(index, path or NeuralbenchError)`` with at most ``limit`` tasks in flight."""
    from distributed import as_completed  # only here: sources build no graphs of their own

    todo = iter(enumerate(jobs))
    index = {}

    def submit(i: int, job: FetchJob):
        key = f"fetch-{job.dest.name}-{uuid.uuid4().hex[:8]}"
        fut = client.submit(_run, job, kwargs, key=key)
        index[fut.key] = i
        return fut

    first = [submit(i, job) for i, job in _take(todo, limit)]
    pending = as_completed(first)
    for fut in pending:
        i = index.pop(fut.key)
        if fut.status == "error":
            exc = fut.exception()
            if not isinstance(exc, NeuralbenchError):
                raise exc
            yield i, exc
        else:
            yield i, fut.result()
        fut.release()
        for j, job in _take(todo, 1):
            pending.add(submit(j, job))


def _take(it: Iterable, n: int) -> list:
    out = []
    for item in it:
        out.append(item)
        if len(out) == n:
            break
    return out


def raise_failures(where: str | os.PathLike[str], total: int, errors: list[NeuralbenchError]):
    """Re-raise a lone error as it is; several as one SourceError that lists them."""
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    listing = "; ".join(str(e) for e in errors[:5]) + ("; ..." if len(errors) > 5 else "")
    raise SourceError(where, f"{len(errors)} of {total} files failed: {listing}") from errors[0]
