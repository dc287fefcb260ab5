"""The int8 accuracy gate: a job's own first documents, run in fp32 and in int8, compared.

Each task plugs in one comparison: label agreement for classifiers, cosine for embeddings,
span agreement for NER and QA. The gate reads more of the job's documents while its
confidence interval still holds the threshold (see worker.gate_stats).
The documents are tokenized once and the same features go through both models. A task with
no comparison never runs in int8: there is nothing to tell whether int8 is good enough.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nlpbatch.schema import Doc, Record
from nlpbatch.tasks import get_task
from worker import engine
from worker.gate_stats import GATE_MAX_DOCS, confident_agreement, read_until_settled
from worker.pipelines import pipeline_class
from worker.pipelines.base import BatchStats

log = logging.getLogger("nlpbatch.gate")

GATE_DOCS = 256


def label_agreement(fp32: list[Record], int8: list[Record]) -> float:
    """Share of documents whose label is the same in both precisions."""
    pairs = _good(fp32, int8)
    return sum(a["label"] == b["label"] for a, b in pairs) / len(pairs) if pairs else 1.0


def mean_cosine(fp32: list[Record], int8: list[Record]) -> float:
    """Mean cosine similarity between each document's two embeddings."""
    sims = []
    for a, b in zip(fp32, int8, strict=True):
        if "error" in a or "error" in b:
            continue
        u, v = np.asarray(a["embedding"], np.float64), np.asarray(b["embedding"], np.float64)
        norms = float(np.linalg.norm(u) * np.linalg.norm(v))
        sims.append(float(u @ v) / max(norms, 1e-12))
    return float(np.mean(sims)) if sims else 1.0


def _spans(record: Record) -> set[tuple[Any, ...]]:
    return {(e.get("entity_group", e.get("entity")), e["start"], e["end"]) for e in record["entities"]}


def span_agreement(fp32: list[Record], int8: list[Record]) -> float:
    """NER: F1 between the two precisions' entity spans (label, start, end), over all documents."""
    same = total = 0
    for a, b in zip(fp32, int8, strict=True):
        if "error" in a or "error" in b:
            continue
        sa, sb = _spans(a), _spans(b)
        same += 2 * len(sa & sb)
        total += len(sa) + len(sb)
    return same / total if total else 1.0


def field_agreement(*fields: str) -> Callable[[list[Record], list[Record]], float]:
    """Share of documents where these fields are equal in both precisions."""

    def agreement(fp32: list[Record], int8: list[Record]) -> float:
        pairs = _good(fp32, int8)
        same = sum(all(a.get(f) == b.get(f) for f in fields) for a, b in pairs)
        return same / len(pairs) if pairs else 1.0

    return agreement


def top_label_agreement(fp32: list[Record], int8: list[Record]) -> float:
    """zero-shot: share of documents whose best candidate label is the same."""
    pairs = _good(fp32, int8)
    return sum(a["labels"][0] == b["labels"][0] for a, b in pairs) / len(pairs) if pairs else 1.0


def score_agreement(fp32: list[Record], int8: list[Record], tolerance: float = 0.02) -> float:
    """similarity: share of pairs whose score moved by at most `tolerance`."""
    pairs = _good(fp32, int8)
    return sum(abs(a["score"] - b["score"]) <= tolerance for a, b in pairs) / len(pairs) if pairs else 1.0


def _good(fp32: list[Record], int8: list[Record]) -> list[tuple[Record, Record]]:
    return [(a, b) for a, b in zip(fp32, int8, strict=True) if "error" not in a and "error" not in b]


@dataclass(frozen=True)
class Comparison:
    """How a task's fp32 and int8 records are compared, and the default pass mark."""

    metric: str
    compare: Callable[[list[Record], list[Record]], float]
    threshold: float
    #: "share", "mean" or "pooled": which interval it gets (see worker.gate_stats).
    kind: str = "share"


#: One entry per task that may run in int8; new tasks add theirs here.
COMPARISONS: dict[str, Comparison] = {
    "sentiment": Comparison("label_agreement", label_agreement, 0.99),
    "embed": Comparison("cosine", mean_cosine, 0.99, "mean"),
    "ner": Comparison("span_agreement", span_agreement, 0.99, "pooled"),
    "qa": Comparison("span_agreement", field_agreement("start", "end"), 0.99),
    "zero-shot": Comparison("label_agreement", top_label_agreement, 0.99),
    "fill-mask": Comparison("token_agreement", field_agreement("token"), 0.99),
    "similarity": Comparison("score_within_0.02", score_agreement, 0.99),
    # Decoding amplifies small differences: only the same text counts as agreement.
    "summarize": Comparison("text_agreement", field_agreement("summary_text"), 0.99),
    "translate": Comparison("text_agreement", field_agreement("translation_text"), 0.99),
    "generate": Comparison("text_agreement", field_agreement("generated_text"), 0.99),
}


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


def run_gate(
    task: str,
    model: str,
    params: dict[str, Any],
    docs: Iterable[Doc],
    *,
    requested: str,
    threshold: float | None = None,
    first_docs: int = GATE_DOCS,
    max_docs: int = GATE_MAX_DOCS,
) -> GateResult:
    """Compare fp32 and int8 on `docs`; the precision to use is in the result.

    `requested` is "int8" (fall back to fp32, with a warning, if the gate fails) or "auto"
    (pick int8 only if the gate passes). The gate reads `first_docs` documents, then more,
    `first_docs` at a time, while the interval of its agreement holds the threshold, up to
    `max_docs`; it passes when the agreement is at least the threshold.
    """
    spec = get_task(task)
    name = spec.name
    started = time.perf_counter()
    cls = pipeline_class(name)
    comparison = COMPARISONS.get(name)
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
    head = cls.export_task_for(spec, model, dict(params))
    fp32 = cls(engine.get_model(name, model, "fp32", head), dict(params))
    int8 = cls(engine.get_model(name, model, "int8", head), dict(params))
    # The gate's work is not the job's: keep it out of the job's counters.
    fp32.stats, int8.stats = BatchStats(), BatchStats()
    pairs: list[tuple[Record, Record]] = []

    def measure(batch: list[Doc]) -> list[float]:
        encoded = fp32.encode_chunk(batch)  # tokenized once, run twice
        new = _good(fp32.run_encoded(batch, encoded), int8.run_encoded(batch, encoded))
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
    engine.unload_model(name, model, "fp32" if passed else "int8", head)
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


def _top_score(record: Record) -> float:
    """fp32's confidence in its label: `score` for classifiers, the first of `scores` for zero-shot."""
    return float(record["score"] if "score" in record else record["scores"][0])
