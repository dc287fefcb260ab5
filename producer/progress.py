"""A job's rate and ETA, shown as rich progress bars by `nlpbatch status` and `nlpbatch wait`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from nlpbatch.jobstate import JobState, JobStatus


@dataclass(frozen=True)
class Rates:
    """How fast a job goes: measured from its first chunk's start to its last update (or now)."""

    elapsed: float | None
    docs_per_second: float | None
    eta: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "elapsed_seconds": _round(self.elapsed),
            "docs_per_second": _round(self.docs_per_second),
            "eta_seconds": _round(self.eta),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def rates(status: JobStatus, now: float | None = None) -> Rates:
    """Documents per second and seconds left, from the chunks done since work began.

    The ETA assumes the chunks left go at the pace of those done; it is unknown (None) before
    the first chunk ends, or while the producer is still queuing and the total is not known.
    After `resume`, only the chunks done since count: those done before took no time here.
    """
    if status.started is None:
        return Rates(None, None, None)
    # A finished job's clock stops at its last update; a running one's runs until now.
    end = status.updated if status.state.is_finished else (time.time() if now is None else now)
    elapsed = max(end - status.started, 1e-9)
    chunks = status.chunks_done - status.resumed_chunks
    docs_per_second = (status.docs_done - status.resumed_docs) / elapsed if chunks > 0 else None
    eta: float | None = None
    if status.state.is_finished:
        eta = 0.0 if status.state is JobState.DONE else None
    elif status.chunks_total is not None and chunks > 0:
        eta = (status.chunks_total - status.chunks_done) * elapsed / chunks
    return Rates(elapsed, docs_per_second, eta)


def status_dict(status: JobStatus, now: float | None = None) -> dict[str, Any]:
    """The `status --json` object: the job's counts with its rate and ETA."""
    return {**status.to_dict(), **rates(status, now).to_dict()}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _summary(status: JobStatus, now: float | None) -> Text:
    r = rates(status, now)
    speed = "-" if r.docs_per_second is None else f"{r.docs_per_second:,.1f}"
    errors = Text(f"{status.errors} errors", style="red" if status.errors else "green")
    return Text.assemble(
        f"{status.docs_done:,} documents  ",
        f"{speed} docs/s  ",
        f"elapsed {_clock(r.elapsed)}  ETA {_clock(r.eta)}  ",
        errors,
    )


class ProgressView:
    """A chunks bar plus a line of documents, docs/s, ETA and errors, updated from statuses."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("chunks"),
            console=console,
            auto_refresh=False,
        )
        self.task: TaskID = self.bar.add_task("job", total=None)
        self.line = Text("")

    def update(self, status: JobStatus, now: float | None = None) -> None:
        self.bar.update(
            self.task,
            description=f"job {status.job_id} {status.state.value}",
            completed=status.chunks_done,
            total=status.chunks_total,
        )
        self.line = _summary(status, now)

    def __rich__(self) -> Group:
        return Group(self.bar.get_renderable(), self.line)


def print_status(status: JobStatus, file: IO[str] | None = None, now: float | None = None) -> None:
    """Print a job's progress once: its bar, rate, ETA and errors, then where the output goes."""
    console = Console(file=file, highlight=False)
    view = ProgressView(console)
    view.update(status, now)
    console.print(view)
    console.print(f"output {status.manifest.get('output')}", highlight=False, soft_wrap=True)


class LiveProgress:
    """`wait`'s live bar: call it with each new status; close it when the job ends."""

    def __init__(self, file: IO[str] | None = None) -> None:
        from rich.live import Live

        self.console = Console(file=file, highlight=False)
        self.view = ProgressView(self.console)
        self.live = Live(self.view, console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def __call__(self, status: JobStatus) -> None:
        self.view.update(status)
        self.live.refresh()

    def close(self) -> None:
        self.live.stop()
