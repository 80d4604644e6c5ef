"""The reader interface: what a file holds (SessionSource) and the parameters a recipe may set."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from neuralbench.readers import READERS
from neuralbench.readers.base import Reader, SessionSource, unit_coord


def _zeros(start: int, stop: int, n_units: int = 2) -> np.ndarray:
    return np.zeros((n_units, stop - start), dtype=np.uint16)


def test_a_source_defaults_to_row_ids_and_checks_its_unit_ids():
    source = SessionSource("f.npy", "npy-f.npy", 2, 10, 0.0, 0.02, _zeros)
    assert source.shape == (2, 10)
    assert source.unit.values.tolist() == [0, 1] and "0-based" in source.unit.attrs["long_name"]
    with pytest.raises(ValueError, match=r"f.npy: 3 unit ids for 2 units"):
        SessionSource("f.npy", "x", 2, 10, 0.0, 0.02, _zeros, unit=unit_coord([1, 2, 3], "id"))
    with pytest.raises(ValueError, match="negative session shape"):
        SessionSource("f.npy", "x", 2, -1, 0.0, 0.02, _zeros)


def test_a_source_pickles_with_its_read_function():
    read = functools.partial(_zeros, n_units=3)
    source = SessionSource("f", "x", 3, 4, 1.5, 0.02, read, unit=unit_coord(["a", "b", "c"], "name"))
    again = pickle.loads(pickle.dumps(source))
    assert again.read(1, 3).shape == (3, 2) and again.t0_s == 1.5
    assert again.unit.values.dtype == object  # strings as zarr v3's variable-length type


def test_readers_take_no_segment_parameter_and_no_kwargs():
    # the segment rule is the session's: no reader sees max_tokens
    for cls in READERS.values():
        params = cls.parameters()
        assert "max_tokens" not in params
        assert issubclass(cls, Reader) and cls.name and cls.description
    assert READERS["mat-dense"].parameters() == ["variable", "time_axis", "native_bin_s", "bin_size_s"]
