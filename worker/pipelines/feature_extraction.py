"""`embed` / `feature-extraction`: one pooled, optionally normalised vector per text."""

from __future__ import annotations

import numpy as np

from nlpbatch.schema import Doc, Record
from worker.pipelines.base import Feature, Outputs, Pipeline


class FeatureExtractionPipeline(Pipeline):
    """Pools the last hidden state: mean (as sentence-transformers does), cls or max."""

    task = "embed"
    token_outputs = frozenset({"last_hidden_state"})

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        hidden = outputs[0]["last_hidden_state"].astype(np.float32)  # (tokens, dim), no padding
        pooling = self.params["pooling"]
        if pooling == "cls":
            vector = hidden[0]
        elif pooling == "max":
            vector = hidden.max(axis=0)
        else:
            vector = hidden.mean(axis=0)
        if self.params["normalize"]:
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return {"embedding": vector.astype(np.float32).tolist()}
