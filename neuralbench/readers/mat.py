"""MAT readers: a dense count variable in a MAT v5 (scipy) or v7.3 (HDF5) file."""

from __future__ import annotations

import os

from neuralbench.readers._dense import DenseReader
from neuralbench.readers._h5 import get_node, open_h5
from neuralbench.readers._mat5 import is_mat73, load_mat5_variable
from neuralbench.readers.base import SessionSource

__all__ = ["MatDenseReader"]


class MatDenseReader(DenseReader):
    """A 2-D count variable of a MAT file, (time, unit) as MATLAB shows it for ``time_axis=0``."""

    name = "mat-dense"
    description = "MAT v5/v7.3 variable holding counts per bin"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str,
        time_axis: int = 0,
        native_bin_s: float = 0.02,
        bin_size_s: float = 0.02,
    ) -> SessionSource:
        """Describe the variable's counts; ``time_axis`` refers to MATLAB's orientation."""
        path = os.fspath(path)
        common = dict(native_bin_s=native_bin_s, bin_size_s=bin_size_s, t0_s=0.0)
        if os.path.exists(path) and os.path.getsize(path) and is_mat73(path):
            with open_h5(path) as f:
                data = get_node(f, variable, f"variable {variable!r}")
                shape, dtype = data.shape, data.dtype
            # h5py sees MATLAB arrays transposed
            return self.dense_source(path, variable, shape, dtype, time_axis=1 - time_axis, **common)
        value = load_mat5_variable(path, variable)
        return self.dense_source(
            path, variable, value.shape, value.dtype, time_axis=time_axis, loader="mat5", **common
        )
