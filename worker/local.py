"""The in-process interface the producer uses."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpbatch.backends import check_backend
from nlpbatch.errors import RuntimeFault
from nlpbatch.modelref import resolve
from nlpbatch.retry import retry_delay
from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings
from worker import engine
from worker.gate import GateRecords, GateResult, run_gate
from worker.models.store import onnx_model_dir
from worker.pipelines.base import BatchStats

__all__ = [
    "GateRecords",
    "GateResult",
    "RuntimeInfo",
    "check_backend",
    "configure",
    "configured",
    "export",
    "load",
    "run_chunk",
    "run_gate",
    "stats",
]


@dataclass(frozen=True)
class RuntimeInfo:
    """What a job's model runs on, for its report."""

    backend: str
    precision: str
    threads: int


def configure(settings: Settings, *, threads: int | None = None, backend: str = "auto") -> None:
    """Set this process's model cache, thread budget and backend."""
    engine.configure(settings, threads=threads, backend=backend)


def configured() -> bool:
    """Whether `configure` has run in this process."""
    return engine.configured()


def load(task: str, model: str, precision: str, params: dict[str, Any]) -> RuntimeInfo:
    """Load the job's model (once per process) and say what it runs on."""
    runtime = engine.get_pipeline(task, model, precision, params).model.runtime
    threads = int(getattr(runtime, "threads", 0) or engine.options().threads)
    return RuntimeInfo(runtime.backend, runtime.precision, threads)


log = logging.getLogger("nlpbatch.run")

#: Tries of a chunk whose model runtime fails whatever the input, as a worker retries it.
RUNTIME_TRIES = 8


def run_chunk(msg: ChunkMessage, done: Mapping[int, Record] | None = None) -> list[Record]:
    """One record per document of the chunk, in its order: what a worker would return.

    `done` holds records already computed (by the int8 gate), by position in the chunk;
    only the other documents go through the model.

    A runtime fault (out of memory, a session or device error) is tried again with backoff,
    as a worker retries its chunk, rather than ending the run or recording the documents.
    """
    for attempt in range(RUNTIME_TRIES):
        try:
            return engine.run_chunk(msg, done)
        except RuntimeFault as exc:
            if attempt + 1 == RUNTIME_TRIES:
                raise
            pause = retry_delay(attempt, maximum=30)
            log.warning("chunk %d: %s; trying again in %d s", msg.index, exc, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


def stats() -> BatchStats:
    """This process's running token and batch counters."""
    return engine.stats


def export(model: str, task: str, precision: str, settings: Settings) -> Path | None:
    """The folder of `model`'s ONNX export for `task`, exported now if it is not cached yet.

    None for a task that needs only the tokenizer: it has nothing to export.
    """
    # The head can depend on the model (similarity: cross-encoder or bi-encoder).
    head = engine.head_for(task, model)
    if head is None:
        return None
    return onnx_model_dir(resolve(model), head.export_task, precision, settings.onnx_dir)


def serve(
    settings: Settings,
    threads: int,
    backend: str,
    model_key: tuple[str, str, str, dict[str, Any]],
    inbox: Any,
    outbox: Any,
) -> None:
    """A `run --processes N` child: load the model once, then run the chunks the parent sends.

    It answers ("ready", pid, RuntimeInfo, seconds to load), then ("chunk", index, records,
    tokens, padded tokens, peak MiB, pid) per chunk, or ("failed", index, exception) and stops. It
    leaves Ctrl-C to the parent, which stops every child, and ends if the parent is gone.
    """
    import os
    import queue
    import signal

    from nlpbatch.report import peak_rss_mb

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        started = time.perf_counter()
        configure(settings, threads=threads, backend=backend)
        info = load(*model_key)
        outbox.put(("ready", os.getpid(), info, time.perf_counter() - started))
    except Exception as exc:
        outbox.put(("failed", None, _sendable(exc)))
        return
    counters = stats()
    while True:
        try:
            item = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return  # the parent died without stopping us
            continue
        if item is None:
            return
        msg, done = item
        tokens, padded = counters.tokens, counters.padded_tokens
        try:
            records = run_chunk(msg, done)
        except Exception as exc:
            outbox.put(("failed", msg.index, _sendable(exc)))
            return
        used = (counters.tokens - tokens, counters.padded_tokens - padded)
        outbox.put(("chunk", msg.index, records, *used, peak_rss_mb(), os.getpid()))


def _sendable(exc: Exception) -> Exception:
    """The exception itself if it survives pickling, else a RuntimeFault saying what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeFault(f"{type(exc).__name__}: {exc}")
    return exc
