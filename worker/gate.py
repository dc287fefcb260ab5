"""The int8 accuracy gate: a job's own first documents, run in fp32 and in int8, compared.

Each pipeline class names its comparison (see worker.comparisons): label agreement for
classifiers, cosine for embeddings, span agreement for NER and QA. The documents are
tokenized once and the same features go through both models. A task with no comparison
never runs in int8: there is nothing to tell whether int8 is good enough. The gate reads
more of the job's documents while its confidence interval still holds the threshold (see
worker.gate_stats).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from nlpbatch import defaults
from nlpbatch.schema import Doc, Record
from nlpbatch.tasks import get_task
from worker import engine
from worker.gate_stats import confident_agreement, read_until_settled
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
    #: The 95% interval of `value` and how it was computed (wilson, normal; "" for none).
    low: float | None = None
    high: float | None = None
    interval: str = ""
    #: False when the interval still held the threshold after the most documents the gate reads.
    settled: bool | None = None
    #: Label tasks: agreement on the documents fp32 scored above 0.8, and their number.
    confident: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("value", "low", "high"):
            if out[name] is not None:
                out[name] = round(out[name], 6)
        return out


@dataclass
class GateRecords:
    """The records the gate computed in the precision it chose: one per document it read, in order.

    `run` writes them instead of computing those documents again; `tokens` and `padded_tokens`
    are what that precision's pass counted over them.
    """

    records: list[Record] = field(default_factory=list)
    tokens: int = 0
    padded_tokens: int = 0


def run_gate(
    task: str,
    model: str,
    params: dict[str, Any],
    docs: Iterable[Doc],
    *,
    requested: str,
    threshold: float | None = None,
    first_docs: int = defaults.GATE_DOCS,
    max_docs: int = defaults.GATE_MAX_DOCS,
    keep: GateRecords | None = None,
    chunk_of: Callable[[int], int] | None = None,
) -> GateResult:
    """Compare fp32 and int8 on `docs`; the precision to use is in the result.

    `requested` is "int8" (fall back to fp32, with a warning, if the gate fails) or "auto"
    (pick int8 only if the gate passes). The gate reads `first_docs` documents, then more,
    `first_docs` at a time, while the interval of its agreement holds the threshold, up to
    `max_docs`; it passes when the agreement is at least the threshold. With `keep`, the
    records of the chosen precision (one per document read, errors included) are put there;
    `chunk_of(n)`, the chunk of the n-th document read, makes the gate run each chunk's
    documents apart, batched as `run` batches a chunk, so those records are the ones `run`
    would compute (int8's dynamic quantization depends on the batch).
    """
    spec = get_task(task)
    name = spec.name
    started = time.perf_counter()
    cls = pipeline_class(name)
    comparison = cls.comparison
    if not cls.runs_model:
        return GateResult(requested, "fp32", False, "", None, threshold or 0.0, 0, 0.0, "runs no model")
    if comparison is None:
        reason = f"no int8 accuracy comparison for task {name!r}"
        if requested == "int8":
            log.warning("%s: running in fp32", reason)
        return GateResult(requested, "fp32", False, "", None, threshold or 0.0, 0, 0.0, reason)
    limit = comparison.threshold if threshold is None else threshold
    stream = iter(docs)
    head_doc = next(stream, None)
    if head_doc is None:
        reason = "no documents to compare"
        if requested == "int8":
            log.warning("int8 accuracy gate: %s; running in fp32", reason)
        return GateResult(requested, "fp32", False, comparison.metric, None, limit, 0, 0.0, reason)
    fp32 = cls(engine.get_model(name, model, "fp32", params), dict(params))
    int8 = cls(engine.get_model(name, model, "int8", params), dict(params))
    # The gate's work is not the job's: keep it out of the job's counters.
    fp32.stats, int8.stats = BatchStats(), BatchStats()
    pairs: list[tuple[Record, Record]] = []
    done: dict[str, list[Record]] = {"fp32": [], "int8": []}

    def run_both(batch: list[Doc]) -> tuple[list[Record], list[Record]]:
        encoded = fp32.encode_chunk(batch)  # tokenized once, run twice
        return fp32.run_encoded(batch, encoded), int8.run_encoded(batch, encoded)

    measured = 0

    def measure(batch: list[Doc]) -> list[float]:
        nonlocal measured
        first: list[Record] = []
        second: list[Record] = []
        for group in _by_chunk(batch, measured, chunk_of):
            a, b = run_both(group)
            first += a
            second += b
        measured += len(batch)
        if keep is not None:  # both kept until the choice is made
            done["fp32"] += first
            done["int8"] += second
        both = zip(first, second, strict=True)
        new = [(a, b) for a, b in both if "error" not in a and "error" not in b]
        pairs.extend(new)
        return [comparison.compare([a], [b]) for a, b in new] if comparison.kind != "pooled" else []

    found, read = read_until_settled(
        itertools.chain([head_doc], stream),
        measure,
        kind=comparison.kind,
        threshold=limit,
        first=first_docs,
        max_docs=max(max_docs, first_docs),
    )
    value = found.value if found else comparison.compare([a for a, _ in pairs], [b for _, b in pairs])
    passed = value >= limit
    chosen = "int8" if passed else "fp32"
    reason = "" if passed else f"{comparison.metric} {value:.6f} is below {limit}"
    if not passed and requested == "int8":
        log.warning("int8 accuracy gate failed (%s): running in fp32", reason)
    engine.unload_model(name, model, "fp32" if passed else "int8", params)
    if keep is not None:
        kept_stats = (int8 if passed else fp32).stats
        keep.records = done[chosen]  # fp32 and int8 were both kept: the choice comes last
        keep.tokens, keep.padded_tokens = kept_stats.tokens, kept_stats.padded_tokens
    seconds = time.perf_counter() - started
    confident = None
    if comparison.metric == "label_agreement":
        values = [comparison.compare([a], [b]) for a, b in pairs]
        confident = confident_agreement(values, [_top_score(a) for a, _ in pairs])
    return GateResult(
        requested,
        chosen,
        passed,
        comparison.metric,
        value,
        limit,
        read,
        seconds,
        reason,
        low=found.low if found else None,
        high=found.high if found else None,
        interval=found.method if found else "",
        settled=None if found is None else not found.straddles(limit),
        confident=confident,
    )


def _by_chunk(batch: list[Doc], start: int, chunk_of: Callable[[int], int] | None) -> list[list[Doc]]:
    """The batch cut where its documents' chunk changes (whole, without `chunk_of`)."""
    if chunk_of is None:
        return [batch]
    groups: list[list[Doc]] = []
    last = None
    for n, doc in enumerate(batch, start):
        if chunk_of(n) != last or not groups:
            groups.append([])
            last = chunk_of(n)
        groups[-1].append(doc)
    return groups


def _top_score(record: Record) -> float:
    """fp32's confidence in its label: `score` for classifiers, the first of `scores` for zero-shot."""
    return float(record["score"] if "score" in record else record["scores"][0])
