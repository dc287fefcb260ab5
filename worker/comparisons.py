"""How the int8 accuracy gate compares a task's fp32 and int8 records; pipelines name theirs.

Label agreement for classifiers, cosine for embeddings, span agreement for NER and QA, and
for generation only the same text counts (decoding amplifies small differences); the share of
tokens that agree is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlpbatch.schema import Record


def label_agreement(fp32: list[Record], int8: list[Record]) -> float:
    """Share of documents whose label is the same in both precisions."""
    pairs = _good(fp32, int8)
    return sum(a["label"] == b["label"] for a, b in pairs) / len(pairs) if pairs else 1.0


def _embeddings(record: Record) -> list[Any]:
    """A record's embedding, or each of its passages' (`embed` with `passages`), in order."""
    entries = record.get("passages")
    return [e["embedding"] for e in entries] if isinstance(entries, list) else [record["embedding"]]


def mean_cosine(fp32: list[Record], int8: list[Record]) -> float:
    """Mean cosine similarity between each document's (or passage's) two embeddings."""
    sims = []
    for a, b in zip(fp32, int8, strict=True):
        if "error" in a or "error" in b:
            continue
        for x, y in zip(_embeddings(a), _embeddings(b), strict=True):
            u, v = np.asarray(x, np.float64), np.asarray(y, np.float64)
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


def token_agreement(field: str) -> Callable[[list[Record], list[Record]], float]:
    """Generation: share of whitespace-token positions where both precisions wrote the same token.

    Pooled over the documents: matches at the same position over the longer text's length, so
    a dropped, added or changed word lowers it, and one early divergence lowers it a lot.
    """

    def agreement(fp32: list[Record], int8: list[Record]) -> float:
        same = total = 0
        for a, b in _good(fp32, int8):
            ta, tb = str(a.get(field, "")).split(), str(b.get(field, "")).split()
            same += sum(x == y for x, y in zip(ta, tb, strict=False))
            total += max(len(ta), len(tb))
        return same / total if total else 1.0

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
    #: "share", "mean" or "pooled": which interval the gate gives it (see worker.gate_stats).
    kind: str = "share"
    #: Further figures reported beside the one that decides, by name (never the pass mark).
    also: tuple[tuple[str, Callable[[list[Record], list[Record]], float]], ...] = ()


def text_comparison(field: str) -> Comparison:
    """Generation: the share of identical texts decides (0.99); token agreement is reported too."""
    return Comparison(
        "text_agreement", field_agreement(field), 0.99, also=(("token_agreement", token_agreement(field)),)
    )


def top_k_overlap(fp32: np.ndarray, int8: np.ndarray, k: int = 10) -> float:
    """Mean share of each vector's k nearest others (by cosine) that are the same in both precisions.

    What a user of the vectors sees: the neighbours a search or a clustering would return.
    With n vectors, each has at most n - 1 others, so k is capped at that; 1.0 for fewer than 2.
    """
    a, b = _unit(np.asarray(fp32, np.float64)), _unit(np.asarray(int8, np.float64))
    n = len(a)
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    overlap = 0
    for start in range(0, n, 512):  # n x n similarities, 512 rows at a time
        rows = slice(start, min(start + 512, n))
        near = []
        for vectors in (a, b):
            sims = vectors[rows] @ vectors.T
            sims[np.arange(sims.shape[0]), np.arange(rows.start, rows.stop)] = -np.inf  # not itself
            near.append(np.argpartition(-sims, k - 1, axis=1)[:, :k])
        overlap += sum(len(set(x) & set(y)) for x, y in zip(near[0].tolist(), near[1].tolist(), strict=True))
    return overlap / (n * k)


def neighbour_overlap_at_10(fp32: list[Record], int8: list[Record]) -> float:
    """embed: how many of each text's ten nearest neighbours among the gate's texts int8 keeps.

    Reported beside the mean cosine: a search or a clustering over the vectors sees this.
    Passage records count each passage as a vector.
    """
    a, b = [], []
    for x, y in _good(fp32, int8):
        if "embedding" in x and "embedding" in y:
            a.append(x["embedding"])
            b.append(y["embedding"])
        elif "passages" in x and "passages" in y and len(x["passages"]) == len(y["passages"]):
            a += [p["embedding"] for p in x["passages"]]
            b += [p["embedding"] for p in y["passages"]]
    return top_k_overlap(np.asarray(a, np.float64), np.asarray(b, np.float64), 10) if a else 1.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
