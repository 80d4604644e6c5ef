"""MAT v5 reader: responses per neuron, condition and bin in a struct field (rajalingham).

``neural_responses_reliable`` is a 1x1 struct whose first field holds
``(neurons, conditions, bins)`` rates at 50 ms. Published transform, kept:
NaN -> 0, ``round(scale * x)``, conditions laid end to end, bins stay 50 ms, and
no segmentation (the recipe sets ``max_tokens=None``). Negative values give 0
instead of wrapping (``rates-negative-to-zero``).
"""

from __future__ import annotations

import os

import numpy as np

from neuralbench.binning import COUNT_DTYPE
from neuralbench.errors import ReaderError
from neuralbench.readers._mat5 import read_mat5
from neuralbench.readers.base import Reader, SessionSource, reader_call

__all__ = ["MatConditionsReader", "load_struct_field"]


def load_struct_field(path: str, variable: str, field: int) -> np.ndarray:
    """Field number ``field`` of the 1x1 struct ``variable``: a 3-D array."""
    content = read_mat5(path, [variable])
    if variable not in content:
        raise ReaderError(path, f"has no variable {variable!r}")
    struct = content[variable]
    if struct.dtype.names is None or struct.size == 0:
        raise ReaderError(path, f"{variable!r} is not a struct")
    if field >= len(struct.dtype.names):
        raise ReaderError(path, f"{variable!r} has {len(struct.dtype.names)} fields, not {field + 1}")
    value = np.asarray(struct[0, 0][field])
    if value.ndim != 3 or value.dtype.kind not in "fiu":
        raise ReaderError(
            path,
            f"{variable}.{struct.dtype.names[field]} is {value.dtype} {value.shape}, "
            "expected numbers (neurons, conditions, bins)",
        )
    return value


def conditions_to_counts(value: np.ndarray, scale: float) -> np.ndarray:
    """``(neurons, conditions, bins)`` to ``(neurons, conditions * bins)`` counts."""
    x = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    counts = np.round(scale * x).reshape(x.shape[0], x.shape[1] * x.shape[2])
    return np.clip(counts, 0, np.iinfo(COUNT_DTYPE).max).astype(COUNT_DTYPE)


class MatConditionsReader(Reader):
    """A struct field of ``(neurons, conditions, bins)`` responses, conditions end to end."""

    name = "mat-conditions"
    description = "MAT v5 struct field (neurons, conditions, bins): round(scale * x), end to end"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str = "neural_responses_reliable",
        field: int = 0,
        scale: float = 50.0,
        bin_size_s: float = 0.05,
    ) -> SessionSource:
        """Describe the counts; MAT v5 has no partial reads, so the session is read whole."""
        path = os.fspath(path)
        n_units, n_cond, n_per = load_struct_field(path, variable, field).shape
        n_bins = n_cond * n_per
        if n_units == 0 or n_bins == 0:
            raise ReaderError(path, f"{variable} is empty ({n_units}, {n_cond}, {n_per})")
        return SessionSource(
            path=path,
            name=f"struct-{path}",
            n_units=n_units,
            n_bins=n_bins,
            t0_s=0.0,
            bin_size_s=bin_size_s,
            read=reader_call(_struct_block, path, variable=variable, field=field, scale=scale),
            attrs={"n_conditions": n_cond, "bins_per_condition": n_per},
            read_whole=True,
        )


def _struct_block(path: str, start: int, stop: int, *, variable: str, field: int, scale: float) -> np.ndarray:
    value = load_struct_field(path, variable, field)
    return conditions_to_counts(value, scale)[:, start:stop]
