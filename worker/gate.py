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
from nlpbatch.modelref import resolve
from nlpbatch.schema import ChunkMessage, Doc, Record, without_kept
from worker import tuning
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
    #: Each precision's own share of `model_seconds`, on the same features and batches.
    fp32_seconds: float = 0.0
    int8_seconds: float = 0.0
    #: fp32's time over int8's: above 1, int8 ran faster on this CPU. None: not timed.
    speedup: float | None = None
    #: Why the precision run differs from what the accuracy verdict alone would give.
    why: str = ""
    #: The CPU the figures were measured on (see worker.tuning.describe_cpu).
    cpu: str = ""
    #: When the verdict was measured, for one reused from the home's `verdicts/`; "" if measured now.
    reused_from: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("value", "low", "high"):
            if out[name] is not None:
                out[name] = round(out[name], 6)
        if self.also:
            out["also"] = {k: round(v, 6) for k, v in self.also.items()}
        for name in ("model_seconds", "fp32_seconds", "int8_seconds"):
            out[name] = round(out[name], 3)
        if self.speedup is not None:
            out["speedup"] = round(self.speedup, 3)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


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
        self.seconds = {"fp32": 0.0, "int8": 0.0}
        self.groups = 0

    @property
    def model_seconds(self) -> float:
        return self.seconds["fp32"] + self.seconds["int8"]

    @property
    def speedup(self) -> float | None:
        fp32, int8 = self.seconds["fp32"], self.seconds["int8"]
        return fp32 / int8 if fp32 > 0 and int8 > 0 else None

    def __call__(self, batch: list[Placed]) -> list[float]:
        """Run a batch of the gate's documents in both precisions; their per-document values."""
        new: list[tuple[Record, Record]] = []
        for index, group in itertools.groupby(batch, key=lambda placed: placed[0]):
            placed = list(group)
            docs, positions = [d for _, _, d in placed], [p for _, p, _ in placed]
            encoded = self.fp32.encode_chunk(docs)  # tokenized once, run twice
            order = [("fp32", self.fp32), ("int8", self.int8)]
            # Alternate which runs first, so that neither is always timed cold (a session's first
            # run allocates its memory arena) or always after the other has warmed the caches.
            if self.groups % 2:
                order.reverse()
            self.groups += 1
            ran: dict[str, list[Record]] = {}
            for precision, pipe in order:
                pipe.stats = BatchStats()
                began = time.perf_counter()
                ran[precision] = pipe.run_encoded(docs, encoded)
                self.seconds[precision] += time.perf_counter() - began
                self.kept[precision].add(index, positions, ran[precision], pipe.stats)
            runs = [ran["fp32"], ran["int8"]]
            new += [(a, b) for a, b in zip(*runs, strict=True) if "error" not in a and "error" not in b]
        self.pairs += new
        compare = self.comparison.compare
        return [compare([a], [b]) for a, b in new] if self.comparison.kind != "pooled" else []


def decide(
    engine: Engine,
    messages: Iterator[ChunkMessage],
    options: GateOptions,
    *,
    requested: str,
    reuse: bool = True,
    keep_unsettled: bool = False,
) -> Decision:
    """Compare fp32 and int8 on the first documents of `messages`; the precision to use and more.

    `requested` is "int8" (fall back to fp32, with a warning, if the gate fails) or "auto"
    (pick int8 only if the gate passes). The gate reads `options.docs` documents, then more,
    as many at a time, while the interval of its agreement holds the threshold, up to
    `options.max_docs`; it passes when the agreement is at least the threshold. The chunks
    are read ahead only as far as the gate reads, and handed back unchanged but for their
    precision, so a corpus on stdin is read only once.

    The gate also times both precisions, and `auto` takes int8 only where it is faster on
    this CPU (see worker.tuning). The verdict is kept per model, task, parameters, CPU and
    library versions, and a later job with the same key reuses it without reading any
    document twice; `reuse=False` measures again (and keeps the new verdict). A verdict whose
    interval still held the pass mark after the most documents the gate reads is kept only
    with `keep_unsettled` (`nlpbatch models tune`): a job measures such a model again.
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
        key = _verdict_key(engine, head, limit)
        kept = tuning.load(engine.cache, key) if reuse and key is not None else None
        if kept is not None:
            result = _reused(GateResult.from_dict(kept["gate"]), requested, str(kept.get("measured_at", "")))
        else:
            measured = _measure(engine, head, sample(), comparison, limit, options, requested, started)
            result, computed = measured
            if key is not None and result.docs and (keep_unsettled or result.settled is not False):
                tuning.save(engine.cache, key, result.to_dict())
    chosen = result.precision
    every = (dataclasses.replace(m, precision=chosen) for m in itertools.chain(ahead, rest))
    return Decision(chosen, result, every, computed)


def _measure(
    engine: Engine,
    head: ChunkMessage,
    placed: Iterator[Placed],
    comparison: Comparison,
    limit: float,
    options: GateOptions,
    requested: str,
    started: float,
) -> tuple[GateResult, dict[int, Precomputed]]:
    """Run the gate's documents in both precisions; its result and the chosen records by chunk."""
    both = _Both(engine, head, comparison)
    found, read = read_until_settled(
        placed, both, kind=comparison.kind, threshold=limit, first=options.docs,
        max_docs=max(options.max_docs, options.docs),
    )  # fmt: skip
    pairs = both.pairs
    if read == 0:
        reason = "no documents to compare"
        if requested == "int8":
            log.warning("int8 accuracy gate: %s; running in fp32", reason)
        return GateResult(requested, "fp32", False, comparison.metric, None, limit, 0, 0.0, reason), {}
    value = found.value if found else comparison.compare([a for a, _ in pairs], [b for _, b in pairs])
    passed = value >= limit
    reason = "" if passed else f"{comparison.metric} {value:.6f} is below {limit}"
    if not passed and requested == "int8":
        log.warning("int8 accuracy gate failed (%s): running in fp32", reason)
    chosen, why = tuning.speed_choice(requested, passed, both.speedup)
    engine.unload(head.task, head.model, "int8" if chosen == "fp32" else "fp32", head.params)
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
        also={name: f([a for a, _ in pairs], [b for _, b in pairs]) for name, f in comparison.also} or None,
        model_seconds=both.model_seconds,
        fp32_seconds=both.seconds["fp32"],
        int8_seconds=both.seconds["int8"],
        speedup=both.speedup,
        why=why,
        cpu=tuning.describe_cpu(),
    )  # fmt: skip
    _warn_if_slower(result)
    return result, both.kept[chosen].by_chunk()


def _reused(kept: GateResult, requested: str, measured_at: str) -> GateResult:
    """A kept verdict applied to this job: the precision it gives for `requested`, no time spent."""
    chosen, why = tuning.speed_choice(requested, kept.passed, kept.speedup)
    if not kept.passed and requested == "int8":
        log.warning("int8 accuracy gate failed on this model before (%s): running in fp32", kept.reason)
    result = dataclasses.replace(
        kept, requested=requested, precision=chosen, why=why, seconds=0.0,
        reused_from=measured_at or "earlier",
    )  # fmt: skip
    log.info("int8 gate: reusing the verdict measured %s on this machine", result.reused_from)
    _warn_if_slower(result)
    return result


def _warn_if_slower(result: GateResult) -> None:
    if result.precision == "int8" and result.speedup is not None and result.speedup < 1.0:
        log.warning(
            "int8 runs at %.2fx fp32's speed on this CPU (%s): running int8 as asked; "
            "--precision auto would run fp32",
            result.speedup,
            result.cpu or tuning.describe_cpu(),
        )


def _verdict_key(engine: Engine, head: ChunkMessage, limit: float) -> tuning.VerdictKey | None:
    """What a kept verdict for this job must match; None for a model that cannot be resolved."""
    try:
        source = resolve(head.model, download=False)
    except Exception:  # the gate itself reports a model that cannot be loaded
        return None
    return tuning.verdict_key(
        content_key=source.content_key,
        model=head.model,
        task=head.task,
        params=dict(head.params),
        backend=engine.backend,
        threads=engine.threads,
        threshold=limit,
    )


def _top_score(record: Record) -> float:
    """fp32's confidence in its label: `score` for classifiers, the first of `scores` for zero-shot."""
    return float(record["score"] if "score" in record else record["scores"][0])
