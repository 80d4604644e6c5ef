"""Shared fixtures: synthetic raw trees from neuralbench.synth, real data from ../shared."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "real-data"


def real_data(*parts: str) -> Path:
    """A path under ../shared/real-data, or skip the test when it is absent."""
    path = REAL_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(autouse=True)
def _quiet_pynwb():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="pynwb")
        warnings.filterwarnings("ignore", category=UserWarning, module="hdmf")
        yield


@pytest.fixture(scope="session")
def raw_tree(tmp_path_factory) -> Path:
    """The default synthetic tree of every layout (one churchland session splits in two)."""
    from neuralbench.synth import write_raw_tree

    raw = tmp_path_factory.mktemp("raw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, seed=7)
    return raw


@pytest.fixture(scope="session")
def cluster_client():
    """A real LocalCluster with 2 single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="session")
def built(raw_tree, tmp_path_factory, cluster_client):
    """``build_all`` of the synthetic tree on the 2-worker cluster: (raw, out, report)."""
    from neuralbench import build_all

    out = tmp_path_factory.mktemp("out")
    report = build_all(raw_tree, out, client=cluster_client)
    return raw_tree, out, report
