"""Start a Celery worker process pool for nlpbatch."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery.signals import worker_process_init

from nlpbatch.broker import make_celery
from nlpbatch.settings import Settings, redact_url
from worker import engine
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
) -> None:
    """Run a worker until it is stopped. Each child process gets `threads` model threads."""
    threads = threads or engine.thread_budget(concurrency)
    # Libraries that read these at import (torch, numpy's BLAS) keep to the budget too.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["NLPBATCH_THREADS"] = str(threads)

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
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            f"--hostname={node}",
            f"--queues={settings.queue}",
            f"--pool={pool}",
            "--task-events",
        ]
    )
