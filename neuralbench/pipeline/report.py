"""The build report: one typed entry per session and per component, written as ``report.json``.

Entries are frozen; the report replaces an entry when its session or component
moves on, so what a stopped build writes is always a consistent snapshot.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuralbench import __version__, export
from neuralbench.errors import NeuralbenchError
from neuralbench.layout import BuildLayout, SessionKey, partial_path
from neuralbench.session import SessionRef

__all__ = ["BuildReport", "ComponentEntry", "SessionEntry", "error_text", "os_reason", "write_json"]

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EDQUOT})
"""Errors of the output side (full disk, file size limit, read-only): the report says so."""


@dataclass(frozen=True)
class SessionEntry:
    """A session's line of the report: where it came from, what became of it."""

    component: str
    source_file: str
    subject_id: str
    session_id: str
    status: str = "pending"  # pending, built, skipped, failed
    tokens: int = 0
    segments: int = 0
    clipped_bins: int = 0
    spikes: int = 0
    seconds: float = 0.0
    error: str | None = None
    units: int | None = None

    @classmethod
    def of(cls, ref: SessionRef) -> SessionEntry:
        return cls(ref.component, ref.source_file, ref.subject_id, ref.session_id)

    def done(
        self, status: str, seconds: float, attrs: Mapping[str, Any] | None, error: str | None
    ) -> SessionEntry:
        """This entry with its outcome; the figures come from the session's stored attrs."""
        figures = {}
        if attrs:
            figures = dict(
                tokens=attrs.get("tokens", 0),
                segments=attrs.get("segments", 0),
                clipped_bins=attrs.get("n_clipped_bins", 0),
                spikes=attrs.get("n_spikes", 0),
                units=attrs.get("n_units", 0),
            )
        return dataclasses.replace(self, status=status, seconds=round(seconds, 3), error=error, **figures)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.units is None:
            del out["units"]
        return out


@dataclass(frozen=True)
class ComponentEntry:
    """A component's line: its sessions exported, its rows and tokens, the first thing that went wrong."""

    sessions: int = 0
    error: str | None = None
    rows: int | None = None
    tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k == "error"}


class BuildReport:
    """What a build did so far: sessions in build order, components, the corpus."""

    def __init__(self) -> None:
        self.sessions: dict[SessionKey, SessionEntry] = {}
        self.started: dict[SessionKey, float] = {}
        self.components: dict[str, ComponentEntry] = {}
        self.corpus: dict[str, Any] = {}

    def add_component(self, name: str) -> None:
        self.components[name] = ComponentEntry()

    def start(self, ref: SessionRef) -> SessionKey:
        key = ref.key
        self.sessions[key] = SessionEntry.of(ref)
        self.started[key] = time.perf_counter()
        return key

    def finish(
        self, key: SessionKey, status: str, attrs: Mapping[str, Any] | None = None, error: str | None = None
    ) -> SessionEntry:
        """Record a session's outcome; returns the new entry (the progress event carries it)."""
        seconds = time.perf_counter() - self.started[key]
        self.sessions[key] = self.sessions[key].done(status, seconds, attrs, error)
        return self.sessions[key]

    def component_failed(self, name: str, text: str) -> None:
        self.components[name] = dataclasses.replace(self.components[name], error=text)

    def component_update(self, name: str, **fields: Any) -> None:
        self.components[name] = dataclasses.replace(self.components[name], **fields)

    def ok_sessions(self, name: str) -> list[SessionKey]:
        """The component's sessions that were not failed, in build order."""
        return [k for k, e in self.sessions.items() if k.component == name and e.status != "failed"]

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        out = {
            "neuralbench_version": __version__,
            "sessions": [e.to_dict() for e in self.sessions.values()],
            "components": {n: c.to_dict() for n, c in self.components.items()},
        }
        return {**out, **extra}

    def final(self, out_dir: Path, names: Iterable[str], stopped: str | None = None) -> dict[str, Any]:
        """The report to write: previous components carried forward, and ``ok``.

        ``stopped``: why a build was cut short (its report has no corpus; a rerun of
        the same command skips what is done and finishes the rest).
        """
        report = self.to_dict(stopped=stopped) if stopped else self.to_dict(corpus=self.corpus)
        carry_forward(report, out_dir, list(names))
        report["ok"] = not stopped and (
            all(s["status"] != "failed" for s in report["sessions"])
            and all(c.get("error") is None for c in report["components"].values())
            and "error" not in report["corpus"]
        )
        return report


def carry_forward(report: dict[str, Any], out_dir: Path, names: list[str]) -> None:
    """Keep the previous report's entries of components this run did not touch.

    The merge takes every finished component folder in ``out_dir``, so the report
    must list their sessions too (a build ``--only a`` then ``--only b``).
    """
    try:
        old = json.loads(BuildLayout.of(out_dir).report.read_text())
    except (OSError, json.JSONDecodeError):
        return
    keep = [
        n
        for n in old.get("components", {})
        if n not in names and export.read_manifest(export.component_dir(out_dir, n))
    ]
    report["sessions"] += [s for s in old.get("sessions", []) if s.get("component") in keep]
    report["components"].update({n: old["components"][n] for n in keep})


def error_text(exc: BaseException | None, path: Path) -> str:
    """The report's text for a failed stage: the file, then what is wrong.

    An OSError about another file (an output chunk on a full disk) names both.
    """
    if isinstance(exc, NeuralbenchError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return f"{path}: cannot write {exc.filename or 'the output'}: {os_reason(exc)}"
    if isinstance(exc, OSError) and exc.filename and os.fspath(exc.filename) != os.fspath(path):
        return f"{path}: {exc.filename}: {os_reason(exc)}"
    return f"{path}: {type(exc).__name__}: {exc}"


def os_reason(exc: OSError) -> str:
    """``No space left on device [Errno 28]``: the system's words and the code, for a grep."""
    if exc.errno is None:
        return str(exc)
    return f"{exc.strerror or os.strerror(exc.errno)} [Errno {exc.errno}]"


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all: a partial name, then a rename."""
    tmp = partial_path(path)
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
