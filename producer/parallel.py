"""Where `run`'s chunks are computed: in this process, or in N worker processes (`--processes`).

Both runners take chunks in input order (`submit`), write each chunk's part as soon as its
records exist, and hand the records back in input order (`collect`), so the output, the
parts a resumed run finds and the progress are the same whichever runs them.

The processes are started with `spawn`: a fork after onnxruntime has started its threads
(the int8 gate runs here first) could deadlock. They are managed here rather than by
`concurrent.futures.ProcessPoolExecutor`, which on Python 3.11 can neither wait until every
process has loaded its model (the documents' clock starts then) nor stop its processes at
once on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nlpbatch.errors import RuntimeFault
from nlpbatch.outputs.base import Output
from nlpbatch.report import peak_rss_mb
from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings

#: Chunks sent ahead per process: enough to keep each busy while the parent writes parts.
AHEAD_PER_PROCESS = 2


class InlineRunner:
    """Chunks computed here, one at a time, by this process's engine."""

    processes = 1
    window = 1

    def __init__(self, output: Output, engine: Any) -> None:
        self.output = output
        self.engine = engine
        self.done: dict[int, Any] = {}

    def submit(self, msg: ChunkMessage, precomputed: Any) -> None:
        from worker import local

        result = local.run_chunk(self.engine, msg, precomputed)
        self.output.write_part(msg.index, result.records)
        self.done[msg.index] = result

    def collect(self, index: int) -> Any:
        """The chunk's ChunkResult (worker.engine)."""
        return self.done.pop(index)

    @property
    def workers(self) -> dict[str, dict[str, Any]]:
        """This process, as the report lists the processes that ran chunks."""
        return {worker_name(os.getpid()): {"peak_rss_mb": peak_rss_mb(), "child": False}}


class ProcessRunner:
    """Chunks computed by `processes` child processes, each with its own model and threads."""

    def __init__(
        self,
        output: Output,
        processes: int,
        settings: Settings,
        *,
        threads: int,
        backend: str,
        model_key: tuple[str, str, str, dict[str, Any]],
    ) -> None:
        from worker import local

        ctx = multiprocessing.get_context("spawn")
        self.output = output
        self.processes = processes
        self.window = AHEAD_PER_PROCESS * processes
        self.inbox: Any = ctx.Queue()
        self.outbox: Any = ctx.Queue()
        self.children = [
            ctx.Process(
                target=local.serve,
                args=(settings, threads, backend, model_key, self.inbox, self.outbox),
                name=f"nlpbatch-run-{n}",
                daemon=True,
            )
            for n in range(processes)
        ]
        self.done: dict[int, Any] = {}
        self.peaks: dict[int, float] = {}
        self.info: Any = None
        self.load_seconds = 0.0
        self.ready = threading.Condition()
        self.failure: BaseException | None = None
        self.stopping = threading.Event()
        self.part_writer = threading.Thread(target=self.write_parts, name="nlpbatch-run-parts", daemon=True)

    def start(self) -> None:
        """Start the processes and wait until each has loaded the model."""
        for child in self.children:
            child.start()
        loaded = 0
        while loaded < self.processes:
            item = self._next()
            if item is not None:
                loaded += 1
                self.info, seconds = item[2:]
                self.load_seconds = max(self.load_seconds, seconds)
        self.part_writer.start()

    def submit(self, msg: ChunkMessage, precomputed: Any) -> None:
        self.inbox.put((msg, precomputed))

    def write_parts(self) -> None:
        """In a thread: write each chunk's part as soon as a process returns it.

        The parent may be waiting for input (a corpus on stdin) meanwhile: a kill then loses
        no finished chunk.
        """
        try:
            while not self.stopping.is_set():
                item = self._next()
                if item is None:
                    continue
                _, result, peak, pid = item
                self.output.write_part(result.index, result.records)
                with self.ready:
                    self.done[result.index] = result
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)
                    self.ready.notify_all()
        except BaseException as exc:
            with self.ready:
                self.failure = exc
                self.ready.notify_all()

    def collect(self, index: int) -> Any:
        """The chunk's ChunkResult (worker.engine), once a process has returned it."""
        with self.ready:
            while index not in self.done:
                if self.failure is not None:
                    raise self.failure
                self.ready.wait(0.5)
            return self.done.pop(index)

    @property
    def workers(self) -> dict[str, dict[str, Any]]:
        """Each child and its own peak memory (the report adds them to this process's)."""
        return {worker_name(pid): {"peak_rss_mb": peak, "child": True} for pid, peak in self.peaks.items()}

    def _next(self) -> tuple[Any, ...] | None:
        """The next answer of a process; None after half a second without one."""
        try:
            item: tuple[Any, ...] = self.outbox.get(timeout=0.5)
        except queue.Empty:
            dead = [c for c in self.children if c.exitcode is not None]
            if dead and not self.stopping.is_set():
                raise RuntimeFault(f"a run process stopped (exit code {dead[0].exitcode})") from None
            return None
        if item[0] == "failed":
            raise item[2]
        return item

    def close(self) -> None:
        """Let the processes finish and end; stop any that does not."""
        self.stopping.set()
        for _ in self.children:
            self.inbox.put(None)
        for child in self.children:
            child.join(timeout=30)
        self.stop()

    def stop(self) -> None:
        """Stop every process now (Ctrl-C, SIGTERM, an error): the parts written stay."""
        self.stopping.set()
        for child in self.children:
            if child.is_alive():
                child.terminate()
        for child in self.children:
            if child.pid is None:
                continue  # never started
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join()
        if self.part_writer.is_alive():
            self.part_writer.join(timeout=5)
        self.inbox.cancel_join_thread()
        self.outbox.cancel_join_thread()


@contextmanager
def running(runner: ProcessRunner) -> Iterator[ProcessRunner]:
    """The processes, started; SIGTERM stops them as Ctrl-C does, and both leave a resumable job."""

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        pass
    try:
        runner.start()
        yield runner
    except BaseException:
        runner.stop()
        raise
    else:
        runner.close()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def ordered(
    runner: InlineRunner | ProcessRunner,
    messages: Iterator[ChunkMessage],
    written: set[int],
    output: Output,
    take: Any,
) -> Iterator[tuple[ChunkMessage, list[Record], Any]]:
    """(message, its records, its ChunkResult or None if resumed from a part) in input order.

    Up to `runner.window` chunks are computed ahead; `take(index)` gives the gate's records
    for a chunk, if any.
    """
    pending: list[tuple[ChunkMessage, bool]] = []
    in_flight = 0

    def first() -> tuple[ChunkMessage, list[Record], Any]:
        nonlocal in_flight
        msg, resumed = pending.pop(0)
        if resumed:
            return msg, output.read_part(msg.index), None
        in_flight -= 1
        result = runner.collect(msg.index)
        return msg, result.records, result

    for msg in messages:
        if msg.index in written:
            pending.append((msg, True))
        else:
            runner.submit(msg, take(msg.index))
            pending.append((msg, False))
            in_flight += 1
        while pending and (pending[0][1] or in_flight >= runner.window):
            yield first()
    while pending:
        yield first()


def worker_name(pid: int) -> str:
    """`host:pid`, as a worker process is named in a job's report."""
    return f"{socket.gethostname()}:{pid}"


def auto_processes() -> int:
    """`--processes auto`: 1 process, with all the threads; more only when the user asks.

    Measured with DistilBERT-base on a 2-core AMD EPYC (benchmarks/results/processes.md):
    with the CPU's batches of 512 tokens on a machine running nothing else, 2 processes x 1
    thread ran a median 0.92x (fp32) and 0.97x (int8) the documents per second of 1 x 2 over
    3 interleaved rounds, at twice the memory and a second more to load; `make bench`'s
    whole-process row, 1,200 short documents, took 19.4 s against 18.0 s. Only on a machine
    busy with other work (load average 2.5-6, and batches of 8,192 tokens) did 2 x 1 win
    (median 1.25x and 1.55x); earlier, on Intel, `submit`'s 2 workers x 1 thread ran 0.87x
    of `run`. So the default keeps one model in memory; `--processes N` is for shared machines.
    """
    return 1
