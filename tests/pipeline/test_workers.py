"""The worker set-up a build installs: glibc malloc thresholds in every worker process."""

from __future__ import annotations

import sys

import pytest

from neuralbench.pipeline.workers import MALLOC_THRESHOLD, MallocThresholds, set_malloc_thresholds

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")


@glibc
def test_mallopt_takes_the_thresholds():
    assert set_malloc_thresholds(MALLOC_THRESHOLD) is True


@glibc
def test_a_build_tunes_every_worker(built, cluster_client):
    # build_all registered the plugin: each worker ran it (and a restarted one would too)
    tuned = cluster_client.run(lambda dask_worker: getattr(dask_worker, "neuralbench_malloc_tuned", None))
    assert tuned and all(v is True for v in tuned.values())
    plugins = cluster_client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert MallocThresholds.name in plugins
