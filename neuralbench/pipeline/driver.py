"""The one driver of a build: submit, wait with a bound, retry, hand each result back.

Work is written as *chains*: generators that yield what they need computed and
receive the result, as if the call were local::

    def session(recipe, ref):
        counts = yield Task.call(open_session, recipe, raw, ref)
        stats = yield Task.compute(write_session(counts, target, rows))

A chain yields a :class:`Task` (one function call on a worker, or one dask
collection), a :class:`Group` of sub-chains (run side by side, optionally at
most one per worker thread; the chain resumes with their results in order) or
a :class:`Spawn` (a chain started beside it, waited for by nobody but the run). A
failed task's exception is raised inside the chain at its ``yield``, so a chain
handles its own failures with ``try``/``except``, exactly as serial code would.
The :class:`Driver` is the only place that holds futures: stages return values
or lazy arrays and never see the client.
"""

from __future__ import annotations

import errno
import logging
import queue
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from distributed import CancelledError, Future
from distributed.comm import CommClosedError

from neuralbench.progress import Stage, StageTracker

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Chain", "Driver", "Group", "Spawn", "Task", "map_bounded"]

logger = logging.getLogger(__name__)

REPORT_EVERY_S = 60.0
"""A wait longer than this says what it waits for (and then waits again: the bound on a
build with no worker is :mod:`neuralbench.pipeline.watch`'s)."""

_DONE = frozenset({"finished", "error", "cancelled"})
_LOST_POLL_S = 0.2

_TRANSIENT_ERRNOS = frozenset({errno.ESTALE, errno.EAGAIN, errno.EINTR, errno.EBUSY})


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args, **kwargs)`` on a worker, or a dask ``collection`` computed."""

    fn: Callable[..., Any] | None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    collection: Any = None
    priority: int = 0
    retries: int = 0
    stage: Stage | None = None
    units: int = 1
    """Progress: the task finishes ``units`` of ``stage`` (the chain declared the stage's total)."""

    @classmethod
    def call(
        cls, fn: Callable[..., Any], *args: Any, priority: int = 0, retries: int = 1,
        stage: Stage | None = None, **kwargs: Any,
    ) -> Task:  # fmt: skip
        """``fn(*args, **kwargs)`` on a worker; retried once on a transient error by default."""
        return cls(fn, args, kwargs, priority=priority, retries=retries, stage=stage)

    @classmethod
    def compute(cls, collection: Any, *, stage: Stage | None = None, units: int = 1) -> Task:
        """A dask collection computed on the cluster (never retried whole: dask recomputes lost parts)."""
        return cls(None, collection=collection, stage=stage, units=units)

    @property
    def label(self) -> str:
        fn = self.fn or getattr(self.collection, "__dask_graph__", None) and type(self.collection)
        return getattr(fn, "__name__", "compute")


@dataclass(frozen=True)
class Group:
    """Sub-chains run side by side; the yielding chain resumes with their results, in order.

    ``limit``: at most this many sub-chains running at once, started in order; ``"threads"``
    means one per worker thread (else a shard can queue behind a long one on a busy worker
    while another worker idles). A sub-chain that raises stops the group: no more are started, the
    tasks of the others in flight are cancelled and the error is raised in the yielding chain.
    """

    chains: Sequence[Chain]
    limit: int | Literal["threads"] | None = None

    @classmethod
    def of_tasks(cls, tasks: Sequence[Task], limit: int | Literal["threads"] | None = None) -> Group:
        """A group of single tasks: the chain resumes with their results, in order."""
        return cls([_one(task) for task in tasks], limit)


@dataclass(frozen=True)
class Spawn:
    """A chain started beside the yielding one, which resumes at once (with ``None``).

    Nothing waits for it but the run itself, which ends when it ends too; so it records
    its own outcome (an error escaping it stops the run). A component's card is one:
    it runs beside the merge, after any task already waiting.
    """

    chain: Chain


Chain = Generator["Task | Group | Spawn", Any, Any]


@dataclass(eq=False)
class _Frame:
    """A running chain and the group it belongs to."""

    chain: Chain
    join: _Join | None
    index: int = 0
    spawned: bool = False


@dataclass(eq=False)
class _Join:
    """A group being waited for: its parent frame, the results so far, the chains not started."""

    parent: _Frame
    todo: Iterator[tuple[int, Chain]]
    results: list[Any]
    open: int = 0
    failed: bool = False


def transient(exc: BaseException) -> bool:
    """An error worth one more try: a lost connection or a network filesystem's hiccup."""
    if isinstance(exc, (ConnectionError, TimeoutError, CommClosedError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


class Driver:
    """Run a chain on ``client`` to its end and return what it returns.

    Holds the futures of the tasks in flight (and the attempt of each); completions
    arrive through done-callbacks on a queue, so each wait is one bounded ``get``.
    """

    def __init__(
        self, client: Client, track: StageTracker | None = None, report_every_s: float = REPORT_EVERY_S
    ):
        self.client, self.track, self.report_every_s = client, track, report_every_s
        self._waiting: dict[Future, tuple[_Frame, Task, int]] = {}
        self._done: queue.Queue[Future] = queue.Queue()
        self._ready: deque[tuple[_Frame, Any, BaseException | None]] = deque()
        self._lost: set[Future] = set()

    def run(self, chain: Chain) -> Any:
        """Drive ``chain`` and everything it yields; an exception escaping it is raised here."""
        result: list[Any] = []
        root = _Frame(chain, None)
        self._ready.append((root, None, None))
        try:
            while True:
                while self._ready:
                    frame, value, exc = self._ready.popleft()
                    self._advance(frame, value, exc, result)
                if not self._waiting:
                    return result[0] if result else None
                self._settle(self._next_done())
        finally:
            if self._waiting:  # stopped (an error, Ctrl-C): nothing of this build may go on
                self.client.cancel(list(self._waiting))
                self._waiting.clear()

    def _advance(self, frame: _Frame, value: Any, exc: BaseException | None, result: list[Any]) -> None:
        """Send a result (or throw an error) into ``frame``'s chain and act on what it yields next."""
        try:
            wanted = frame.chain.throw(exc) if exc is not None else frame.chain.send(value)
        except StopIteration as stop:
            self._finished(frame, stop.value, None, result)
            return
        except Exception as err:  # noqa: BLE001  (the chain's own error, passed to its group)
            if frame.join is None:
                raise
            self._finished(frame, None, err, result)
            return
        if isinstance(wanted, Task):
            self._submit(frame, wanted, 0)
        elif isinstance(wanted, Group):
            self._start_group(frame, wanted)
        elif isinstance(wanted, Spawn):
            self._ready.append((_Frame(wanted.chain, None, spawned=True), None, None))
            self._ready.append((frame, None, None))
        else:
            raise TypeError(f"a chain yielded {wanted!r}; expected a Task, a Group or a Spawn")

    def _start_group(self, frame: _Frame, group: Group) -> None:
        join = _Join(frame, enumerate(group.chains), [None] * len(group.chains))
        if not group.chains:
            self._ready.append((frame, [], None))
            return
        limit = sum(self.client.nthreads().values()) if group.limit == "threads" else group.limit
        for _ in range(max(1, limit or len(group.chains))):
            self._start_next(join)

    def _start_next(self, join: _Join) -> None:
        if join.failed or (item := next(join.todo, None)) is None:
            return
        index, chain = item
        join.open += 1
        self._ready.append((_Frame(chain, join, index), None, None))

    def _finished(self, frame: _Frame, value: Any, exc: BaseException | None, result: list[Any]) -> None:
        """A chain ended: hand its value (or error) to its group, or keep it as the run's result."""
        join = frame.join
        if join is None:
            if not frame.spawned:  # the root
                result.append(value)
            return
        if join.failed:
            return
        join.open -= 1
        join.results[frame.index] = value
        if exc is not None:
            join.failed = True
            self._cancel_members(join)
            self._ready.append((join.parent, None, exc))
            return
        self._start_next(join)
        if join.open == 0:
            self._ready.append((join.parent, join.results, None))

    def _cancel_members(self, join: _Join) -> None:
        doomed = [fut for fut, (frame, _, _) in self._waiting.items() if _descends(frame, join)]
        for fut in doomed:
            del self._waiting[fut]
        if doomed:
            self.client.cancel(doomed)

    def _submit(self, frame: _Frame, task: Task, attempt: int) -> None:
        if task.collection is not None:
            fut = self.client.compute(task.collection, priority=task.priority)
        else:
            fut = self.client.submit(task.fn, *task.args, **task.kwargs, priority=task.priority, pure=False)
        self._waiting[fut] = (frame, task, attempt)
        fut.add_done_callback(self._done.put)  # runs in the client's thread: only a queue put

    def _next_done(self) -> Future:
        """The next finished future: a bounded wait, said again every ``report_every_s``.

        A future whose result was lost with its worker calls back too (status ``lost``);
        the scheduler computes it again, so it is polled until it is really done.
        """
        waited = 0.0
        while True:
            self._recheck_lost()
            timeout = _LOST_POLL_S if self._lost else self.report_every_s
            try:
                fut = self._done.get(timeout=timeout)
            except queue.Empty:
                waited += timeout
                if waited >= self.report_every_s:
                    logger.info("waiting for %s", _describe(task for _, task, _ in self._waiting.values()))
                    waited = 0.0
                continue
            if fut not in self._waiting:  # cancelled with its group
                continue
            if fut.status in _DONE:
                return fut
            logger.info("%s was lost with its worker; waiting for the scheduler to compute it again", fut.key)
            self._lost.add(fut)

    def _recheck_lost(self) -> None:
        for fut in list(self._lost):
            if fut not in self._waiting or fut.status in _DONE:
                self._lost.discard(fut)
                if fut in self._waiting:
                    self._done.put(fut)

    def _settle(self, fut: Future) -> None:
        frame, task, attempt = self._waiting.pop(fut)
        if fut.status == "finished":
            value, exc = fut.result(), None
        else:
            exc = _exception(fut)
            if attempt < task.retries and transient(exc):
                logger.warning("%s failed (%s); trying again", task.label, exc)
                self._submit(frame, task, attempt + 1)
                return
            self.client.cancel([fut])  # a collection's other blocks stop writing
        fut.release()
        if self.track is not None and task.stage is not None:
            self.track.finish(task.stage, task.units)
        self._ready.append((frame, value if exc is None else None, exc))


def _descends(frame: _Frame, join: _Join) -> bool:
    """Whether ``frame`` runs inside ``join``'s group (directly, or in a group nested in it)."""
    while frame.join is not None:
        if frame.join is join:
            return True
        frame = frame.join.parent
    return False


def _exception(fut: Future) -> BaseException:
    if fut.status == "cancelled":
        return CancelledError(f"{fut.key} was cancelled")
    return fut.exception()


def _describe(tasks: Iterator[Task]) -> str:
    """``3 tasks (open_session 2, compute 1)``: what a wait is for."""
    kinds = Counter(task.label for task in tasks)
    total = sum(kinds.values())
    return f"{total} task{'s' * (total != 1)} ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})"


def map_bounded(
    client: Client, fn: Callable[[Any], Any], items: Sequence[Any], limit: int | None = None
) -> list[Any]:
    """``[fn(item) for item in items]`` on the cluster, at most ``limit`` at a time, in order.

    ``limit=None``: one per worker thread. The first error raises (the calls in
    flight are cancelled, the rest never start). The sources' downloads and the
    merge's shards go through here; ``functools.partial(map_bounded, client)`` is
    the mapper the sources take.
    """
    return Driver(client).run(_bounded(fn, items, limit))


def _bounded(fn: Callable[[Any], Any], items: Sequence[Any], limit: int | None) -> Chain:
    tasks = [Task.call(fn, item, retries=0) for item in items]
    return (yield Group.of_tasks(tasks, limit="threads" if limit is None else limit))


def _one(task: Task) -> Chain:
    return (yield task)
