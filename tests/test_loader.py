"""neuralbench.loader: the torch IterableDataset gives each window of an epoch once over workers and ranks."""

from __future__ import annotations

import pytest

from neuralbench import windows
from tests.window_keys import BINS, UNITS, keys


def test_two_workers_give_each_window_of_an_epoch_once(built):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from neuralbench.loader import WindowDataset

    _, out, _ = built
    ws = windows(out, units=UNITS, bins=BINS, seed=7, split="train")
    whole = sorted(keys(ws))
    ds = WindowDataset(ws)
    got = []
    for batch in DataLoader(ds, batch_size=16, num_workers=2):
        assert str(batch["spike_counts"].dtype) == "torch.uint8"
        assert batch["spike_counts"].shape[1:] == (UNITS, BINS)
        got += list(
            zip(
                batch["source_dataset"],
                batch["subject_id"],
                batch["session_id"],
                batch["time_bin"].tolist(),
                map(tuple, batch["unit_index"].tolist()),
                strict=True,
            )
        )
    assert sorted(got) == whole and len(ds) == len(whole)


def test_ranks_and_workers_together_give_each_window_once(built):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from neuralbench.loader import WindowDataset

    _, out, _ = built
    whole = sorted(keys(windows(out, units=UNITS, bins=BINS, seed=8, split="train")))
    got = []
    for rank in range(2):
        ds = WindowDataset(
            windows(out, units=UNITS, bins=BINS, seed=8, split="train"), rank=rank, world_size=2
        )
        n = 0
        for w in DataLoader(ds, batch_size=None, num_workers=2):
            got.append(
                (
                    w["source_dataset"],
                    w["subject_id"],
                    w["session_id"],
                    w["time_bin"],
                    tuple(w["unit_index"].tolist()),
                )
            )
            n += 1
        assert n == len(ds) > 0
    assert sorted(got) == whole
    with pytest.raises(ValueError, match="world_size=1"):
        WindowDataset(windows(out, units=UNITS, bins=BINS, split="train", rank=0, world_size=2))
