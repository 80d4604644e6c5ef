"""Trials laid end to end: a block of bins reads the trials it overlaps, a few at a time."""

from __future__ import annotations

import numpy as np
import pytest

from neuralbench.readers._trials import trial_columns, trials_source

PER_TRIAL, N_TRIALS, N_UNITS = 5, 7, 3
ALL = np.arange(N_UNITS * N_TRIALS * PER_TRIAL).reshape(N_UNITS, N_TRIALS * PER_TRIAL)


def _convert(calls):
    def convert(t0, t1):  # the counts of trials [t0, t1): their columns of ALL
        calls.append((t0, t1))
        return ALL[:, t0 * PER_TRIAL : t1 * PER_TRIAL]

    return convert


@pytest.mark.parametrize("step", [1, 2, 100])
@pytest.mark.parametrize("start, stop", [(0, 35), (3, 4), (4, 11), (10, 15), (34, 35)])
def test_any_block_of_bins_from_whole_trials(start, stop, step):
    calls = []
    got = trial_columns(_convert(calls), start, stop, per_trial=PER_TRIAL, trials_per_step=step)
    assert np.array_equal(got, ALL[:, start:stop])
    first, last = start // PER_TRIAL, -(-stop // PER_TRIAL)
    assert calls[0][0] == first and calls[-1][1] == last  # only the trials the block overlaps
    assert all(t1 - t0 <= max(step, 1) for t0, t1 in calls)


def test_no_budget_still_reads_one_trial_a_step():
    calls = []
    trial_columns(_convert(calls), 0, 10, per_trial=PER_TRIAL, trials_per_step=0)
    assert calls == [(0, 1), (1, 2)]


def test_the_source_is_the_trials_end_to_end_from_zero():
    source = trials_source(
        lambda a, b: ALL[:, a:b],
        "x.npy",
        N_UNITS,
        N_TRIALS,
        PER_TRIAL,
        bin_size_s=0.02,
        native_bin_s=0.001,
        name="npy-x.npy",
        extra_attrs={"k": 1},
    )
    assert source.shape == (N_UNITS, N_TRIALS * PER_TRIAL) and source.t0_s == 0.0
    assert dict(source.attrs) == {"n_trials": N_TRIALS, "bins_per_trial": PER_TRIAL, "k": 1}
    assert not source.read_whole and source.native_bin_s == 0.001
