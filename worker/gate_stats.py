"""How sure the int8 gate is: a confidence interval on its agreement, and when to read more.

The gate compares fp32 and int8 on a sample of the job's documents. Its agreement is an
estimate, and near the pass mark a sample of a few hundred decides by luck: at 0.99 and 256
documents one standard error is about 0.6 points. So the gate reads more documents while
the 95% interval still contains the threshold, and reports the interval with its decision.

Intervals by kind of metric:
- "share" (the share of documents that agree: labels, spans, tokens, texts): the Wilson
  score interval, which stays inside [0, 1] and is sound near 0 and 1 where the normal
  approximation is not.
- "mean" (a mean of per-document values, such as cosine): the normal approximation,
  mean +- z * standard error over the per-document values.
- "pooled" (a figure pooled over all documents, such as NER span F1): no interval; the gate
  reads its first documents only and decides on the figure itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from statistics import NormalDist
from typing import TypeVar

from nlpbatch import defaults

#: What the gate reads: documents, or documents with where they sit in the job.
T = TypeVar("T")

#: Two-sided 95%.
CONFIDENCE = 0.95
#: fp32 top scores above this make a document "confident".
CONFIDENT_SCORE = 0.8
KINDS = ("share", "mean", "pooled")


def z_value(confidence: float = CONFIDENCE) -> float:
    """The normal quantile of a two-sided interval at `confidence` (1.96 for 95%)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion `successes / n`; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def normal_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """mean +- z * standard error over per-document values; the mean itself for one value."""
    n = len(values)
    if n == 0:
        return 0.0, 1.0
    mean = math.fsum(values) / n
    if n == 1:
        return mean, mean
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = z_value(confidence) * math.sqrt(variance / n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Estimate:
    """The gate's agreement over `docs` documents, with its interval (None for pooled figures)."""

    value: float
    docs: int
    low: float | None
    high: float | None
    method: str

    def straddles(self, threshold: float) -> bool:
        """True while the interval holds the threshold: more documents could change the decision."""
        if self.low is None or self.high is None:
            return False
        return self.low < threshold <= self.high


def estimate(kind: str, values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The mean of per-document values (share or mean kinds) with the interval its kind calls for."""
    if kind not in KINDS or kind == "pooled":
        raise ValueError(f"no per-document estimate for a {kind!r} metric; kinds: share, mean")
    n = len(values)
    value = math.fsum(values) / n if n else 1.0
    if kind == "share":
        low, high = wilson_interval(value * n, n, confidence)
        return Estimate(value, n, low, high, "wilson")
    low, high = normal_interval(values, confidence)
    return Estimate(value, n, low, high, "normal")


def read_until_settled(
    docs: Iterator[T],
    measure: Callable[[list[T]], list[float]],
    *,
    kind: str,
    threshold: float,
    first: int,
    max_docs: int = defaults.GATE_MAX_DOCS,
) -> tuple[Estimate | None, int]:
    """(the estimate, documents read): `first` documents, then as many again while the
    interval straddles `threshold`, up to `max_docs` in all.

    `measure` compares a batch and returns its per-document values (those it could compare).
    A pooled metric has no interval: only the first documents are read, and the estimate is None.
    """
    read = 0
    values: list[float] = []
    batch = list(islice(docs, min(first, max_docs)))
    while batch:
        values += measure(batch)
        read += len(batch)
        if kind == "pooled":
            return None, read
        result = estimate(kind, values)
        if read >= max_docs or not result.straddles(threshold):
            return result, read
        batch = list(islice(docs, min(first, max_docs - read)))
    return (estimate(kind, values) if read and kind != "pooled" else None), read


def confident_agreement(
    values: Sequence[float], scores: Sequence[float], cutoff: float = CONFIDENT_SCORE
) -> dict[str, float | int | None]:
    """Agreement among documents whose fp32 top score is above `cutoff`, and how many there were.

    Low-confidence documents are where int8 flips labels; this figure says whether it also
    flips the ones fp32 is sure of.
    """
    kept = [v for v, s in zip(values, scores, strict=True) if s > cutoff]
    value = math.fsum(kept) / len(kept) if kept else None
    return {"score_above": cutoff, "docs": len(kept), "value": None if value is None else round(value, 6)}
