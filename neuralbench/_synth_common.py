"""What every synthetic layout writer shares: the sizes of a tree, and where a file is written first.

Kept apart from :mod:`neuralbench.synth` (the NWB layouts and the public entry
point) and :mod:`neuralbench._synth_archives` (the MAT / NPY layouts) so that both
import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Scale", "hidden_partial"]


@dataclass(frozen=True)
class Scale:
    """Sizes of a synthetic tree: ``demo`` is seconds to build; benchmarks scale it up."""

    seconds: float = 120.0  # length of an ordinary session
    long_seconds: float = 5_200.0  # one session per units layout long enough to split
    units: int = 24
    rate_hz: float = 8.0
    sessions: int = 2

    @classmethod
    def tiny(cls) -> Scale:
        return cls(seconds=20.0, long_seconds=60.0, units=6, sessions=2)


def hidden_partial(path: Path) -> Path:
    """The name ``path`` is written under until complete: ``.<name>.partial<suffix>``.

    Hidden, so a half-written file is never listed as a session; the suffix is
    kept, so the library that writes it (h5py, pynwb, scipy) sees the type it
    expects. The folder is created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.partial{path.suffix}")
