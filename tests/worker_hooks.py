"""`python -m tests.worker_hooks [--chunk-delay S] [--runtime-faults N] [--full-disk-merges N]
[--report-modules] ARGS`: `nlpbatch` with test hooks.

The failure tests need a worker that holds a chunk long enough to kill or stop it mid-chunk,
or whose model runtime fails its first N calls whatever the input (as an out-of-memory or a
lost device does). The hooks are given here, on the tests' side, and wrap the Engine's
`run_chunk` (every worker child's Engine) or the runtimes, so the production code has no
test hook to read. `--report-modules` logs, after
each chunk, which heavy libraries the worker process has imported.
"""

from __future__ import annotations

import functools
import logging
import sys
import time

from producer.cli import main
from worker.engine import Engine


def slow_chunks(delay: float) -> None:
    """Make every chunk wait `delay` seconds, in the worker, before it is processed."""
    run_chunk = Engine.run_chunk

    @functools.wraps(run_chunk)
    def slowed(self, msg, precomputed=None):  # type: ignore[no-untyped-def]
        time.sleep(delay)
        return run_chunk(self, msg, precomputed)

    Engine.run_chunk = slowed  # type: ignore[method-assign]


def failing_runtime(calls: int) -> None:
    """Make the first `calls` model runs of each worker process fail, whatever their input."""
    from worker.runtime.onnx import OnnxRuntime

    real = OnnxRuntime.run
    seen = [0]

    @functools.wraps(real)
    def run(self, feeds):  # type: ignore[no-untyped-def]
        seen[0] += 1
        if seen[0] <= calls:
            raise RuntimeError(f"Failed to allocate memory (test fault {seen[0]} of {calls})")
        return real(self, feeds)

    OnnxRuntime.run = run  # type: ignore[method-assign]


def full_disk_merges(times: int) -> None:
    """Make the first `times` merges of each worker process fail as on a full disk."""
    import errno
    import os

    from nlpbatch.outputs.records import RecordWriter

    real = RecordWriter.write
    seen = [0]

    @functools.wraps(real)
    def write(self, records):  # type: ignore[no-untyped-def]
        seen[0] += 1
        if seen[0] <= times:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, records)

    RecordWriter.write = write  # type: ignore[method-assign]


def paced_model(seconds: float) -> None:
    """After each real model call, log it and wait `seconds`: a chunk spends seconds in its model work.

    A test can then stop the worker between two real batches of one chunk, with some of the
    chunk's documents already through the model and the rest not.
    """
    from worker.runtime.onnx import OnnxRuntime

    real = OnnxRuntime.run
    calls = [0]

    @functools.wraps(real)
    def run(self, feeds):  # type: ignore[no-untyped-def]
        out = real(self, feeds)
        calls[0] += 1
        logging.getLogger("nlpbatch.tests").warning("model call %d done", calls[0])
        time.sleep(seconds)
        return out

    OnnxRuntime.run = run  # type: ignore[method-assign]


HOOKS = {
    "--chunk-delay": lambda value: slow_chunks(float(value)),
    "--paced-model": lambda value: paced_model(float(value)),
    "--runtime-faults": lambda value: failing_runtime(int(value)),
    "--full-disk-merges": lambda value: full_disk_merges(int(value)),
}

HEAVY = ("torch", "onnxruntime", "transformers")


def report_modules() -> None:
    """Log `heavy modules after chunk: [...]` in the worker process after every chunk."""
    run_chunk = Engine.run_chunk

    @functools.wraps(run_chunk)
    def reported(self, msg, precomputed=None):  # type: ignore[no-untyped-def]
        result = run_chunk(self, msg, precomputed)
        heavy = sorted(name for name in HEAVY if name in sys.modules)
        logging.getLogger("nlpbatch.tests").warning("heavy modules after chunk: %s", heavy)
        return result

    Engine.run_chunk = reported  # type: ignore[method-assign]


if __name__ == "__main__":
    args = sys.argv[1:]
    while args[:1] and args[0] in HOOKS:
        HOOKS[args[0]](args[1])
        args = args[2:]
    if args[:1] == ["--report-modules"]:
        report_modules()
        args = args[1:]
    main(args, prog_name="nlpbatch")
