"""What a build sets up in every worker process: glibc's malloc thresholds.

distributed's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand
freed memory back to the OS). Setting it fixes glibc's mmap threshold at 128 KiB
as a side effect, so every temporary array of a block task (bin indices, bincount
buffers, a few MiB each, allocated and freed hundreds of times per block) is a
fresh ``mmap`` whose pages fault and are zeroed again: a units block then takes
7x longer (bench/README.md). :class:`MallocThresholds` raises both thresholds to
8 MiB in each worker, through ``mallopt`` so it works however the worker was
started (LocalCluster, ``dask worker``, dask-jobqueue): temporaries below 8 MiB
reuse heap pages, and at most 8 MiB of free heap is kept before trimming.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from distributed import WorkerPlugin

__all__ = ["MALLOC_THRESHOLD", "MallocThresholds", "set_malloc_thresholds"]

logger = logging.getLogger(__name__)

MALLOC_THRESHOLD = 8 << 20
"""Bytes: the mmap and trim thresholds the workers get."""

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


def set_malloc_thresholds(nbytes: int = MALLOC_THRESHOLD) -> bool:
    """Set glibc's mmap and trim thresholds of this process; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False  # not glibc (macOS, musl): nothing to tune
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, nbytes) == 1 and mallopt(_M_TRIM_THRESHOLD, nbytes) == 1
    if not ok:
        logger.warning("mallopt refused the malloc thresholds of %d bytes", nbytes)
    return ok


class MallocThresholds(WorkerPlugin):
    """Worker plugin: :func:`set_malloc_thresholds` in each worker, now and when one (re)starts."""

    name = "neuralbench-malloc-thresholds"

    def __init__(self, nbytes: int = MALLOC_THRESHOLD):
        self.nbytes = nbytes

    def setup(self, worker) -> None:
        worker.neuralbench_malloc_tuned = set_malloc_thresholds(self.nbytes)
