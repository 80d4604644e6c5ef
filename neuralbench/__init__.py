"""neuralbench: a Dask-distributed build of a primate spiking-neural corpus."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "build_all", "open_corpus", "windows"]


def __getattr__(name: str):
    # lazy: importing the package must not import dask.distributed or datasets
    if name == "build_all":
        from neuralbench.pipeline import build_all

        return build_all
    if name == "open_corpus":
        from neuralbench.store import open_corpus

        return open_corpus
    if name == "windows":
        from neuralbench.windowing import windows

        return windows
    raise AttributeError(f"module 'neuralbench' has no attribute {name!r}")
