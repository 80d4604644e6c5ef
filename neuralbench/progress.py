"""Progress of a build: a small typed event per finished piece of work, and its displays.

:func:`neuralbench.pipeline.build_all` calls ``progress(event)`` whenever a
session, a time block, an export or a merge shard finishes, and whenever a
stage's total grows (a session is opened and its blocks become known). A
display turns those events into one line redrawn in place on a terminal
(:class:`TerminalDisplay`) or into a line every so often in a batch job's log
(:class:`LogDisplay`); :func:`make_display` picks one for a stream.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = [
    "LogDisplay",
    "ProgressEvent",
    "Stage",
    "StageTracker",
    "TerminalDisplay",
    "format_eta",
    "make_display",
]


class Stage(enum.StrEnum):
    """The stages of a build whose work is counted, in the order they run."""

    SESSIONS = "sessions"  # a session stored (or skipped, or failed)
    BLOCKS = "blocks"  # a time block binned and written into the zarr store
    EXPORTS = "exports"  # a session's parquet parts, or a component folder assembled
    SHARDS = "shards"  # a shard (or the raster) of the merged corpus written


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` pieces of ``stage`` are finished.

    ``entry`` is the session's report entry (status, error, tokens, ...) for a
    :attr:`Stage.SESSIONS` event that finished a session, else None.
    """

    stage: Stage
    done: int
    total: int
    entry: dict[str, Any] | None = None


Progress = Callable[[ProgressEvent], None]
"""What ``build_all(progress=...)`` calls."""


class StageTracker:
    """Counts done and total per stage and sends an event to ``progress`` at each change."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done: dict[Stage, int] = dict.fromkeys(Stage, 0)
        self.total: dict[Stage, int] = dict.fromkeys(Stage, 0)

    def add(self, stage: Stage, n: int = 1) -> None:
        """``n`` more pieces of ``stage`` are to be done (its total becomes known or grows)."""
        if n:
            self.total[stage] += n
            self._send(stage, None)

    def finish(self, stage: Stage, n: int = 1, entry: dict[str, Any] | None = None) -> None:
        """``n`` pieces of ``stage`` are finished (whatever their outcome)."""
        self.done[stage] += n
        self._send(stage, entry)

    def _send(self, stage: Stage, entry: dict[str, Any] | None) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(stage, self.done[stage], self.total[stage], entry))


def format_eta(seconds: float | None) -> str:
    """``HH:MM:SS``, or ``--:--:--`` while there is nothing to estimate from."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    s = max(0, round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _StageClock:
    """When a stage's first piece of work was announced, and its latest counts."""

    started: float
    done: int = 0
    total: int = 0

    def eta(self, now: float) -> float | None:
        """Seconds left at the stage's mean rate so far; None before its first piece is done."""
        if self.done >= self.total:
            return 0.0
        if self.done == 0:
            return None
        return (now - self.started) / self.done * (self.total - self.done)


@dataclass
class _Display:
    """What both displays share: the counts per stage, failures, and the status line."""

    stream: IO[str]
    clock: Callable[[], float] = time.monotonic
    stages: dict[Stage, _StageClock] = field(default_factory=dict)

    def update(self, event: ProgressEvent) -> _StageClock:
        state = self.stages.setdefault(event.stage, _StageClock(self.clock()))
        state.done, state.total = event.done, event.total
        return state

    def line(self) -> str:
        """``sessions 4/6 | blocks 9/14 | exports 3/4  ETA 00:00:12 (blocks)``.

        Stages overlap (a session exports while others bin), so the ETA is the
        longest of the running stages', named; ``--:--:--`` until each has a rate.
        """
        now = self.clock()
        parts = " | ".join(f"{stage.value} {s.done}/{s.total}" for stage, s in self.stages.items())
        etas = {stage: s.eta(now) for stage, s in self.stages.items() if s.done < s.total}
        if not etas:
            return parts + "  done"
        if any(eta is None for eta in etas.values()):
            stage = next(stage for stage, eta in etas.items() if eta is None)
            return parts + f"  ETA {format_eta(None)} ({stage.value})"
        stage = max(etas, key=lambda st: etas[st] or 0.0)
        return parts + f"  ETA {format_eta(etas[stage])} ({stage.value})"

    def failed(self, event: ProgressEvent) -> str | None:
        if event.entry and event.entry.get("status") == "failed":
            return f"failed: {event.entry.get('error')}"
        return None


class TerminalDisplay(_Display):
    """One status line redrawn in place; a failed session's error on a line of its own."""

    def __call__(self, event: ProgressEvent) -> None:
        self.update(event)
        if (text := self.failed(event)) is not None:
            self.stream.write("\r\x1b[2K" + text + "\n")
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def close(self) -> None:
        """End the status line, so that what follows starts on a fresh line."""
        if self.stages:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class LogDisplay(_Display):
    """A status line at the first event, then every ``every_s`` seconds, and each failure.

    For batch jobs, whose stderr is a file: nothing redrawn, nothing flooded.
    """

    every_s: float = 30.0
    _last: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        self.update(event)
        now = self.clock()
        if (text := self.failed(event)) is not None:
            self._write(text)
        if self._last is None or now - self._last >= self.every_s:
            self._write(self.line())
            self._last = now

    def _write(self, text: str) -> None:
        self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        """Write the final counts."""
        if self.stages:
            self._write(self.line())


def make_display(stream: IO[str], *, every_s: float = 30.0) -> TerminalDisplay | LogDisplay:
    """The display for ``stream``: redrawn in place on a terminal, periodic lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return TerminalDisplay(stream)
    return LogDisplay(stream, every_s=every_s)
