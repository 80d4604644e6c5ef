"""What every reader shares: the plugin interface and the lazy session array."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np
import xarray as xr

from neuralbench.binning import COUNT_DTYPE
from neuralbench.segments import MAX_TOKENS

__all__ = ["DIMS", "Reader", "merge_blocks", "session_array", "unit_coord"]

DIMS = ("unit", "time")

BLOCK_TOKENS = MAX_TOKENS
"""Largest block a reader hands to one task, in tokens (about one segment)."""


class Reader:
    """One file format. Subclasses set ``name`` and ``suffixes`` and implement
    :meth:`open_session` with explicit keyword parameters (no ``**kwargs``), so a
    recipe's ``params`` can be checked against the signature.
    """

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""
    version: ClassVar[int] = 1
    """Raised when a change alters the counts the reader returns for some file: sessions
    stored by an older version are rebuilt (and re-exported) by the next build."""

    def guess_can_open(self, path: str | os.PathLike[str]) -> bool:
        return os.fspath(path).lower().endswith(self.suffixes)

    def open_session(self, path: str | os.PathLike[str], **params: Any) -> xr.DataArray:
        """Return the session's counts as a lazy ``(unit, time)`` array of uint16.

        Implementations read only metadata here; the counts are computed by the
        dask tasks of the returned array, each from the file path (never an open
        handle), one time block at a time.
        """
        raise NotImplementedError

    @classmethod
    def parameters(cls) -> list[str]:
        """Keyword parameters :meth:`open_session` accepts."""
        sig = inspect.signature(cls.open_session)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]


def merge_blocks(bounds: Sequence[tuple[int, int]], n_units: int, limit: int) -> list[tuple[int, int]]:
    """Join consecutive segments into blocks of at most ``limit`` tokens (at least one each).

    Segment boundaries stay block boundaries, so each zarr chunk (= segment) is
    written by exactly one task.
    """
    blocks: list[tuple[int, int]] = []
    for start, stop in bounds:
        if blocks and n_units * (stop - blocks[-1][0]) <= limit:
            blocks[-1] = (blocks[-1][0], stop)
        else:
            blocks.append((start, stop))
    return blocks


def session_array(
    block: Callable[..., np.ndarray],
    n_units: int,
    blocks: Sequence[tuple[int, int]],
    *,
    name: str,
    block_args: Sequence[tuple[Any, ...]] | None = None,
    attrs: dict[str, Any] | None = None,
    unit: xr.Variable | None = None,
) -> xr.DataArray:
    """Build a lazy ``(unit, time)`` DataArray whose block ``i`` is ``block(start, stop, *args_i)``.

    ``block`` must be picklable (a module-level function or a ``functools.partial``
    of one): it runs on the workers. ``unit`` is the ``unit`` coordinate (the
    units' ids in the source, :func:`unit_coord`); default their 0-based rows.
    """
    parts = []
    for i, (start, stop) in enumerate(blocks):
        args = block_args[i] if block_args is not None else ()
        task = dask.delayed(block, pure=True, name=f"{name}-{start}-{stop}")(start, stop, *args)
        parts.append(da.from_delayed(task, shape=(n_units, stop - start), dtype=COUNT_DTYPE))
    if parts:
        data = da.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    else:
        data = da.zeros((n_units, 0), dtype=COUNT_DTYPE)
    if unit is None:
        unit = unit_coord(np.arange(n_units), "row of the unit in the source array (0-based)")
    if unit.shape != (n_units,):
        raise ValueError(f"{name}: {unit.shape[0]} unit ids for {n_units} units")
    return xr.DataArray(data, dims=DIMS, coords={"unit": unit}, attrs=dict(attrs or {}))


def unit_coord(ids: Sequence[Any] | np.ndarray, long_name: str) -> xr.Variable:
    """The ``unit`` coordinate: each unit's id as its source names it, and what that id is."""
    values = np.asarray(ids)
    if values.dtype.kind in "US":
        values = values.astype(object)  # zarr v3's variable-length string, not a fixed-width one
    return xr.Variable(("unit",), values, {"long_name": long_name})


def reader_call(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> functools.partial[Any]:
    """A picklable block function with its fixed arguments bound."""
    return functools.partial(func, *args, **kwargs)
