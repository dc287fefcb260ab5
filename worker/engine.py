"""Chunk processing: the one function that both `nlpbatch run` and the Celery task call.

Models are loaded lazily, once per process, and kept for the next chunk. In a Celery worker
that first load happens in the child process, after the fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nlpbatch.schema import ChunkMessage, Record, with_kept, without_kept
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from worker import metrics
from worker.models.head import Head
from worker.models.loader import LoadedModel, load_model
from worker.pipelines import pipeline_class
from worker.pipelines.base import BatchStats, Pipeline


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_budget(concurrency: int, cores: int | None = None) -> int:
    """Threads per worker process so that processes x threads never exceed the cores."""
    cores = cores or available_cores()
    return max(1, cores // max(1, concurrency))


@dataclass
class EngineOptions:
    """How this process runs models."""

    cache: Path
    threads: int
    backend: str = "auto"


_options: EngineOptions | None = None
_models: dict[tuple[Head | None, str, str], LoadedModel] = {}
# Reentrant: get_model holds it while options() may configure on first use.
_lock = threading.RLock()
stats = BatchStats()


def configure(settings: Settings, *, threads: int | None = None, backend: str = "auto") -> None:
    """Set this process's model cache, thread budget and backend; drops loaded models."""
    global _options
    with _lock:
        _options = EngineOptions(settings.onnx_dir, threads or available_cores(), backend)
        _models.clear()


def configured() -> bool:
    """Whether `configure` has run in this process."""
    return _options is not None


def options() -> EngineOptions:
    if _options is None:
        configure(settings := Settings.from_env(), threads=settings.threads)
    assert _options is not None
    return _options


def head_for(task: str, model: str, params: dict[str, object] | None = None) -> Head | None:
    """The model head `task` needs for `model` and `params` (similarity picks one per model)."""
    return pipeline_class(task).head_for(model, dict(params or {}))


def get_model(task: str, model: str, precision: str, params: dict[str, object] | None = None) -> LoadedModel:
    """The loaded model for the task's head, `model` and `precision`, loaded on first use.

    Tasks that need the same head (sentiment and zero-shot) share one loaded model.
    """
    name = get_task(task).name
    head = head_for(name, model, params)
    key = (head, model, precision)
    with _lock:
        if key not in _models:
            opts = options()
            _models[key] = load_model(
                head,
                model,
                task=name,
                precision=precision,
                cache=opts.cache,
                threads=opts.threads,
                backend=opts.backend,
            )
            loaded = _models[key]
            metrics.observe_model_load(name, loaded.runtime.backend, loaded.load_seconds)
        return _models[key]


def unload_model(task: str, model: str, precision: str, params: dict[str, object] | None = None) -> None:
    """Forget a loaded model, e.g. the precision the accuracy gate did not choose."""
    with _lock:
        _models.pop((head_for(task, model, params), model, precision), None)


def get_pipeline(task: str, model: str, precision: str, params: dict[str, object]) -> Pipeline:
    """The task's pipeline over its model (loaded on first use), counting into `stats`."""
    pipeline = pipeline_class(task)(get_model(task, model, precision, params), dict(params))
    pipeline.stats = stats  # one set of counters per process, for the job report
    return pipeline


def run_chunk(msg: ChunkMessage, done: Mapping[int, Record] | None = None) -> list[Record]:
    """Process one chunk: exactly one record per document, in the chunk's order.

    `done`: records already computed, by position in the chunk (without the kept fields);
    only the other documents are run.
    """
    pipeline = get_pipeline(msg.task, msg.model, msg.precision, msg.params)
    docs, kept = without_kept(msg.docs)
    if not done:
        return with_kept(pipeline(docs), kept)
    todo = [i for i in range(len(docs)) if i not in done]
    ran = iter(pipeline([docs[i] for i in todo]) if todo else [])
    return with_kept([done[i] if i in done else next(ran) for i in range(len(docs))], kept)
