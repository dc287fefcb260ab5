"""Prometheus metrics of a worker: documents, batch latency, errors by type, model load time, queue depth.

Celery's prefork children do the work while the parent process serves HTTP, so the children
write their counters to files in `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess
mode) and the parent adds them up at each scrape. The queue depth is read from Redis at scrape
time. In a process where metrics are off (`nlpbatch run`, a worker without `--metrics-port`)
every function here does nothing.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from nlpbatch import redisurl
from nlpbatch.errors import NlpbatchError
from nlpbatch.schema import Record
from nlpbatch.settings import Settings, redact_url

log = logging.getLogger("nlpbatch.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# kombu's Redis transport keeps one list per priority step; priority 0 is the bare queue name.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


def enabled() -> bool:
    """Whether this process records metrics: set for a worker started with a metrics port."""
    return bool(os.environ.get(MULTIPROC_ENV))


class _Metrics:
    """The metric objects, made on first use so that they are made after the fork."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.documents = Counter(
            "nlpbatch_documents_processed", "Documents processed, error records included", ["task"]
        )
        self.chunks = Counter("nlpbatch_chunks_processed", "Chunks processed", ["task"])
        self.errors = Counter(
            "nlpbatch_errors",
            "Errors by type; stage is document (an error record), retry or chunk (the chunk failed)",
            ["type", "stage"],
        )
        self.batch_seconds = Histogram(
            "nlpbatch_batch_seconds",
            "Seconds of one model call on a padded batch",
            ["task"],
            buckets=LATENCY_BUCKETS,
        )
        self.chunk_seconds = Histogram(
            "nlpbatch_chunk_seconds", "Seconds to process one chunk", ["task"], buckets=LATENCY_BUCKETS
        )
        self.model_load_seconds = Histogram(
            "nlpbatch_model_load_seconds",
            "Seconds to load (and export, if needed) a model",
            ["task", "backend"],
            buckets=LOAD_BUCKETS,
        )


@functools.cache
def _metrics() -> _Metrics:
    return _Metrics()


def observe_chunk(
    task: str, records: Sequence[Record], seconds: float, *, documents: int | None = None
) -> None:
    """Count a processed chunk, its documents (None: one per record) and its error records by type."""
    if not enabled():
        return
    m = _metrics()
    m.chunks.labels(task).inc()
    m.documents.labels(task).inc(len(records) if documents is None else documents)
    m.chunk_seconds.labels(task).observe(seconds)
    for record in records:
        error = record.get("error")
        if error:
            m.errors.labels(error.get("type", "Error"), "document").inc()


def observe_batch(task: str, seconds: float) -> None:
    """Record the latency of one model call."""
    if enabled():
        _metrics().batch_seconds.labels(task).observe(seconds)


def observe_model_load(task: str, backend: str, seconds: float) -> None:
    """Record how long a model took to load."""
    if enabled():
        _metrics().model_load_seconds.labels(task, backend).observe(seconds)


def count_error(exc: BaseException | None, stage: str) -> None:
    """Count a chunk that failed or will be retried, by the exception's type."""
    if enabled():
        _metrics().errors.labels(type(exc).__name__ if exc is not None else "Unknown", stage).inc()


class QueueDepth:
    """A collector that reads the length of the Celery queue's Redis lists at each scrape."""

    def __init__(self, broker_url: str, queue: str) -> None:
        import redis  # only a worker serving metrics needs the client

        self.client = redisurl.client(broker_url, socket_timeout=5, socket_connect_timeout=5)
        self.errors = redis.RedisError
        self.queue = queue
        self.broker = redact_url(broker_url)

    def keys(self) -> list[str]:
        return [self.queue, *(f"{self.queue}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS)]

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "nlpbatch_queue_depth",
            "Chunks waiting in Redis for a worker (all priority lists)",
            labels=["queue"],
        )
        try:
            depth = sum(int(self.client.llen(key)) for key in self.keys())
        except self.errors as exc:
            # The scrape still answers; a missing gauge says Redis was unreachable.
            log.warning("queue depth unavailable from %s: %s", self.broker, exc)
            return
        gauge.add_metric([self.queue], depth)
        yield gauge


def prepare_dir() -> str:
    """Set up the multiprocess folder before any child starts: the one given, emptied, or a new one."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        # prometheus_client requires the folder emptied between runs; a folder shared by two
        # running workers would mix their counters, so each worker needs its own.
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.remove(os.path.join(given, name))
        return given
    folder = tempfile.mkdtemp(prefix="nlpbatch-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    parent = os.getpid()

    def remove() -> None:
        if os.getpid() == parent:  # children inherit atexit handlers; only the parent owns it
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


def serve(port: int, settings: Settings, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on `port` from this (parent) process, summing the children's files."""
    # prometheus_client picks its value storage when first imported: the folder comes first.
    folder = prepare_dir()
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    registry.register(QueueDepth(settings.broker_url, settings.queue))  # type: ignore[arg-type]
    try:
        start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise NlpbatchError(f"cannot serve metrics on {addr}:{port}: {exc}") from None
    log.info("metrics on http://%s:%d/metrics", addr, port)


def connect_signals() -> None:
    """Count failed and retried chunks through Celery's signals, in every child."""
    from celery.signals import task_failure, task_retry, worker_process_shutdown

    def on_failure(exception: BaseException | None = None, **_: Any) -> None:
        count_error(exception, "chunk")

    def on_retry(reason: Any = None, **_: Any) -> None:
        count_error(reason if isinstance(reason, BaseException) else None, "retry")

    def on_child_exit(pid: int | None = None, **_: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())

    task_failure.connect(on_failure, weak=False)
    task_retry.connect(on_retry, weak=False)
    worker_process_shutdown.connect(on_child_exit, weak=False)
