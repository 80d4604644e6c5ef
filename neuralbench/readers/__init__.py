"""Readers, one per file layout, found by name like xarray's backends."""

from __future__ import annotations

from neuralbench.errors import RecipeError
from neuralbench.readers.base import DIMS, Reader, SessionSource
from neuralbench.readers.mat import MatDenseReader
from neuralbench.readers.mat_cells import MatChannelTrainsReader
from neuralbench.readers.mat_mua import MatMuaThresholdReader
from neuralbench.readers.mat_struct import MatConditionsReader
from neuralbench.readers.mat_vars import MatSpikeVarsReader
from neuralbench.readers.npy import NpyRatesReader
from neuralbench.readers.nwb import NwbTimeSeriesReader, NwbUnitsReader

__all__ = ["DIMS", "READERS", "Reader", "SessionSource", "get_reader", "register"]

READERS: dict[str, type[Reader]] = {}
"""Every known reader by name; the only module-level mutable object of the package."""


def register(cls: type[Reader]) -> type[Reader]:
    """Add a reader class to :data:`READERS` (usable as a class decorator)."""
    READERS[cls.name] = cls
    return cls


for _cls in (
    NwbUnitsReader,
    NwbTimeSeriesReader,
    MatDenseReader,
    MatMuaThresholdReader,
    MatChannelTrainsReader,
    MatSpikeVarsReader,
    MatConditionsReader,
    NpyRatesReader,
):
    register(_cls)


def get_reader(name: str) -> Reader:
    """An instance of the reader called ``name``; the error lists the known names."""
    try:
        return READERS[name]()
    except KeyError:
        raise RecipeError(None, f"unknown reader {name!r}; known: {', '.join(sorted(READERS))}") from None
