"""`python -m tests.worker_hooks [--chunk-delay S] ARGS`: the `nlpbatch` command with test hooks.

The failure tests need a worker that holds a chunk long enough to kill or stop it mid-chunk.
The delay is given here, on the tests' side, and wraps the worker's chunk function, so the
production code has no test hook to read.
"""

from __future__ import annotations

import functools
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


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--chunk-delay"]:
        slow_chunks(float(args[1]))
        args = args[2:]
    main(args, prog_name="nlpbatch")
