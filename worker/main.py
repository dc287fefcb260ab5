"""Start a Celery worker process pool for nlpbatch."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Any

from celery.signals import setup_logging, worker_process_init, worker_shutting_down

from nlpbatch.broker import make_celery
from nlpbatch.settings import Settings, redact_url
from worker import metrics
from worker.engine import thread_budget
from worker.tasks import WorkerContext, register

log = logging.getLogger("nlpbatch.worker")


def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    loglevel: str = "INFO",
    backend: str = "auto",
    name: str | None = None,
) -> None:
    """Run a worker until it is stopped. Each child process gets `settings.threads` model threads.

    With `settings.metrics_port`, this (parent) process serves Prometheus metrics gathered from
    all children. With JSON logs, Celery's own logs go through the same JSON handler. After
    SIGTERM, chunks in hand get `settings.shutdown_timeout` seconds (the default, 20, is below
    the 30 s that Kubernetes allows; deploy/ raises both for long chunks).
    """
    metrics_port, log_format, shutdown_timeout = (
        settings.metrics_port,
        settings.log_format,
        settings.shutdown_timeout,
    )
    threads = settings.threads or thread_budget(concurrency)
    # Libraries that read these at import (torch, numpy's BLAS) keep to the budget too; they
    # are not nlpbatch's settings: each child's Engine gets its threads explicitly.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)

    if metrics_port is not None:
        # Before the pool forks, so every child inherits the multiprocess folder.
        metrics.serve(metrics_port, settings)
        metrics.connect_signals()
    if log_format == "json":
        _keep_json_logs(loglevel)

    app = make_celery(settings)
    context = WorkerContext(settings, threads=threads, backend=backend)
    register(app, context)
    # Each child builds its engine once, at its start; the solo pool's one process, here.
    worker_process_init.connect(context.start, weak=False)
    if shutdown_timeout > 0:
        _bound_warm_shutdown(shutdown_timeout)
    context.start()
    node = name or f"nlpbatch-{os.getpid()}@{socket.gethostname()}"
    log.info(
        "worker %s: broker %s, %d processes x %d threads",
        node,
        redact_url(settings.broker_url),
        concurrency,
        threads,
    )
    if not settings.output_roots or not settings.model_roots:
        log.warning(
            "NLPBATCH_OUTPUT_ROOTS or NLPBATCH_MODEL_ROOTS is not set: any chunk message may name "
            "an output or a model folder anywhere this user can write or read"
        )
    pool = "solo" if concurrency == 1 and settings.pool == "solo" else "prefork"
    app.worker_main(
        [
            # The banner is not a log line; JSON logs must stay one object per line.
            *(["--quiet"] if log_format == "json" else []),
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            f"--hostname={node}",
            f"--queues={settings.queue}",
            f"--pool={pool}",
            "--task-events",
        ]
    )


def _keep_json_logs(loglevel: str) -> None:
    """Stop Celery from installing its text handlers, keeping the CLI's JSON one at `loglevel`."""
    logging.getLogger().setLevel(loglevel.upper())

    def keep(**_: Any) -> None:
        logging.getLogger().setLevel(loglevel.upper())

    setup_logging.connect(keep, weak=False)


def _bound_warm_shutdown(timeout: float) -> None:
    """After SIGTERM, give the chunks in hand `timeout` seconds, then put them back in the queue.

    Celery's SIGTERM (warm shutdown) waits for running tasks however long they take, so a
    supervisor's SIGKILL would end a long chunk, which then waits out the visibility timeout
    before another worker gets it. When the time is up this sends the worker its own SIGQUIT,
    Celery's cold shutdown: the children are stopped and, as every chunk is acknowledged only
    once it is done, Redis hands the unfinished chunks to the next worker at once.
    """

    def on_shutting_down(how: str = "", **_: Any) -> None:
        if how != "Warm":
            return
        timer = threading.Timer(timeout, _return_chunks, args=(timeout,))
        timer.daemon = True  # a worker that finishes sooner exits without waiting for it
        timer.start()

    worker_shutting_down.connect(on_shutting_down, weak=False)


def _return_chunks(timeout: float) -> None:
    log.warning("chunks still running %.0f s after SIGTERM: returning them to the queue", timeout)
    os.kill(os.getpid(), signal.SIGQUIT)
