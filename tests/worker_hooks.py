"""`python -m tests.worker_hooks [--chunk-delay S] [--report-modules] ARGS`: `nlpbatch` with test hooks.

The failure tests need a worker that holds a chunk long enough to kill or stop it mid-chunk.
The delay is given here, on the tests' side, and wraps the worker's chunk function, so the
production code has no test hook to read. `--report-modules` logs, after each chunk, which
heavy libraries the worker process has imported.
"""

from __future__ import annotations

import functools
import logging
import sys
import time

from producer.cli import main
from worker import tasks


def slow_chunks(delay: float) -> None:
    """Make every chunk wait `delay` seconds, in the worker, before it is processed."""
    run_records = tasks.run_records

    @functools.wraps(run_records)
    def slowed(msg):  # type: ignore[no-untyped-def]
        time.sleep(delay)
        return run_records(msg)

    tasks.run_records = slowed  # type: ignore[assignment]


HEAVY = ("torch", "onnxruntime", "transformers")


def report_modules() -> None:
    """Log `heavy modules after chunk: [...]` in the worker process after every chunk."""
    run_records = tasks.run_records

    @functools.wraps(run_records)
    def reported(msg):  # type: ignore[no-untyped-def]
        records = run_records(msg)
        heavy = sorted(name for name in HEAVY if name in sys.modules)
        logging.getLogger("nlpbatch.tests").warning("heavy modules after chunk: %s", heavy)
        return records

    tasks.run_records = reported  # type: ignore[assignment]


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--chunk-delay"]:
        slow_chunks(float(args[1]))
        args = args[2:]
    if args[:1] == ["--report-modules"]:
        report_modules()
        args = args[1:]
    main(args, prog_name="nlpbatch")
