"""Sessions made of trials laid end to end: blocks that read whole trials and cut bins.

Shared by the readers whose source is a ``trials x ...`` array (NPY rates, MUA):
a block of output bins ``[start, stop)`` reads the trials it overlaps, a few
trials at a time, converts them and keeps its own columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from neuralbench.readers.base import SessionSource

__all__ = ["READ_BYTES", "trial_columns", "trials_source"]

READ_BYTES = 64 << 20
"""Raw trial data read per step inside a block."""


def trial_columns(
    convert: Callable[[int, int], np.ndarray],
    start: int,
    stop: int,
    *,
    per_trial: int,
    trials_per_step: int,
) -> np.ndarray:
    """Columns ``[start, stop)`` from ``convert(t0, t1)``, the counts of trials ``[t0, t1)``."""
    first, last = start // per_trial, math.ceil(stop / per_trial)
    step = max(1, trials_per_step)
    parts = [convert(t, min(t + step, last)) for t in range(first, last, step)]
    offset = first * per_trial
    return np.concatenate(parts, axis=1)[:, start - offset : stop - offset]


def trials_source(
    read: Callable[..., np.ndarray],
    path: str,
    n_units: int,
    n_trials: int,
    per_trial: int,
    *,
    bin_size_s: float,
    native_bin_s: float,
    name: str,
    extra_attrs: dict[str, Any] | None = None,
    unit: xr.Variable | None = None,
) -> SessionSource:
    """A session of ``n_trials * per_trial`` bins from t = 0, ``read`` cutting any block of them."""
    return SessionSource(
        path=path,
        name=name,
        n_units=n_units,
        n_bins=n_trials * per_trial,
        t0_s=0.0,
        bin_size_s=bin_size_s,
        read=read,
        unit=unit,
        native_bin_s=native_bin_s,
        attrs={"n_trials": n_trials, "bins_per_trial": per_trial, **(extra_attrs or {})},
    )
