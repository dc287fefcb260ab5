"""The int8 accuracy gate: a job's own first documents, run in fp32 and in int8, compared.

Each pipeline class names its comparison (see worker.comparisons): label agreement for
classifiers, cosine for embeddings, span agreement for NER and QA. The documents are
tokenized once and the same features go through both models. A task with no comparison
never runs in int8: there is nothing to tell whether int8 is good enough.

Given a job's leading chunks (`gate_chunks`), the gate runs each chunk's documents as the
chunk would run them, so the records of the precision it chooses for every chunk it covered
whole are the chunk's records: the job writes them rather than computing them again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from nlpbatch.schema import Doc, Record
from nlpbatch.tasks import get_task
from worker import engine
from worker.pipelines import pipeline_class
from worker.pipelines.base import BatchStats

log = logging.getLogger("nlpbatch.gate")


@dataclass(frozen=True)
class GateResult:
    """What the gate measured and decided."""

    requested: str
    precision: str
    passed: bool
    metric: str
    value: float | None
    threshold: float
    docs: int
    seconds: float
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.value is not None:
            out["value"] = round(self.value, 6)
        return out


@dataclass
class GateRun:
    """The gate's result, and the chosen precision's records of the chunks it ran whole."""

    result: GateResult
    #: One list of records per leading chunk, exactly what `run_chunk` would return for it.
    records: list[list[Record]] = field(default_factory=list)
    #: The model work behind `records`, for the job's counters, and the seconds it took.
    stats: BatchStats = field(default_factory=BatchStats)
    seconds: float = 0.0


def add_counts(into: BatchStats, done: BatchStats) -> None:
    """Add `done`'s counters to `into`."""
    into.docs += done.docs
    into.tokens += done.tokens
    into.padded_tokens += done.padded_tokens
    into.batches += done.batches


def run_gate(
    task: str,
    model: str,
    params: dict[str, Any],
    docs: list[Doc],
    *,
    requested: str,
    threshold: float | None = None,
) -> GateResult:
    """Compare fp32 and int8 on `docs`; the precision to use is in the result.

    `requested` is "int8" (fall back to fp32, with a warning, if the gate fails) or "auto"
    (pick int8 only if the gate passes).
    """
    return _gate(task, model, params, [docs], requested=requested, threshold=threshold).result


def gate_chunks(
    task: str,
    model: str,
    params: dict[str, Any],
    chunks: list[list[Doc]],
    *,
    gate_docs: int,
    requested: str,
    threshold: float | None = None,
) -> GateRun:
    """The gate on the first `gate_docs` documents of `chunks` (those without a reader error).

    Every chunk it covers whole is run whole, reader errors included, so its records in the
    chosen precision are kept; of a chunk it covers in part, only the gate's documents run.
    """
    pieces: list[list[Doc]] = []
    left = gate_docs
    for docs in chunks:
        if left <= 0:
            break
        good = [i for i, d in enumerate(docs) if "error" not in d]
        if len(good) <= left:
            pieces.append(list(docs))
        else:  # the chunk is only partly the gate's: run its gate documents, keep nothing
            pieces.append([docs[i] for i in good[:left]])
        left -= len(good)
    whole = len(pieces) if left >= 0 else len(pieces) - 1
    return _gate(task, model, params, pieces, requested=requested, threshold=threshold, keep=whole)


def _gate(
    task: str,
    model: str,
    params: dict[str, Any],
    pieces: list[list[Doc]],
    *,
    requested: str,
    threshold: float | None,
    keep: int = 0,
) -> GateRun:
    """Run fp32 and int8 over each piece as one chunk, compare, keep the chosen records of `keep` pieces."""
    spec = get_task(task)
    name = spec.name
    started = time.perf_counter()
    cls = pipeline_class(name)
    comparison = cls.comparison
    if not cls.runs_model:
        reason = "runs no model"
        return GateRun(GateResult(requested, "fp32", False, "", None, threshold or 0.0, 0, 0.0, reason))
    if comparison is None:
        reason = f"no int8 accuracy comparison for task {name!r}"
        if requested == "int8":
            log.warning("%s: running in fp32", reason)
        return GateRun(GateResult(requested, "fp32", False, "", None, threshold or 0.0, 0, 0.0, reason))
    limit = comparison.threshold if threshold is None else threshold
    count = sum(1 for piece in pieces for d in piece if "error" not in d)
    if not count:
        reason = "no documents to compare"
        if requested == "int8":
            log.warning("int8 accuracy gate: %s; running in fp32", reason)
        return GateRun(GateResult(requested, "fp32", False, comparison.metric, None, limit, 0, 0.0, reason))
    fp32 = cls(engine.get_model(name, model, "fp32", params), dict(params))
    int8 = cls(engine.get_model(name, model, "int8", params), dict(params))
    runs: dict[str, list[tuple[list[Record], BatchStats, float]]] = {"fp32": [], "int8": []}
    for piece in pieces:
        tokenized = time.perf_counter()
        encoded = fp32.encode_chunk(piece)  # tokenized once, run twice
        tokenizing = time.perf_counter() - tokenized
        for precision, pipeline in (("fp32", fp32), ("int8", int8)):
            # The gate's work is not the job's: counted apart, and added for kept records only.
            pipeline.stats = BatchStats()
            began = time.perf_counter()
            records = pipeline.run_encoded(piece, encoded)
            runs[precision].append((records, pipeline.stats, tokenizing + time.perf_counter() - began))

    def sample(precision: str) -> list[Record]:
        """The records of the gate's documents: reader errors are no comparison."""
        return [
            record
            for piece, (records, _, _) in zip(pieces, runs[precision], strict=True)
            for doc, record in zip(piece, records, strict=True)
            if "error" not in doc
        ]

    value = comparison.compare(sample("fp32"), sample("int8"))
    passed = value >= limit
    chosen = "int8" if passed else "fp32"
    reason = "" if passed else f"{comparison.metric} {value:.6f} is below {limit}"
    if not passed and requested == "int8":
        log.warning("int8 accuracy gate failed (%s): running in fp32", reason)
    engine.unload_model(name, model, "fp32" if passed else "int8", params)
    seconds = time.perf_counter() - started
    result = GateResult(requested, chosen, passed, comparison.metric, value, limit, count, seconds, reason)
    kept = runs[chosen][:keep]
    stats = BatchStats()
    for _, done, _ in kept:
        add_counts(stats, done)
    return GateRun(result, [records for records, _, _ in kept], stats, sum(s for _, _, s in kept))
