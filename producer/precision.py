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
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from nlpbatch import defaults
from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings
from producer.job import JobSpec

if TYPE_CHECKING:
    from worker.pipelines.base import BatchStats


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


@dataclasses.dataclass
class Choice:
    """A job's precision, the gate's result, and the messages to run, carrying that precision.

    `records` holds, for each of the first messages, the records the gate already computed for
    it in the chosen precision; `stats` and `seconds`, the work behind them.
    """

    precision: str
    gate: dict[str, Any] | None
    messages: Iterator[ChunkMessage]
    records: list[list[Record]] = dataclasses.field(default_factory=list)
    stats: BatchStats | None = None
    seconds: float = 0.0


def gate_job(
    job: JobSpec,
    messages: Iterator[ChunkMessage],
    settings: Settings,
    *,
    gate_docs: int = defaults.GATE_DOCS,
    threshold: float | None = None,
    threads: int | None = None,
) -> Choice:
    """Choose the job's precision; the first chunks are read ahead for the gate.

    They are handed back unchanged but for their precision, so a corpus on stdin is read only
    once, with the records the gate computed for those it ran whole.
    """
    if job.precision == "fp32":
        return Choice("fp32", None, messages)
    from worker import local

    if not local.configured():  # `submit`: the gate uses this machine's cores
        local.configure(settings, threads=threads)
    ahead: list[ChunkMessage] = []
    sampled = 0
    while sampled < gate_docs:
        msg = next(messages, None)
        if msg is None:
            break
        ahead.append(msg)
        sampled += sum(1 for d in msg.docs if "error" not in d)
    with stdout_to_stderr():
        run = local.gate_chunks(
            job.task,
            job.model,
            job.params,
            [m.docs for m in ahead],
            gate_docs=gate_docs,
            requested=job.precision,
            threshold=threshold,
        )
    chosen = run.result.precision
    rest = (dataclasses.replace(m, precision=chosen) for m in itertools.chain(ahead, messages))
    return Choice(chosen, run.result.to_dict(), rest, run.records, run.stats, run.seconds)


def choose_precision(
    job: JobSpec,
    messages: Iterator[ChunkMessage],
    settings: Settings,
    *,
    gate_docs: int = defaults.GATE_DOCS,
    threshold: float | None = None,
    threads: int | None = None,
) -> tuple[str, dict[str, Any] | None, Iterator[ChunkMessage]]:
    """(precision to use, the gate's result or None, the messages to send, carrying it)."""
    choice = gate_job(job, messages, settings, gate_docs=gate_docs, threshold=threshold, threads=threads)
    return choice.precision, choice.gate, choice.messages
