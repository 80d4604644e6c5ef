"""Errors that name the file and what is wrong with it.

Every error a bad input can raise derives from :class:`NeuralbenchError`, so the
pipeline can record it for one session and go on with the others.
"""

from __future__ import annotations

import os

__all__ = [
    "ChecksumError",
    "NeuralbenchError",
    "ReaderError",
    "RecipeError",
    "SourceError",
]


class NeuralbenchError(Exception):
    """Base class: a message that starts with the file it is about."""

    def __init__(self, path: str | os.PathLike[str] | None, message: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)

    def __reduce__(self):  # keep .path and .reason across process boundaries
        return (type(self), (self.path, self.reason))


class SourceError(NeuralbenchError, OSError):
    """A file could not be fetched or found."""


class ChecksumError(SourceError):
    """A file's digest differs from the one its archive publishes."""


class ReaderError(NeuralbenchError, ValueError):
    """A file is not what its recipe says it is (wrong layout, dtype, values)."""


class RecipeError(NeuralbenchError, ValueError):
    """A recipe is malformed or names an unknown reader or parameter."""
