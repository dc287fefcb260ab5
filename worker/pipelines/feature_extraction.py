"""`embed` / `feature-extraction`: one pooled, optionally normalised vector per text."""

from __future__ import annotations

import numpy as np

from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, mean_cosine
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline


def pool(hidden: np.ndarray, pooling: str) -> np.ndarray:
    """One vector from a text's token vectors (tokens, dim): their mean, the first (cls) or max."""
    if pooling == "cls":
        return np.asarray(hidden[0])
    return np.asarray(hidden.max(axis=0) if pooling == "max" else hidden.mean(axis=0))


class FeatureExtractionPipeline(Pipeline):
    """Pools the last hidden state: mean (as sentence-transformers does), cls or max."""

    task = "embed"
    head = Head("feature-extraction", "AutoModel")
    comparison = Comparison("cosine", mean_cosine, 0.99, "mean")
    token_outputs = frozenset({"last_hidden_state"})

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        hidden = outputs[0]["last_hidden_state"].astype(np.float32)  # (tokens, dim), no padding
        vector = pool(hidden, self.params["pooling"])
        if self.params["normalize"]:
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return {"embedding": vector.astype(np.float32).tolist()}
