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
from dataclasses import dataclass, field
from typing import Any

from nlpbatch import defaults
from nlpbatch.schema import ChunkMessage, Record, without_kept
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


@dataclass
class GateReuse:
    """The gate's records in the precision it chose, for `run` to write instead of recomputing.

    `chunks[index][position]` is the record of that document of that chunk (without its kept
    fields). The gate reads documents across chunks, so its last chunk may be partly covered.
    """

    chunks: dict[int, dict[int, Record]] = field(default_factory=dict)
    docs: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    used_docs: int = 0

    def take(self, index: int) -> dict[int, Record] | None:
        """The records computed for chunk `index`, counted as used; None if there are none."""
        found = self.chunks.pop(index, None)
        if found:
            self.used_docs += len(found)
        return found

    def used_counts(self) -> tuple[int, int]:
        """(tokens, padded tokens) of the records used: all of the gate's when all were used.

        A resumed run may find some of the gate's chunks already written; the counts of the
        rest are apportioned by documents, as the gate counts by batch, not by document.
        """
        if not self.docs or self.used_docs == self.docs:
            return (self.tokens, self.padded_tokens) if self.used_docs else (0, 0)
        share = self.used_docs / self.docs
        return round(self.tokens * share), round(self.padded_tokens * share)


def choose_precision(
    job: JobSpec,
    messages: Iterator[ChunkMessage],
    settings: Settings,
    *,
    gate_docs: int = defaults.GATE_DOCS,
    threshold: float | None = None,
    threads: int | None = None,
    gate_max_docs: int = defaults.GATE_MAX_DOCS,
    reuse: GateReuse | None = None,
) -> tuple[str, dict[str, Any] | None, Iterator[ChunkMessage]]:
    """(precision to use, the gate's result or None, the messages to send, carrying it).

    The first chunks are read ahead for the gate, only as many as it asks for (from
    `gate_docs` up to `gate_max_docs` documents), and handed back unchanged but for their
    precision, so a corpus on stdin is read only once. With `reuse`, the gate's records in
    the chosen precision are put there, by chunk and position.
    """
    if job.precision == "fp32":
        return "fp32", None, messages
    from worker import local

    if not local.configured():  # `submit`: the gate uses this machine's cores
        local.configure(settings, threads=threads)
    ahead: list[ChunkMessage] = []
    where: list[tuple[int, int]] = []  # (chunk, position) of each document the gate read
    kept = local.GateRecords() if reuse is not None else None

    def sample() -> Iterator[dict[str, Any]]:
        # A chunk is kept as soon as the gate starts on it, whether or not it reads it all.
        for msg in messages:
            ahead.append(msg)
            for pos, doc in enumerate(without_kept(msg.docs)[0]):
                if "error" not in doc:
                    where.append((msg.index, pos))  # the gate asked for it: it reads it
                    yield doc

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
            keep=kept,
            chunk_of=lambda n: where[n][0],
        )
    if reuse is not None and kept is not None and kept.records and len(kept.records) == len(where):
        for (index, pos), record in zip(where, kept.records, strict=True):
            reuse.chunks.setdefault(index, {})[pos] = record
        reuse.docs, reuse.tokens, reuse.padded_tokens = len(where), kept.tokens, kept.padded_tokens
    chosen = result.precision
    verdict = "passed" if result.passed else "failed"
    log.info(
        "int8 gate %s on %d documents in %.1f s: running in %s", verdict, result.docs, result.seconds, chosen
    )
    rest = (dataclasses.replace(m, precision=chosen) for m in itertools.chain(ahead, messages))
    return chosen, result.to_dict(), rest
