"""The execution core: an `Engine` runs chunks and decides a job's precision, and says what it did.

One Engine per process holds that process's model cache, thread budget and backend, given
explicitly when it is built (a Celery worker child builds its own at process start). `run`,
`run --processes` children, the Celery task, `nlpbatch.pipeline` and the int8 gate all call
`Engine.run_chunk`, which returns the records with the tokens they took and the runtime that
ran them: nothing is counted in globals.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpbatch.chunkresult import ChunkResult, Decision, Precomputed, Runtime
from nlpbatch.gating import GateOptions
from nlpbatch.passages import passage_job, passage_rows
from nlpbatch.schema import ChunkMessage, with_kept, without_kept
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from worker import metrics
from worker.models.head import Head
from worker.models.loader import LoadedModel, load_model
from worker.pipelines import pipeline_class
from worker.pipelines.base import BatchStats, Pipeline

__all__ = ["ChunkResult", "Decision", "Engine", "Precomputed", "Runtime", "available_cores", "thread_budget"]


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_budget(concurrency: int, cores: int | None = None) -> int:
    """Threads per worker process so that processes x threads never exceed the cores."""
    cores = cores or available_cores()
    return max(1, cores // max(1, concurrency))


class Engine:
    """A process's models (loaded on first use, kept for the next chunk), threads and backend."""

    def __init__(self, cache: Path, *, threads: int | None = None, backend: str = "auto") -> None:
        self.cache = cache
        self.threads = threads or available_cores()
        self.backend = backend
        self._models: dict[tuple[Head | None, str, str], LoadedModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, threads: int | None = None, backend: str = "auto"
    ) -> Engine:
        """An engine over the settings' model cache; `threads` None: every core of this process."""
        return cls(settings.onnx_dir, threads=threads, backend=backend)

    @staticmethod
    def head_for(task: str, model: str, params: dict[str, object] | None = None) -> Head | None:
        """The model head `task` needs for `model` and `params` (similarity picks one per model)."""
        return pipeline_class(task).head_for(model, dict(params or {}))

    def model(
        self, task: str, model: str, precision: str, params: dict[str, object] | None = None
    ) -> LoadedModel:
        """The loaded model for the task's head, `model` and `precision`, loaded on first use.

        Tasks that need the same head (sentiment and zero-shot) share one loaded model.
        """
        name = get_task(task).name
        key = (self.head_for(name, model, params), model, precision)
        with self._lock:
            if key not in self._models:
                loaded = load_model(
                    key[0],
                    model,
                    task=name,
                    precision=precision,
                    cache=self.cache,
                    threads=self.threads,
                    backend=self.backend,
                )
                self._models[key] = loaded
                metrics.observe_model_load(name, loaded.runtime.backend, loaded.load_seconds)
            return self._models[key]

    def loaded(self) -> int:
        """How many models this engine holds."""
        return len(self._models)

    @property
    def load_seconds(self) -> float:
        """Seconds spent loading the models this engine holds."""
        return sum(m.load_seconds for m in self._models.values())

    def unload(self, task: str, model: str, precision: str, params: dict[str, object] | None = None) -> None:
        """Forget a loaded model, e.g. the precision the accuracy gate did not choose."""
        with self._lock:
            self._models.pop((self.head_for(task, model, params), model, precision), None)

    def unload_all(self) -> None:
        """Forget every loaded model: the process that ran the gate hands the job to others."""
        with self._lock:
            self._models.clear()

    def pipeline(self, task: str, model: str, precision: str, params: dict[str, Any]) -> Pipeline:
        """The task's pipeline over its model (loaded on first use), with counters of its own."""
        return pipeline_class(task)(self.model(task, model, precision, params), dict(params))

    def runtime(self, task: str, model: str, precision: str, params: dict[str, Any]) -> Runtime:
        """What the job's model runs on, loading it if need be."""
        runtime = self.model(task, model, precision, params).runtime
        return Runtime(
            runtime.backend, runtime.precision, int(getattr(runtime, "threads", 0) or self.threads)
        )

    def run_chunk(self, msg: ChunkMessage, precomputed: Precomputed | None = None) -> ChunkResult:
        """Process one chunk: exactly one record per document, in the chunk's order (with
        `embed` passages, one per passage: see nlpbatch.passages).

        Only the documents `precomputed` does not hold go through the model.
        """
        started = time.perf_counter()
        pipeline = self.pipeline(msg.task, msg.model, msg.precision, msg.params)
        pipeline.stats = BatchStats()
        docs, kept = without_kept(msg.docs)
        done = precomputed.records if precomputed else {}
        todo = [i for i in range(len(docs)) if i not in done]
        ran = iter(pipeline([docs[i] for i in todo]) if todo else [])
        records = with_kept([done[i] if i in done else next(ran) for i in range(len(docs))], kept)
        if passage_job(msg.params):
            records = passage_rows(records)
        runtime = pipeline.model.runtime
        return ChunkResult(
            index=msg.index,
            records=records,
            tokens=pipeline.stats.tokens + (precomputed.tokens if precomputed else 0),
            padded_tokens=pipeline.stats.padded_tokens + (precomputed.padded_tokens if precomputed else 0),
            runtime=Runtime(
                runtime.backend, runtime.precision, int(getattr(runtime, "threads", 0) or self.threads)
            ),
            seconds=time.perf_counter() - started,
            reused=len(docs) - len(todo),
        )

    def decide(
        self,
        messages: Iterator[ChunkMessage],
        options: GateOptions,
        *,
        requested: str,
        reuse: bool = True,
        keep_unsettled: bool = False,
    ) -> Decision:
        """The job's precision, decided by the int8 gate on its first chunks (see worker.gate)."""
        from worker.gate import decide

        return decide(
            self, messages, options, requested=requested, reuse=reuse, keep_unsettled=keep_unsettled
        )
