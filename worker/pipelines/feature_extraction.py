"""`embed` / `feature-extraction`: one pooled, optionally normalised vector per text.

With `passages` N, each document is cut into passages of at most N tokens (see
`worker.pipelines.passages`); the passages of all documents in a chunk are batched together,
by length and token budget, like documents, and the record lists them in order (the engine
then writes one record per passage: see nlpbatch.passages).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, mean_cosine, neighbour_overlap_at_10
from worker.models.head import Head
from worker.models.loader import LoadedModel
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.passages import check_passage_params, spans

#: Passages tokenized per tokenizer call.
PASSAGES_PER_CALL = 256


def pool(hidden: np.ndarray, pooling: str) -> np.ndarray:
    """One vector from a text's token vectors (tokens, dim): their mean, the first (cls) or max."""
    if pooling == "cls":
        return np.asarray(hidden[0])
    return np.asarray(hidden.max(axis=0) if pooling == "max" else hidden.mean(axis=0))


class FeatureExtractionPipeline(Pipeline):
    """Pools the last hidden state: mean (as sentence-transformers does), cls or max."""

    task = "embed"
    head = Head("feature-extraction", "AutoModel")
    comparison = Comparison(
        "cosine", mean_cosine, 0.99, "mean", also=(("neighbour_overlap_at_10", neighbour_overlap_at_10),)
    )
    token_outputs = frozenset({"last_hidden_state"})

    def __init__(self, model: LoadedModel, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        check_passage_params(self.params["passages"], self.params["overlap"], self.max_length)

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        n = self.params["passages"]
        if not n:
            return super().encode(docs)
        features: list[list[Feature]] = []
        for i, doc in enumerate(docs):
            text = doc["text"]
            cuts = spans(self.tokenizer, text, n, self.params["overlap"])
            group: list[Feature] = []
            # A few hundred passages per tokenizer call: a long document's passages never
            # have all their tokenizer objects alive at once.
            for at in range(0, len(cuts), PASSAGES_PER_CALL):
                part = cuts[at : at + PASSAGES_PER_CALL]
                enc = self.tokenizer(
                    [text[a:b] for a, b in part],
                    truncation=True,
                    max_length=n,
                    return_attention_mask=False,
                    return_token_type_ids=True,
                )
                for row, (a, b) in enumerate(part):
                    extra = {"start": a, "end": b}
                    group.append(Feature(i, enc["input_ids"][row], enc["token_type_ids"][row], extra))
            features.append(group)
        return features

    def reduce(self, feature: Feature, outputs: Outputs) -> Outputs:
        """Each text's pooled vector, kept instead of its last hidden state."""
        hidden = outputs["last_hidden_state"].astype(np.float32)  # (tokens, dim), no padding
        vector = pool(hidden, self.params["pooling"])
        if self.params["normalize"]:
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return {"vector": np.array(vector, dtype=np.float32)}  # a copy: no view into the batch

    def vector(self, outputs: Outputs) -> list[float]:
        return list(outputs["vector"].tolist())

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        if not self.params["passages"]:
            return {"embedding": self.vector(outputs[0])}
        entries = []
        for k, (feature, out) in enumerate(zip(features, outputs, strict=True)):
            start, end = feature.extra["start"], feature.extra["end"]
            entry: dict[str, Any] = {"passage": k, "start": start, "end": end}
            if self.params["passage_text"]:
                entry["text"] = doc["text"][start:end]
            entry["embedding"] = self.vector(out)
            entries.append(entry)
        return {"passages": entries}
