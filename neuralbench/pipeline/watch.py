"""Bounded waits for dask workers: a build never waits in silence for workers that will not come.

A batch job can pend for hours, forever (a profile larger than any node pends as
``PartitionConfig``), or be cancelled; with no worker, every task of a build just waits.
:func:`wait_for_workers` blocks until a worker is there, and :func:`watch_workers`, around
a build, resubmits batch jobs whose worker was lost and stops the build when it has had no
worker for longer than the bound. Both say, every minute and when they give up, why there
is no worker when the scheduler can tell (SLURM: each job's state and ``squeue`` reason).
This module belongs with :mod:`neuralbench.cluster`: the two are the only users of the
client API outside the pipeline.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from neuralbench.cluster import job_ids, worker_timeout
from neuralbench.errors import NeuralbenchError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["NEVER_STARTS", "NoWorkersError", "explain", "wait_for_workers", "watch_workers"]

logger = logging.getLogger(__name__)

NEVER_STARTS = frozenset(
    {
        "PartitionConfig",  # asks for more than any node of the partition has
        "BadConstraints",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "InvalidAccount",
        "InvalidQOS",
        "DependencyNeverSatisfied",
    }
)
"""SLURM pending reasons under which a job will not start however long one waits."""

_ENDED = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                    "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT"})  # fmt: skip
_REPORT_EVERY_S = 60.0
_ASK_QUEUE_EVERY_S = 5.0

Explain = Callable[["Client"], tuple[str, bool]]


class NoWorkersError(NeuralbenchError, TimeoutError):
    """No dask worker within the bound: none arrived, or all of them were lost."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


def _slurm_queue(ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, reason)}`` from ``squeue``; empty when it cannot tell."""
    command = ["squeue", "--noheader", "--states=all", "--format=%i|%T|%r", "--jobs", ",".join(ids)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    rows = (line.split("|") for line in out.stdout.splitlines() if line.count("|") == 2)
    return {job: (state, reason) for job, state, reason in rows}


def explain(client: Client) -> tuple[str, bool]:
    """Why ``client`` has no worker, in one sentence, and whether waiting longer can help.

    On SLURM each job's state and pending reason (``squeue``); a job that can never start
    (:data:`NEVER_STARTS`) or that ended before its worker connected makes waiting hopeless.
    """
    cluster = getattr(client, "cluster", None)
    if cluster is None:
        return f"no worker has connected to the scheduler at {client.scheduler.address}", False
    if not hasattr(cluster, "job_cls"):
        return "the local cluster has no worker process (see the errors above)", False
    ids = job_ids(client)
    if not ids:
        return "no worker job was submitted (see the submit command's errors above)", False
    if "slurm" not in type(cluster).__name__.lower():
        return f"worker jobs {', '.join(ids)} have not started (`qstat -f <id>` says why)", False
    queue = _slurm_queue(ids)
    if not queue:
        return f"worker jobs {', '.join(ids)}: squeue does not list them", False
    parts, hopeless = [], True
    for job in ids:
        state, reason = queue.get(job, ("GONE", "not in squeue"))
        parts.append(f"{job} {state} ({reason})")
        never = (state == "PENDING" and reason in NEVER_STARTS) or state in _ENDED or state == "GONE"
        hopeless = hopeless and never
    sentence = f"worker jobs {', '.join(parts)}"
    if any("PartitionConfig" in p for p in parts):
        sentence += ": a job asks for more cores or memory than a node of the partition has"
    return sentence, hopeless


class _Clock:
    """Time without a worker: says so every minute, gives the reason to stop when it is over."""

    def __init__(self, client: Client, timeout: float | None, explain_with: Explain | None) -> None:
        self.client = client
        self.timeout = worker_timeout(client) if timeout is None else float(timeout)
        self.explain = explain if explain_with is None else explain_with
        self.since = time.monotonic()  # the last moment a worker was there (or the start)
        self.reported = self.asked = self.since
        self.peak = 0
        self.sentence = ""

    def check(self, n_workers: int) -> str | None:
        """Record ``n_workers``; the message to stop with, or None to go on waiting."""
        now = time.monotonic()
        if n_workers:
            self.since, self.peak = now, max(self.peak, n_workers)
            return None
        waited = now - self.since
        if now - self.asked >= _ASK_QUEUE_EVERY_S or not self.sentence:
            self.asked = now
            self.sentence, hopeless = self.explain(self.client)
            # a job that ended after its worker connected is being replaced: not hopeless
            if hopeless and self.peak == 0:
                return f"no dask worker can arrive: {self.sentence}"
        what = "since the last worker left" if self.peak else "for the first worker"
        if waited >= self.timeout:
            return f"no dask worker {what} within {self.timeout:.0f} s: {self.sentence}"
        if now - self.reported >= _REPORT_EVERY_S:
            self.reported = now
            logger.warning("waiting %.0f s %s (gives up at %.0f s): %s", waited, what, self.timeout,
                           self.sentence)  # fmt: skip
        return None


def _n_workers(client: Client) -> int:
    return len(client.nthreads())


def wait_for_workers(
    client: Client, *, timeout: float | None = None, explain: Explain | None = None, poll_s: float = 1.0
) -> None:
    """Block until ``client`` has a worker, at most ``timeout`` seconds.

    Parameters
    ----------
    client
        Any client; batch clusters get the queue's reasons in the messages.
    timeout
        Seconds; default the cluster's ``worker-timeout`` (:func:`neuralbench.cluster.worker_timeout`).
    explain
        ``explain(client) -> (sentence, hopeless)``; default :func:`explain`.

    Raises
    ------
    NoWorkersError
        No worker in time, or the scheduler says none can start; the message says why.
    """
    clock = _Clock(client, timeout, explain)
    while (n := _n_workers(client)) == 0:
        if (reason := clock.check(n)) is not None:
            raise NoWorkersError(reason)
        time.sleep(poll_s)


class _Watch(threading.Thread):
    """Polls the worker count; replaces lost batch jobs; interrupts the main thread at the bound."""

    def __init__(self, client: Client, clock: _Clock, poll_s: float) -> None:
        super().__init__(name="neuralbench-worker-watch", daemon=True)
        self.client, self.clock, self.poll_s = client, clock, poll_s
        self.halt = threading.Event()
        self.reason: str | None = None
        self.main = threading.main_thread().ident
        self.seen = 0

    def run(self) -> None:
        while not self.halt.wait(self.poll_s):
            try:
                n = self.count()
            except Exception:  # the client is closing: nothing left to watch
                return
            self._replace_lost_jobs()
            if (reason := self.clock.check(n)) is not None:
                self.reason = reason
                if self.main is None:  # not entered in the main thread: nothing to interrupt
                    logger.error("%s", reason)
                else:
                    signal.pthread_kill(self.main, signal.SIGINT)  # wakes the main thread at once
                return

    def count(self) -> int:
        """The workers there now; a drop since the last count is logged."""
        n = _n_workers(self.client)
        if n < self.seen:
            logger.warning("lost %d of %d dask workers", self.seen - n, self.seen)
        self.seen = n
        return n

    def _replace_lost_jobs(self) -> None:
        """Resubmit a job whose worker left (dask-jobqueue drops it 15 s after it went)."""
        cluster = getattr(self.client, "cluster", None)
        if not hasattr(cluster, "job_cls") or cluster.status.name not in ("running", "created"):
            return
        missing = set(list(cluster.worker_spec)) - set(list(cluster.workers))
        if missing:
            logger.warning("worker job(s) of %s ended; submitting %d replacement(s)",
                           ", ".join(sorted(missing)), len(missing))  # fmt: skip
            cluster.scale(jobs=len(cluster.worker_spec))  # starts what the spec has and workers lack


@contextlib.contextmanager
def watch_workers(
    client: Client, *, timeout: float | None = None, explain: Explain | None = None, poll_s: float = 1.0
) -> Iterator[None]:
    """Around a build: replace lost batch jobs, stop when no worker is left for ``timeout`` s.

    The stop is a SIGINT sent to the main thread, turned into :class:`NoWorkersError` here;
    so enter it in the main thread (elsewhere it only replaces jobs and logs). Arguments as
    for :func:`wait_for_workers`.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if in_main and not callable(previous):  # SIG_IGN/SIG_DFL: give the stop a handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
    watch = _Watch(client, _Clock(client, timeout, explain), poll_s)
    watch.seen = _n_workers(client)
    watch.clock.check(watch.seen)  # workers already there count as arrived
    if not in_main:
        watch.main = None
    watch.start()
    try:
        yield
    except KeyboardInterrupt:
        if watch.reason is None:
            raise
        raise NoWorkersError(watch.reason) from None
    finally:
        watch.halt.set()
        watch.join(timeout=60)
        with contextlib.suppress(Exception):  # a worker lost since the last poll is reported too
            watch.count()
        if in_main and not callable(previous):
            signal.signal(signal.SIGINT, previous)
