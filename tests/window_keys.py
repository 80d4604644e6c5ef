"""What makes a window itself, for the window tests: the ids of where it was cut, and a build's copy."""

from __future__ import annotations

import shutil
from pathlib import Path

UNITS, BINS = 16, 50


def key(w: dict) -> tuple:
    """Where a window was cut, and which rows."""
    return (w["source_dataset"], w["subject_id"], w["session_id"], w["time_bin"], tuple(w["unit_index"]))


def keys(ws) -> list[tuple]:
    return [key(w) for w in ws]


def copy_build(out: Path, dst: Path) -> Path:
    """A copy of a build's outputs that a test may damage."""
    for part in ("zarr", "corpus", "components"):
        shutil.copytree(out / part, dst / part)
    return dst
