"""Choosing a job's precision before its chunks run: fp32, int8, or int8 only if the gate passes.

The gate runs where the job is started, in the producer process, for `run` and `submit`
alike. A job must run in one precision from its first chunk to its last, and deciding before
anything is queued lets every chunk message carry that decision: no worker waits on
another's verdict, and a job resumed later runs as it started. Only int8 and auto jobs pay
for it: they load onnxruntime here; fp32 jobs keep the producer light.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nlpbatch import defaults
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
    job: JobSpec,
    messages: Iterator[ChunkMessage],
    settings: Settings,
    *,
    gate_docs: int = defaults.GATE_DOCS,
    threshold: float | None = None,
    threads: int | None = None,
    gate_max_docs: int = defaults.GATE_MAX_DOCS,
) -> tuple[str, dict[str, Any] | None, Iterator[ChunkMessage]]:
    """(precision to use, the gate's result or None, the messages to send, carrying it).

    The first chunks are read ahead for the gate, only as many as it asks for (from
    `gate_docs` up to `gate_max_docs` documents), and handed back unchanged but for their
    precision, so a corpus on stdin is read only once.
    """
    if job.precision == "fp32":
        return "fp32", None, messages
    from worker import local

    if not local.configured():  # `submit`: the gate uses this machine's cores
        local.configure(settings, threads=threads)
    ahead: list[ChunkMessage] = []

    def sample() -> Iterator[dict[str, Any]]:
        # A chunk is kept as soon as the gate starts on it, whether or not it reads it all.
        for msg in messages:
            ahead.append(msg)
            yield from (d for d in msg.docs if "error" not in d)

    log.info("checking int8 against fp32 on the job's first documents (the int8 gate)")
    with stdout_to_stderr():
        result = local.run_gate(
            job.task,
            job.model,
            job.params,
            sample(),
            requested=job.precision,
            threshold=threshold,
            first_docs=gate_docs,
            max_docs=gate_max_docs,
        )
    chosen = result.precision
    verdict = "passed" if result.passed else "failed"
    log.info(
        "int8 gate %s on %d documents in %.1f s: running in %s", verdict, result.docs, result.seconds, chosen
    )
    rest = (dataclasses.replace(m, precision=chosen) for m in itertools.chain(ahead, messages))
    return chosen, result.to_dict(), rest
