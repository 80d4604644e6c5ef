"""The progress events and their two displays, driven by a clock the test sets."""

from __future__ import annotations

import io

from neuralbench.progress import (
    LogDisplay,
    ProgressEvent,
    Stage,
    StageTracker,
    TerminalDisplay,
    format_eta,
    make_display,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tracker_counts_each_stage_and_passes_the_entry():
    events: list[ProgressEvent] = []
    track = StageTracker(events.append)
    track.add(Stage.SESSIONS, 2)
    track.add(Stage.BLOCKS, 0)  # nothing to announce
    track.finish(Stage.SESSIONS, entry={"status": "built"})
    track.add(Stage.BLOCKS, 3)
    track.finish(Stage.BLOCKS, 3)
    assert events == [
        ProgressEvent(Stage.SESSIONS, 0, 2),
        ProgressEvent(Stage.SESSIONS, 1, 2, {"status": "built"}),
        ProgressEvent(Stage.BLOCKS, 0, 3),
        ProgressEvent(Stage.BLOCKS, 3, 3),
    ]
    StageTracker(None).finish(Stage.SHARDS)  # no callback: nothing to call


def test_format_eta():
    assert format_eta(3725.4) == "01:02:05"
    assert format_eta(None) == "--:--:--"
    assert format_eta(-1) == "00:00:00"


def test_eta_is_the_slowest_running_stage_at_its_own_rate():
    clock = Clock()
    display = LogDisplay(io.StringIO(), clock=clock, every_s=1e9)
    display(ProgressEvent(Stage.SESSIONS, 0, 10))
    display(ProgressEvent(Stage.BLOCKS, 0, 4))
    assert display.line().endswith("ETA --:--:-- (sessions)")  # no rate yet
    clock.now = 10.0
    display(ProgressEvent(Stage.SESSIONS, 5, 10))  # 2 s each: 10 s left
    display(ProgressEvent(Stage.BLOCKS, 1, 4))  # 10 s each: 30 s left
    assert display.line() == "sessions 5/10 | blocks 1/4  ETA 00:00:30 (blocks)"
    clock.now = 20.0
    display(ProgressEvent(Stage.BLOCKS, 4, 4))
    assert display.line() == "sessions 5/10 | blocks 4/4  ETA 00:00:20 (sessions)"  # 4 s each now
    display(ProgressEvent(Stage.SESSIONS, 10, 10))
    display(ProgressEvent(Stage.SHARDS, 0, 3))  # the merge starts: a new stage, no rate yet
    assert display.line() == "sessions 10/10 | blocks 4/4 | shards 0/3  ETA --:--:-- (shards)"
    clock.now = 22.0
    display(ProgressEvent(Stage.SHARDS, 1, 3))
    assert display.line().endswith("shards 1/3  ETA 00:00:04 (shards)")
    display(ProgressEvent(Stage.SHARDS, 3, 3))
    assert display.line().endswith("shards 3/3  done")


def test_log_display_writes_a_line_every_so_often_and_each_failure():
    clock, stream = Clock(), io.StringIO()
    display = LogDisplay(stream, clock=clock, every_s=30.0)
    display(ProgressEvent(Stage.SESSIONS, 0, 3))  # the first event: a line
    clock.now = 5.0
    display(ProgressEvent(Stage.SESSIONS, 1, 3, {"status": "built"}))  # too soon: none
    display(ProgressEvent(Stage.SESSIONS, 2, 3, {"status": "failed", "error": "x.nwb: bad"}))
    clock.now = 31.0
    display(ProgressEvent(Stage.SESSIONS, 3, 3, {"status": "built"}))  # 30 s on: a line
    display.close()
    assert stream.getvalue().splitlines() == [
        "progress: sessions 0/3  ETA --:--:-- (sessions)",
        "progress: failed: x.nwb: bad",
        "progress: sessions 3/3  done",
        "progress: sessions 3/3  done",
    ]


def test_terminal_display_redraws_one_line():
    clock, stream = Clock(), Tty()
    assert isinstance(make_display(stream), TerminalDisplay)
    assert isinstance(make_display(io.StringIO()), LogDisplay)
    display = TerminalDisplay(stream, clock=clock)
    display(ProgressEvent(Stage.SESSIONS, 0, 2))
    clock.now = 4.0
    display(ProgressEvent(Stage.SESSIONS, 1, 2, {"status": "failed", "error": "y.mat: bad"}))
    display.close()
    assert stream.getvalue() == (
        "\r\x1b[2Ksessions 0/2  ETA --:--:-- (sessions)"
        "\r\x1b[2Kfailed: y.mat: bad\n"
        "\r\x1b[2Ksessions 1/2  ETA 00:00:04 (sessions)\n"
    )
