"""Choosing a job's precision before its chunks run: fp32, int8, or int8 only if the gate passes.

The gate runs where the job is started, in the producer process, for `run` and `submit`
alike. A job must run in one precision from its first chunk to its last, and deciding before
anything is queued lets every chunk message carry that decision: no worker waits on
another's verdict, and a job resumed later runs as it started. Only int8 and auto jobs pay
for it: they load onnxruntime here; fp32 jobs keep the producer light.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nlpbatch.chunkresult import Decision
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from producer.job import JobSpec

log = logging.getLogger("nlpbatch.precision")


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send whatever the exporters print (some from native code) to stderr.

    `submit` prints the job id as the first line of stdout, and scripts read it there.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def choose_precision(
    job: JobSpec, messages: Iterator[ChunkMessage], settings: Settings, engine: Any = None
) -> Decision:
    """The job's precision, and its messages carrying it (see `worker.engine.Engine.decide`).

    An fp32 job runs no gate and loads nothing here. An int8 or auto one runs the gate on
    `engine`, or on an engine over this machine's cores (`submit`); the records it computed in
    the chosen precision come back in the decision, by chunk.
    """
    if job.precision == "fp32":
        return Decision("fp32", None, messages)
    if engine is None:
        from worker.engine import Engine

        engine = Engine.from_settings(settings)
    log.info("checking int8 against fp32 on the job's first documents (the int8 gate)")
    with stdout_to_stderr():
        decision: Decision = engine.decide(messages, job.options.gate, requested=job.precision)
    gate = decision.gate
    verdict = "passed" if gate.passed else "failed"
    log.info(
        "int8 gate %s on %d documents in %.1f s: running in %s",
        verdict,
        gate.docs,
        gate.seconds,
        gate.precision,
    )
    return decision
