"""What every reader shares: the plugin interface and the description of a file it returns.

A reader says what a file holds and how to read any time block of it, as
xarray's ``BackendArray`` does for a variable; it does not cut the session. The
segment rule and the blocks are the caller's (:func:`neuralbench.session.session_counts`),
the way xarray leaves chunking to ``open_dataset(chunks=...)``.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import xarray as xr

__all__ = ["DIMS", "Reader", "SessionSource", "unit_coord"]

DIMS = ("unit", "time")


@dataclass(frozen=True)
class SessionSource:
    """What one raw file holds (``n_units x n_bins`` counts from ``t0_s``) and how to read it.

    Built by a reader from the file's metadata alone; picklable, so the opening
    task can hand it on. ``read(start, stop, *args)`` returns the uint16 counts of
    every unit for bins ``[start, stop)``, opening ``path`` itself (never an open
    handle): it runs on the workers. ``args`` are what ``plan_blocks(blocks)``
    gives that block, for readers that work out per-block state in one pass over
    the file (the units table's spike ranges); none without ``plan_blocks``.

    Attributes
    ----------
    name
        Prefix of the block tasks' names, stable for one file and dataset.
    unit
        The ``unit`` coordinate (:func:`unit_coord`); the 0-based rows when None.
    native_bin_s
        Width of the file's own samples when the reader rebins them.
    attrs
        What else the reader learned (repairs, trial layout), for the zarr attrs.
    read_whole
        The format has no partial reads (MAT v5): every ``read`` loads the whole
        file, so the session is read as one block whatever its size.
    """

    path: str
    name: str
    n_units: int
    n_bins: int
    t0_s: float
    bin_size_s: float
    read: Callable[..., np.ndarray]
    unit: xr.Variable | None = None
    native_bin_s: float | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    read_whole: bool = False
    plan_blocks: Callable[[Sequence[tuple[int, int]]], Sequence[tuple[Any, ...]]] | None = None

    def __post_init__(self) -> None:
        if self.n_units < 0 or self.n_bins < 0:
            raise ValueError(f"{self.path}: negative session shape ({self.n_units}, {self.n_bins})")
        if self.unit is None:
            rows = unit_coord(np.arange(self.n_units), "row of the unit in the source array (0-based)")
            object.__setattr__(self, "unit", rows)
        elif self.unit.shape != (self.n_units,):
            raise ValueError(f"{self.path}: {self.unit.shape[0]} unit ids for {self.n_units} units")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_units, n_bins)``."""
        return self.n_units, self.n_bins


class Reader:
    """One file format. Subclasses set ``name`` and implement :meth:`open_session`
    with explicit keyword parameters (no ``**kwargs``), so a recipe's ``params``
    can be checked against the signature.

    There is no ``guess_can_open``: recipes name their reader, a DANDI asset is
    read from a URL with no suffix, and a file of another format is refused by
    the reader with a ReaderError naming it.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[int] = 1
    """Raised when a change alters the counts the reader returns for some file: sessions
    stored by an older version are rebuilt (and re-exported) by the next build."""

    def open_session(self, path: str | os.PathLike[str], **params: Any) -> SessionSource:
        """Describe the session ``path`` holds, reading only its metadata."""
        raise NotImplementedError

    @classmethod
    def parameters(cls) -> list[str]:
        """Keyword parameters :meth:`open_session` accepts."""
        sig = inspect.signature(cls.open_session)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]


def unit_coord(ids: Sequence[Any] | np.ndarray, long_name: str) -> xr.Variable:
    """The ``unit`` coordinate: each unit's id as its source names it, and what that id is."""
    values = np.asarray(ids)
    if values.dtype.kind in "US":
        values = values.astype(object)  # zarr v3's variable-length string, not a fixed-width one
    return xr.Variable(("unit",), values, {"long_name": long_name})


def reader_call(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> functools.partial[Any]:
    """A picklable block function with its fixed arguments bound."""
    return functools.partial(func, *args, **kwargs)
