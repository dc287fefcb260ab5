"""What `nlpbatch run` adds around the engine: the runtime-fault retry, exports, `--processes` children."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from nlpbatch.backends import check_backend
from nlpbatch.errors import RuntimeFault
from nlpbatch.modelref import resolve
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from worker.engine import ChunkResult, Engine, Precomputed
from worker.hooks import RUN_RETRY, ChunkRetry
from worker.models.store import onnx_model_dir

__all__ = ["check_backend", "export", "run_chunk", "serve"]

log = logging.getLogger("nlpbatch.run")


def run_chunk(
    engine: Engine, msg: ChunkMessage, precomputed: Precomputed | None = None, retry: ChunkRetry = RUN_RETRY
) -> ChunkResult:
    """`engine.run_chunk(msg, precomputed)`, what a worker would return for the chunk.

    A runtime fault (out of memory, a session or device error) is tried again after the
    pauses of `retry`, as a worker retries its chunk, rather than ending the run or recording
    the documents.
    """
    attempt = 0
    while True:
        try:
            return engine.run_chunk(msg, precomputed)
        except RuntimeFault as exc:
            pause = retry.pause(attempt)
            if pause is None:
                raise
            log.warning("chunk %d: %s; trying again in %d s", msg.index, exc, pause)
            time.sleep(pause)
            attempt += 1


def export(model: str, task: str, precision: str, settings: Settings) -> Path | None:
    """The folder of `model`'s ONNX export for `task`, exported now if it is not cached yet.

    None for a task that needs only the tokenizer: it has nothing to export.
    """
    # The head can depend on the model (similarity: cross-encoder or bi-encoder).
    head = Engine.head_for(task, model)
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

    It answers ("ready", pid, Runtime, seconds to load), then ("chunk", ChunkResult, peak MiB,
    pid) per chunk, or ("failed", index, exception) and stops. It leaves Ctrl-C to the parent,
    which stops every child, and ends if the parent is gone.
    """
    import os
    import queue
    import signal

    from nlpbatch.report import peak_rss_mb

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        started = time.perf_counter()
        engine = Engine.from_settings(settings, threads=threads, backend=backend)
        info = engine.runtime(*model_key)
        outbox.put(("ready", os.getpid(), info, time.perf_counter() - started))
    except Exception as exc:
        outbox.put(("failed", None, _sendable(exc)))
        return
    while True:
        try:
            item = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return  # the parent died without stopping us
            continue
        if item is None:
            return
        msg, precomputed = item
        try:
            result = run_chunk(engine, msg, precomputed)
        except Exception as exc:
            outbox.put(("failed", msg.index, _sendable(exc)))
            return
        outbox.put(("chunk", result, peak_rss_mb(), os.getpid()))


def _sendable(exc: Exception) -> Exception:
    """The exception itself if it survives pickling, else a RuntimeFault saying what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeFault(f"{type(exc).__name__}: {exc}")
    return exc
