"""Start a Celery worker process pool for nlpbatch."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery.signals import setup_logging, worker_process_init

from nlpbatch.broker import make_celery
from nlpbatch.settings import Settings, redact_url
from worker import engine, metrics
from worker.tasks import register

log = logging.getLogger("nlpbatch.worker")


def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    threads: int | None = None,
    loglevel: str = "INFO",
    backend: str = "auto",
    name: str | None = None,
    metrics_port: int | None = None,
    log_format: str = "text",
) -> None:
    """Run a worker until it is stopped. Each child process gets `threads` model threads.

    With `metrics_port`, this (parent) process serves Prometheus metrics gathered from all
    children. With `log_format="json"`, Celery's own logs go through the same JSON handler.
    """
    threads = threads or engine.thread_budget(concurrency)
    # Libraries that read these at import (torch, numpy's BLAS) keep to the budget too.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["NLPBATCH_THREADS"] = str(threads)

    if metrics_port is not None:
        # Before the pool forks, so every child inherits the multiprocess folder.
        metrics.serve(metrics_port, settings)
        metrics.connect_signals()
    if log_format == "json":
        _keep_json_logs(loglevel)

    app = make_celery(settings)
    register(app, settings)

    def init_child(**_: Any) -> None:
        engine.configure(settings, threads=threads, backend=backend)

    worker_process_init.connect(init_child, weak=False)
    engine.configure(settings, threads=threads, backend=backend)  # for the solo pool
    node = name or f"nlpbatch-{os.getpid()}@{socket.gethostname()}"
    log.info(
        "worker %s: broker %s, %d processes x %d threads",
        node,
        redact_url(settings.broker_url),
        concurrency,
        threads,
    )
    pool = "solo" if concurrency == 1 and os.environ.get("NLPBATCH_POOL") == "solo" else "prefork"
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
