"""A component's raw files already on disk under ``RAW/<component>/``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuralbench.errors import SourceError

__all__ = ["file_digest", "list_files", "record_sha256", "sha256_file", "source_sha256"]

_PARTIAL_SUFFIXES = (".partial", ".dandidownload", ".part")


def list_files(root: str | os.PathLike[str]) -> list[str]:
    """Every file below ``root`` as a sorted ``/``-separated relative path.

    Hidden files and downloads still in progress (``*.partial`` and the like) are
    not listed.
    """
    root = Path(root)
    if not root.is_dir():
        raise SourceError(root, "raw folder does not exist")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _skipped(d)]
        for name in filenames:
            if not _skipped(name):
                found.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(found)


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.endswith(_PARTIAL_SUFFIXES)


def file_digest(path: str | os.PathLike[str], digest: str | Callable[[], Any] = "sha256") -> str:
    """The file's hex digest (``digest``: a hashlib name or constructor).

    ``hashlib.file_digest`` reads into one buffer it reuses. Reading the file as new
    8 MiB ``bytes`` objects cost twice the CPU in a dask worker (0.8 against 1.5 GB
    per CPU-s): the Nanny's ``MALLOC_TRIM_THRESHOLD_`` makes each such block a fresh
    ``mmap``, its pages faulted in and unmapped again.
    """
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, digest).hexdigest()
    except OSError as exc:
        raise SourceError(path, f"cannot read file ({exc.strerror or exc})") from exc


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256 (DANDI publishes the same digest)."""
    return file_digest(path, "sha256")


def _digest_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def record_sha256(path: str | os.PathLike[str], sha256: str) -> None:
    """Remember a file's digest beside it (``.<name>.sha256``), with its size, mtime and inode.

    The download stage calls this once it has checked the archive's digest, and
    :func:`source_sha256` once it has hashed a file, so that no build reads a raw
    file only to hash it again. Best effort: a read-only folder just means the
    build hashes the file itself.
    """
    path = Path(path)
    stat = path.stat()
    record = {"sha256": sha256.lower(), **_identity(stat)}
    tmp = path.with_name(f".{path.name}.sha256.{os.getpid()}.partial")
    try:
        tmp.write_text(json.dumps(record))
        os.replace(tmp, _digest_path(path))
    except OSError:
        tmp.unlink(missing_ok=True)


def _identity(stat: os.stat_result) -> dict[str, int]:
    """What must not change for a recorded digest to stay the file's: size, mtime, inode."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def source_sha256(path: str | os.PathLike[str]) -> str:
    """The file's sha256: the recorded one while the file is unchanged, else computed and recorded.

    Unchanged: same size, mtime and inode as when the digest was recorded (a
    record without an inode, from an older version, is checked on size and mtime).
    """
    path = Path(path)
    try:
        record = json.loads(_digest_path(path).read_text())
        now = _identity(path.stat())
        known = {k: record[k] for k in ("size", "mtime_ns")} | {"inode": record.get("inode", now["inode"])}
        if known == now:
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    before = _identity(path.stat()) if path.exists() else None
    digest = sha256_file(path)
    if before is not None and _identity(path.stat()) == before:  # not rewritten while hashed
        record_sha256(path, digest)
    return digest
