"""neuralbench.errors: messages start with the file, kinds a caller can catch, intact across processes."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from neuralbench.errors import ChecksumError, NeuralbenchError, ReaderError, RecipeError, SourceError


def _raise(kind: type[NeuralbenchError], path: str, message: str) -> None:
    raise kind(path, message)


def test_the_message_starts_with_the_file():
    err = ReaderError(Path("raw/h2/S1.mat"), "variable 'spikes' is missing")
    assert str(err) == "raw/h2/S1.mat: variable 'spikes' is missing"
    assert err.path == "raw/h2/S1.mat" and err.reason == "variable 'spikes' is missing"
    bare = RecipeError(None, "no recipe named 'x'")
    assert str(bare) == "no recipe named 'x'" and bare.path is None


@pytest.mark.parametrize(
    ("kind", "builtin"),
    [(SourceError, OSError), (ChecksumError, OSError), (ReaderError, ValueError), (RecipeError, ValueError)],
)
def test_each_kind_is_a_neuralbench_error_and_its_builtin(kind, builtin):
    err = kind("f.nwb", "bad")
    assert isinstance(err, NeuralbenchError) and isinstance(err, builtin)
    assert isinstance(ChecksumError("f", "x"), SourceError)


@pytest.mark.parametrize("kind", [NeuralbenchError, SourceError, ChecksumError, ReaderError, RecipeError])
def test_path_and_reason_survive_pickling(kind):
    back = pickle.loads(pickle.dumps(kind("sub-1/ses-2.nwb", "units table has no spike_times")))
    assert type(back) is kind
    assert (back.path, back.reason, str(back)) == (
        "sub-1/ses-2.nwb",
        "units table has no spike_times",
        "sub-1/ses-2.nwb: units table has no spike_times",
    )


def test_an_error_raised_in_a_worker_process_arrives_whole():
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_raise, ChecksumError, "dryad/x.mat", "sha256 differs")
        with pytest.raises(ChecksumError) as info:
            future.result(timeout=120)
    assert info.value.path == "dryad/x.mat" and info.value.reason == "sha256 differs"
    assert str(info.value) == "dryad/x.mat: sha256 differs"
