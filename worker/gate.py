"""The int8 accuracy gate: a job's own first documents, run in fp32 and in int8, compared.

Each pipeline class names its comparison (see worker.comparisons): label agreement for
classifiers, cosine for embeddings, span agreement for NER and QA. The documents are
tokenized once and the same features go through both models, each chunk's documents apart
and batched as a chunk is, so the records of the precision chosen are the very records the
job would compute: they are handed back, by chunk, to be written instead of computed again.
A task with no comparison never runs in int8: there is nothing to tell whether int8 is good
enough. The gate reads more of the job's documents while its confidence interval still holds
the threshold (see worker.gate_stats).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nlpbatch.chunkresult import Decision, Precomputed
from nlpbatch.gating import GateOptions
from nlpbatch.schema import ChunkMessage, Doc, Record, without_kept
from worker.comparisons import Comparison
from worker.gate_stats import confident_agreement, read_until_settled
from worker.pipelines import pipeline_class
from worker.pipelines.base import BatchStats

if TYPE_CHECKING:
    from worker.engine import Engine

log = logging.getLogger("nlpbatch.gate")

#: A document the gate reads: (its chunk, its position in the chunk, the document).
Placed = tuple[int, int, Doc]


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
    #: Figures reported beside `value` (generation: token_agreement), by name.
    also: dict[str, float] | None = None
    #: Seconds both precisions' models spent computing the gate's documents (no loading).
    model_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("value", "low", "high"):
            if out[name] is not None:
                out[name] = round(out[name], 6)
        if self.also:
            out["also"] = {k: round(v, 6) for k, v in self.also.items()}
        out["model_seconds"] = round(self.model_seconds, 3)
        return out


class _Kept:
    """One precision's records of the documents the gate read, by chunk, and their token counts."""

    def __init__(self) -> None:
        self.records: dict[int, dict[int, Record]] = {}
        self.tokens: dict[int, list[int]] = {}

    def add(self, index: int, positions: list[int], records: list[Record], stats: BatchStats) -> None:
        self.records.setdefault(index, {}).update(zip(positions, records, strict=True))
        counts = self.tokens.setdefault(index, [0, 0])
        counts[0] += stats.tokens
        counts[1] += stats.padded_tokens

    def by_chunk(self) -> dict[int, Precomputed]:
        return {i: Precomputed(r, *self.tokens[i]) for i, r in self.records.items()}


class _Both:
    """fp32 and int8 over the same features, a chunk's documents at a time; what each computed."""

    def __init__(self, engine: Engine, msg: ChunkMessage, comparison: Comparison) -> None:
        self.fp32 = engine.pipeline(msg.task, msg.model, "fp32", msg.params)
        self.int8 = engine.pipeline(msg.task, msg.model, "int8", msg.params)
        self.comparison = comparison
        self.kept = {"fp32": _Kept(), "int8": _Kept()}
        self.pairs: list[tuple[Record, Record]] = []
        self.model_seconds = 0.0

    def __call__(self, batch: list[Placed]) -> list[float]:
        """Run a batch of the gate's documents in both precisions; their per-document values."""
        new: list[tuple[Record, Record]] = []
        for index, group in itertools.groupby(batch, key=lambda placed: placed[0]):
            placed = list(group)
            docs, positions = [d for _, _, d in placed], [p for _, p, _ in placed]
            began = time.perf_counter()
            encoded = self.fp32.encode_chunk(docs)  # tokenized once, run twice
            runs = []
            for precision, pipe in (("fp32", self.fp32), ("int8", self.int8)):
                pipe.stats = BatchStats()
                runs.append(pipe.run_encoded(docs, encoded))
                self.kept[precision].add(index, positions, runs[-1], pipe.stats)
            self.model_seconds += time.perf_counter() - began
            new += [(a, b) for a, b in zip(*runs, strict=True) if "error" not in a and "error" not in b]
        self.pairs += new
        compare = self.comparison.compare
        return [compare([a], [b]) for a, b in new] if self.comparison.kind != "pooled" else []


def decide(
    engine: Engine, messages: Iterator[ChunkMessage], options: GateOptions, *, requested: str
) -> Decision:
    """Compare fp32 and int8 on the first documents of `messages`; the precision to use and more.

    `requested` is "int8" (fall back to fp32, with a warning, if the gate fails) or "auto"
    (pick int8 only if the gate passes). The gate reads `options.docs` documents, then more,
    as many at a time, while the interval of its agreement holds the threshold, up to
    `options.max_docs`; it passes when the agreement is at least the threshold. The chunks
    are read ahead only as far as the gate reads, and handed back unchanged but for their
    precision, so a corpus on stdin is read only once.
    """
    started = time.perf_counter()
    ahead: list[ChunkMessage] = []
    head = next(messages, None)
    rest = itertools.chain([head] if head else [], messages)

    def sample() -> Iterator[Placed]:
        # A chunk is kept as soon as the gate starts on it, whether or not it reads it all.
        for msg in rest:
            ahead.append(msg)
            for pos, doc in enumerate(without_kept(msg.docs)[0]):
                if "error" not in doc:
                    yield msg.index, pos, doc

    threshold = options.threshold
    computed: dict[int, Precomputed] = {}
    cls = pipeline_class(head.task) if head else None
    if head is None or cls is None or not cls.runs_model or cls.comparison is None:
        reason = (
            "no documents to compare"
            if head is None
            else (
                "runs no model"
                if not cls or not cls.runs_model
                else f"no int8 accuracy comparison for task {head.task!r}"
            )
        )
        if requested == "int8" and reason != "runs no model":
            log.warning("int8 accuracy gate: %s; running in fp32", reason)
        result = GateResult(requested, "fp32", False, "", None, threshold or 0.0, 0, 0.0, reason)
    else:
        comparison = cls.comparison
        limit = comparison.threshold if threshold is None else threshold
        both = _Both(engine, head, comparison)
        found, read = read_until_settled(
            sample(), both, kind=comparison.kind, threshold=limit, first=options.docs,
            max_docs=max(options.max_docs, options.docs),
        )  # fmt: skip
        pairs = both.pairs
        if read == 0:
            reason = "no documents to compare"
            if requested == "int8":
                log.warning("int8 accuracy gate: %s; running in fp32", reason)
            result = GateResult(requested, "fp32", False, comparison.metric, None, limit, 0, 0.0, reason)
        else:
            value = found.value if found else comparison.compare([a for a, _ in pairs], [b for _, b in pairs])
            passed = value >= limit
            chosen = "int8" if passed else "fp32"
            reason = "" if passed else f"{comparison.metric} {value:.6f} is below {limit}"
            if not passed and requested == "int8":
                log.warning("int8 accuracy gate failed (%s): running in fp32", reason)
            engine.unload(head.task, head.model, "fp32" if passed else "int8", head.params)
            computed = both.kept[chosen].by_chunk()
            confident = None
            if comparison.metric == "label_agreement":
                values = [comparison.compare([a], [b]) for a, b in pairs]
                confident = confident_agreement(values, [_top_score(a) for a, _ in pairs])
            result = GateResult(
                requested, chosen, passed, comparison.metric, value, limit, read,
                time.perf_counter() - started, reason,
                low=found.low if found else None,
                high=found.high if found else None,
                interval=found.method if found else "",
                settled=None if found is None else not found.straddles(limit),
                confident=confident,
                also={name: f([a for a, _ in pairs], [b for _, b in pairs]) for name, f in comparison.also}
                or None,
                model_seconds=both.model_seconds,
            )  # fmt: skip
    chosen = result.precision
    every = (dataclasses.replace(m, precision=chosen) for m in itertools.chain(ahead, rest))
    return Decision(chosen, result, every, computed)


def _top_score(record: Record) -> float:
    """fp32's confidence in its label: `score` for classifiers, the first of `scores` for zero-shot."""
    return float(record["score"] if "score" in record else record["scores"][0])
