"""A component's raw files already on disk under ``RAW/<component>/``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from neuralbench.errors import SourceError

__all__ = ["list_files", "sha256_file"]

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


def sha256_file(path: str | os.PathLike[str], chunk: int = 8 << 20) -> str:
    """The file's sha256, read in chunks (DANDI publishes the same digest)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    except OSError as exc:
        raise SourceError(path, f"cannot read file ({exc.strerror or exc})") from exc
    return h.hexdigest()
