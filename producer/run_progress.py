"""`nlpbatch run`'s progress on stderr: a rich bar on a terminal, else a log line every few seconds."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from producer.progress import _clock
from producer.readers import STDIN, Source
from producer.readers import _binary as open_source  # the bytes the reader will parse

log = logging.getLogger("nlpbatch.run")

#: Seconds between two progress lines when stderr is not a terminal (a log file, a pipe).
LOG_INTERVAL = 10.0


#: The loggers of progress and of slow first-use steps (the ONNX export, the int8 gate).
PROGRESS_LOGGERS = ("nlpbatch.run", "nlpbatch.models.export", "nlpbatch.precision")


def show_progress(shown: bool) -> None:
    """Show progress and notices ("exporting MODEL to ONNX (first use)") without -v, or not at all."""
    for name in PROGRESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if shown else logging.WARNING)


def count_documents(sources: Sequence[Source]) -> int | None:
    """How many documents the sources hold, or None when that cannot be known before reading.

    Counted without parsing: non-blank lines of JSONL, lines of text, rows of Parquet (from
    its footer). Stdin is read once, so it has no total; URLs and CSV are not read twice.
    """
    total = 0
    for source in sources:
        if source.path == STDIN or "://" in source.path:
            return None
        if source.format == "parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(source.path).metadata.num_rows
        elif source.format in ("jsonl", "txt"):
            with open_source(source) as stream:
                blank_too = source.format == "txt"
                total += sum(1 for line in stream if blank_too or line.strip())
        else:  # a CSV row may span lines: only a parse would tell
            return None
    return total


class RunProgress:
    """Called after each chunk with the documents and errors so far; `close` when the job ends.

    Its clock starts at the call with zero chunks (the model loaded), so the rate and ETA
    leave out the model's load and first-use export; that call's `spent`, the int8 gate's
    seconds, is counted in, as the gate computed documents the run writes without running.
    """

    def __init__(
        self,
        total: int | None,
        stream: IO[str],
        *,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        console: Console | None = None,
    ) -> None:
        self.total = total
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_line = -math.inf
        self.docs = self.errors = 0
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if console is not None or stream.isatty():
            self.bar = Progress(
                TextColumn("[bold]run"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("documents  {task.fields[rate]} docs/s  ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[errors]} errors"),
                console=console or Console(file=stream),
                transient=False,
            )
            self.task = self.bar.add_task("run", total=total, rate="-", errors=0)

    def rate(self) -> float:
        """Documents per second since the job started."""
        return self.docs / max(self.clock() - self.started, 1e-9)

    def line(self) -> str:
        """The documents done (of the total, when known), docs/s, ETA and errors."""
        rate = self.rate()
        of = "" if self.total is None else f"/{self.total:,}"
        eta = None if self.total is None or not rate else (self.total - self.docs) / rate
        return f"{self.docs:,}{of} documents, {rate:,.1f} docs/s, ETA {_clock(eta)}, {self.errors} errors"

    def counting(self, sources: Sequence[Source]) -> RunProgress:
        """Count the sources' documents in a background thread; the total shows once known."""

        def count() -> None:
            self.total = count_documents(sources)

        threading.Thread(target=count, name="nlpbatch-count", daemon=True).start()
        return self

    def __call__(self, chunks: int, docs: int, errors: int, spent: float = 0.0) -> None:
        self.docs, self.errors = docs, errors
        if chunks == 0:
            self.started = self.clock() - spent
        if self.bar is not None and self.task is not None:
            if not self.bar.live.is_started:
                self.bar.start()  # only now: the model export and gate print their lines first
            self.bar.update(
                self.task, total=self.total, completed=docs, rate=f"{self.rate():,.1f}", errors=errors
            )
            return
        if chunks == 0:
            return
        now = self.clock()
        if now - self.last_line >= self.interval:
            self.last_line = now
            log.info("%s", self.line())

    def close(self) -> None:
        """Stop the bar, or log the last line."""
        if self.bar is not None:
            if self.bar.live.is_started:
                self.bar.refresh()
                self.bar.stop()
            return
        log.info("%s", self.line())
