"""The int8 accuracy gate: a job's own first documents, run in fp32 and in int8, compared.

Each pipeline class names its comparison (see worker.comparisons): label agreement for
classifiers, cosine for embeddings, span agreement for NER and QA. The documents are
tokenized once and the same features go through both models. A task with no comparison
never runs in int8: there is nothing to tell whether int8 is good enough.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from nlpbatch.schema import Doc
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
    if not docs:
        reason = "no documents to compare"
        if requested == "int8":
            log.warning("int8 accuracy gate: %s; running in fp32", reason)
        return GateResult(requested, "fp32", False, comparison.metric, None, limit, 0, 0.0, reason)
    fp32 = cls(engine.get_model(name, model, "fp32", params), dict(params))
    int8 = cls(engine.get_model(name, model, "int8", params), dict(params))
    # The gate's work is not the job's: keep it out of the job's counters.
    fp32.stats, int8.stats = BatchStats(), BatchStats()
    encoded = fp32.encode_chunk(docs)  # tokenized once, run twice
    value = comparison.compare(fp32.run_encoded(docs, encoded), int8.run_encoded(docs, encoded))
    passed = value >= limit
    chosen = "int8" if passed else "fp32"
    reason = "" if passed else f"{comparison.metric} {value:.6f} is below {limit}"
    if not passed and requested == "int8":
        log.warning("int8 accuracy gate failed (%s): running in fp32", reason)
    engine.unload_model(name, model, "fp32" if passed else "int8", params)
    seconds = time.perf_counter() - started
    return GateResult(requested, chosen, passed, comparison.metric, value, limit, len(docs), seconds, reason)
