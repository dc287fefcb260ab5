"""Chunk processing: the one function that both `nlpbatch run` and the Celery task call.

Models are loaded lazily, once per process, and kept for the next chunk. In a Celery worker
that first load happens in the child process, after the fork.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from worker import metrics
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
_models: dict[tuple[str, str, str], LoadedModel] = {}
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


def get_model(task: str, model: str, precision: str, export_task: str | None = None) -> LoadedModel:
    """The loaded model for (task, model, precision), loading it on first use.

    `export_task` overrides the task's usual model head (similarity picks one per model).
    """
    spec = get_task(task)
    if export_task and export_task != spec.export_task:
        spec = replace(spec, export_task=export_task)
    key = (spec.export_task, model, precision)
    with _lock:
        if key not in _models:
            opts = options()
            _models[key] = load_model(
                spec, model, precision=precision, cache=opts.cache, threads=opts.threads, backend=opts.backend
            )
            loaded = _models[key]
            metrics.observe_model_load(spec.name, loaded.runtime.backend, loaded.load_seconds)
        return _models[key]


def unload_model(task: str, model: str, precision: str, export_task: str | None = None) -> None:
    """Forget a loaded model, e.g. the precision the accuracy gate did not choose."""
    with _lock:
        _models.pop((export_task or get_task(task).export_task, model, precision), None)


def get_pipeline(task: str, model: str, precision: str, params: dict[str, object]) -> Pipeline:
    cls = pipeline_class(task)
    export_task = cls.export_task_for(get_task(task), model, dict(params))
    pipeline = cls(get_model(task, model, precision, export_task), dict(params))
    pipeline.stats = stats  # one set of counters per process, for the job report
    return pipeline


def run_chunk(msg: ChunkMessage) -> list[Record]:
    """Process one chunk: exactly one record per document, in the chunk's order."""
    pipeline = get_pipeline(msg.task, msg.model, msg.precision, msg.params)
    return pipeline(msg.docs)
