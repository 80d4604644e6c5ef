"""A PyTorch ``IterableDataset`` of :func:`neuralbench.windows` (needs the ``torch`` extra).

Each DataLoader worker of each distributed rank iterates its own shard of the
epoch's segments, so the workers of all ranks together yield each window once;
samples stay numpy uint8 until the default collate stacks them into uint8 tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

try:
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("neuralbench.loader needs torch: pip install -e '.[torch]'") from exc

from neuralbench.windowing import Windows, _distributed

__all__ = ["WindowDataset"]


class WindowDataset(IterableDataset):
    """The windows of a :class:`~neuralbench.windowing.Windows`, sharded over workers and ranks.

    Parameters
    ----------
    windows
        What :func:`neuralbench.windows` returned, built with ``world_size=1``
        (the default outside torch.distributed): the ranks are split here.
    rank, world_size
        Default: ``torch.distributed``'s when initialised, else one process.

    Examples
    --------
    >>> from torch.utils.data import DataLoader  # doctest: +SKIP
    >>> ds = WindowDataset(windows("demo-out", units=64, bins=100, seed=0))  # doctest: +SKIP
    >>> for batch in DataLoader(ds, batch_size=32, num_workers=2):  # doctest: +SKIP
    ...     batch["spike_counts"].dtype  # torch.uint8, (32, 64, 100)
    """

    def __init__(self, windows: Windows, *, rank: int | None = None, world_size: int | None = None) -> None:
        super().__init__()
        if windows.count != 1:
            raise ValueError("pass the whole Windows (world_size=1): WindowDataset splits the ranks itself")
        self.windows = windows
        self.rank, self.world_size = _distributed(rank, world_size)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration plans (call it before each epoch, as with DistributedSampler)."""
        self.windows.set_epoch(epoch)

    def _mine(self) -> Windows:
        """This rank's part; within a worker process, that worker's part of it."""
        part = self.windows.shard(self.rank, self.world_size)
        info = get_worker_info()
        return part if info is None else part.shard(info.id, info.num_workers)

    def __len__(self) -> int:
        """Windows this rank yields in an epoch (all its workers together)."""
        return len(self.windows.shard(self.rank, self.world_size))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._mine())
