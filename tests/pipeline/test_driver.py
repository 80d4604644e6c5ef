"""The build's driver on a real LocalCluster: chains, groups, bounds, retries, errors."""

from __future__ import annotations

import errno
import logging
import os
import time

import dask
import pytest

from neuralbench.pipeline.driver import Driver, Group, Task, map_bounded, transient


def _slow(i, seconds=0.05):
    time.sleep(seconds)
    return i, time.time(), os.getpid()


def _fail(text="No space left on device", code=errno.ENOSPC):
    raise OSError(code, text)


class _Flaky:
    """Fails with ESTALE the first time it runs in a folder (a marker file remembers)."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __call__(self):
        marker = os.path.join(self.folder, "tried")
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise OSError(errno.ESTALE, "Stale file handle")
        return "second try"


def test_a_chain_reads_like_serial_code(cluster_client):
    def chain():
        a, *_ = yield Task.call(_slow, 1)
        b = yield Task.compute(dask.delayed(sum)([a, 41]))
        return b

    assert Driver(cluster_client).run(chain()) == 42


def test_a_task_error_is_raised_at_its_yield_and_the_chain_goes_on(cluster_client):
    seen = []

    def chain():
        try:
            yield Task.call(_fail)
        except OSError as exc:
            seen.append(exc.errno)
        return (yield Task.call(_slow, 7))[0]

    assert Driver(cluster_client).run(chain()) == 7
    assert seen == [errno.ENOSPC]


def test_group_results_come_in_order_whatever_finishes_first(cluster_client):
    def one(i):
        return (yield Task.call(_slow, i, 0.3 - 0.1 * i))[0]

    def chain():
        return (yield Group([one(i) for i in range(3)]))

    assert Driver(cluster_client).run(chain()) == [0, 1, 2]


def test_an_empty_group_and_a_chain_that_yields_nothing(cluster_client):
    def nothing():
        return "done"
        yield  # a generator

    def chain():
        return (yield Group([])), (yield Group([nothing(), nothing()]))

    assert Driver(cluster_client).run(chain()) == ([], ["done", "done"])


def test_map_bounded_runs_one_per_thread_in_order(cluster_client):
    out = map_bounded(cluster_client, _slow, list(range(8)))
    assert [i for i, _, _ in out] == list(range(8))
    starts = sorted(t for _, t, _ in out)
    # two threads: never more than 2 running, so 8 calls of 50 ms take at least 4 rounds
    assert starts[-1] - starts[0] >= 3 * 0.05


def _slower_first(i):
    return _slow(i, 0.2 - 0.05 * i)


def test_map_bounded_with_a_limit_of_one_is_serial(cluster_client):
    out = map_bounded(cluster_client, _slower_first, list(range(4)), limit=1)
    ends = [t for _, t, _ in out]
    assert ends == sorted(ends)  # side by side, the shorter later calls would end first


class _FirstFails:
    """Call 0 fails at once; the others note that they started, then take 2 s."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __call__(self, i):
        if i == 0:
            _fail()
        open(os.path.join(self.folder, f"started-{i}"), "w").close()
        time.sleep(2.0)


def test_a_failed_member_stops_the_group_and_cancels_the_rest(cluster_client, tmp_path):
    with pytest.raises(OSError, match="No space"):
        map_bounded(cluster_client, _FirstFails(tmp_path), list(range(6)))
    time.sleep(2.5)  # whatever was still queued would have started by now
    assert len(list(tmp_path.glob("started-*"))) <= 1  # only the call beside the failed one ran


def test_a_transient_error_is_tried_again(cluster_client, tmp_path, caplog):
    def chain():
        return (yield Task.call(_Flaky(tmp_path)))

    with caplog.at_level(logging.WARNING, logger="neuralbench.pipeline.driver"):
        assert Driver(cluster_client).run(chain()) == "second try"
    assert "trying again" in caplog.text


def test_a_lasting_error_is_not_retried(cluster_client, tmp_path):
    def chain():
        return (yield Task.call(_Flaky(tmp_path), retries=0))

    with pytest.raises(OSError, match="Stale"):
        Driver(cluster_client).run(chain())


def test_transient_errors():
    assert transient(OSError(errno.ESTALE, "stale"))
    assert transient(ConnectionResetError())
    assert not transient(OSError(errno.ENOSPC, "full"))
    assert not transient(ValueError("bad file"))


def test_a_long_wait_says_what_it_waits_for(cluster_client, caplog):
    def chain():
        return (yield Task.call(_slow, 1, 0.5))[0]

    with caplog.at_level(logging.INFO, logger="neuralbench.pipeline.driver"):
        assert Driver(cluster_client, report_every_s=0.1).run(chain()) == 1
    assert "waiting for 1 task (_slow 1)" in caplog.text


def test_a_chain_that_yields_something_else_is_a_type_error(cluster_client):
    def chain():
        yield 42

    with pytest.raises(TypeError, match="expected a Task or a Group"):
        Driver(cluster_client).run(chain())
