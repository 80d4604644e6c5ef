"""Archive records over HTTP: Dryad, Zenodo, OSF and G-Node GIN.

Each :class:`~neuralbench.catalog.ArchiveFile` of a recipe is fetched to
``RAW/<name>/<file name>`` (verified against the md5 / sha256 the record
publishes, resumed with ``Range`` requests, see :mod:`neuralbench.sources.fetch`),
and a zip or tar(.gz) with ``unpack_to`` is unpacked into ``RAW/<name>/<unpack_to>``:
into a hidden temporary folder first, then renamed into place, so a folder that is
there is complete. The base URL of each archive is a setting
(``NEURALBENCH_ZENODO_URL`` and the like, see :func:`~neuralbench.sources.fetch.base_url`):
a recipe URL on the public host is sent to that base instead, keeping its path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from neuralbench.catalog import Archive, ArchiveFile, Recipe
from neuralbench.errors import NeuralbenchError, RecipeError, SourceError
from neuralbench.sources.fetch import (
    DEFAULT_URLS,
    FetchJob,
    FetchOptions,
    MapJobs,
    base_url,
    fetch_all,
    raise_failures,
)

__all__ = ["download_archive", "resolve_url", "unpack_archive"]

logger = logging.getLogger(__name__)


def resolve_url(kind: str, url: str, base: str | None = None) -> str:
    """The URL to fetch ``url`` of an archive of ``kind`` from.

    A relative ``url`` is joined to the archive's base URL; an absolute one keeps
    its path and query but takes the configured base (scheme, host and path
    prefix) when that differs from the public default.

    Examples
    --------
    >>> resolve_url("zenodo", "https://zenodo.org/records/1/files/a.zip", "http://127.0.0.1:8000/z")
    'http://127.0.0.1:8000/z/records/1/files/a.zip'
    """
    root = base_url(kind, base)
    if "://" not in url:
        return f"{root}/{url.lstrip('/')}"
    if root == DEFAULT_URLS[kind]:
        return url
    u, b = urlsplit(url), urlsplit(root)
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + u.path, u.query, ""))


def download_archive(
    recipe: Recipe,
    raw_root: str | os.PathLike[str],
    *,
    map_jobs: MapJobs | None = None,
    options: FetchOptions | None = None,
    keep_archives: bool = True,
    base: str | None = None,
) -> list[Path]:
    """Fetch (and unpack) every file of an archive recipe into ``raw_root/<name>/``.

    Parameters
    ----------
    recipe
        A recipe whose source is an :class:`~neuralbench.catalog.Archive`. The whole
        record is fetched: which files are sessions is known only once unpacked.
    raw_root
        The raw data root.
    map_jobs, options
        How to run the downloads (:class:`~neuralbench.sources.fetch.MapJobs`;
        ``None``: serially here), and :class:`~neuralbench.sources.fetch.FetchOptions`.
    keep_archives
        Keep a zip / tar once unpacked (a rerun then verifies it by size); if
        false it is deleted and the unpacked folder's marker stands for it.
    base
        Base URL of the archive, overriding the setting.

    Returns
    -------
    The fetched files and unpacked folders, in recipe order.

    Raises
    ------
    SourceError, ChecksumError
        After every file was tried, for those that failed.
    """
    src = recipe.source
    if not isinstance(src, Archive):
        raise RecipeError(None, f"{recipe.name}: source is not an archive record")
    root = Path(raw_root) / recipe.name
    if not src.files:
        raise SourceError(
            root,
            f"the recipe lists no files of {src.kind} record {src.record}; "
            f"download them from {src.url} into this folder",
        )
    jobs, unpacked = _fetch_jobs(src, root, keep_archives, base)
    fetched, errors = fetch_all(jobs, map_jobs=map_jobs, options=options)
    out = {path.name: path for path in fetched}
    errors += _unpack_fetched(src, root, out, unpacked, keep_archives)
    raise_failures(root, len(src.files), errors)
    return [p for f in src.files for p in (out.get(f.name), unpacked.get(f.name)) if p]


def _fetch_jobs(
    src: Archive, root: Path, keep_archives: bool, base: str | None
) -> tuple[list[FetchJob], dict[str, Path]]:
    """The files to fetch, and the folders already unpacked (by archive file name).

    An archive whose folder is unpacked is fetched again only to be verified
    (by size) while it is kept; once deleted, its unpacked marker stands for it.
    """
    jobs, unpacked = [], {}
    for f in src.files:
        if not f.url:
            raise RecipeError(root / f.name, "the recipe gives no URL for this file")
        if f.unpack_to and _marker_ok(root, f):
            unpacked[f.name] = _target(root, f)
            if not keep_archives or not (root / f.name).exists():
                continue  # already unpacked and nothing to verify
        jobs.append(FetchJob(resolve_url(src.kind, f.url, base), root / f.name, f.sha256, f.md5, f.size))
    return jobs, unpacked


def _unpack_fetched(
    src: Archive, root: Path, out: dict[str, Path], unpacked: dict[str, Path], keep_archives: bool
) -> list[NeuralbenchError]:
    """Unpack each fetched archive not unpacked yet, recording it in ``unpacked``; the errors.

    ``out`` loses an archive deleted after unpacking (``keep_archives=False``).
    """
    errors: list[NeuralbenchError] = []
    for f in src.files:
        if not f.unpack_to or f.name in unpacked or f.name not in out:
            continue
        try:
            unpacked[f.name] = unpack_archive(out[f.name], _target(root, f))
            _marker(root, f).write_text(json.dumps(_stamp(f)))
        except NeuralbenchError as exc:
            logger.error("%s", exc)
            errors.append(exc)
            continue
        if not keep_archives:
            out.pop(f.name).unlink()
    return errors


def _target(root: Path, f: ArchiveFile) -> Path:
    target = (root / f.unpack_to).resolve()
    if not target.is_relative_to(root.resolve()):
        raise RecipeError(root / f.name, f"unpack_to {f.unpack_to!r} leaves the component folder")
    return root / f.unpack_to


def _marker(root: Path, f: ArchiveFile) -> Path:
    return root / f".{f.name}.unpacked"


def _stamp(f: ArchiveFile) -> dict[str, Any]:
    return {"sha256": f.sha256, "md5": f.md5, "size": f.size, "unpack_to": f.unpack_to}


def _marker_ok(root: Path, f: ArchiveFile) -> bool:
    try:
        stamp = json.loads(_marker(root, f).read_text())
    except (OSError, ValueError):
        return False
    return stamp == _stamp(f) and _target(root, f).is_dir()


def unpack_archive(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Unpack a zip or tar(.gz/.bz2/.xz) into ``target``, all or nothing.

    The members go to a hidden folder beside ``archive`` first; a ``target`` that
    does not exist yet is then one rename, an existing one (such as the
    component root) gets each top-level member renamed in, replacing its
    namesake. Members that would land outside the folder are refused.
    """
    archive, target = Path(archive), Path(target)
    tmp = archive.parent / f".{archive.name}.unpacking"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _extract(archive, tmp)
        if not target.exists():
            tmp.replace(target)
        else:
            for entry in sorted(tmp.iterdir()):
                dst = target / entry.name
                if dst.is_dir() and not dst.is_symlink():
                    shutil.rmtree(dst)
                elif dst.exists() or dst.is_symlink():
                    dst.unlink()
                entry.replace(dst)
            tmp.rmdir()
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, NeuralbenchError):
            raise
        raise SourceError(archive, f"cannot unpack into {target} ({exc})") from exc
    logger.info("%s: unpacked into %s", archive, target)
    return target


def _extract(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)  # zipfile drops absolute and ".." parts itself
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            if hasattr(tarfile, "data_filter"):
                t.extractall(into, filter="data")
            else:  # Python < 3.10.12: check the members ourselves
                base = into.resolve()
                for m in t.getmembers():
                    if not (base / m.name).resolve().is_relative_to(base) or m.issym() or m.islnk():
                        raise SourceError(archive, f"member {m.name!r} would leave the folder")
                t.extractall(into)
    else:
        raise SourceError(archive, "neither a zip nor a tar archive; cannot unpack")
