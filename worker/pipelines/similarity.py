"""`similarity` / `sentence-similarity`: one score per (`text`, `text_pair`) pair.

Two kinds of model give it. A cross-encoder (a sequence-pair classifier, like an MRPC
paraphrase model) reads both texts at once: the score is the probability of its last label
(`equivalent` for MRPC), or the sigmoid of a single logit. A bi-encoder (any other model,
such as all-MiniLM-L6-v2) embeds each text on its own: the score is the cosine of the two
pooled vectors. `mode=auto` picks by the model's config.json: a `*ForSequenceClassification`
architecture means a cross-encoder.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from nlpbatch.modelref import resolve
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, score_agreement
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.feature_extraction import FeatureExtractionPipeline, pool
from worker.pipelines.text_classification import TextClassificationPipeline, sigmoid, softmax

CROSS, BI = "cross-encoder", "bi-encoder"


def choose_mode(model: str, mode: str) -> str:
    """`mode` itself, or for `auto` what the model's config says it is."""
    if mode != "auto":
        return mode
    try:
        config = json.loads((resolve(model).path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return BI
    architectures = config.get("architectures") or []
    return CROSS if any(a.endswith("ForSequenceClassification") for a in architectures) else BI


class SimilarityPipeline(Pipeline):
    """`score` for each pair; a cross-encoder also gives its best `label`."""

    task = "similarity"
    #: The bi-encoder's; `head_for` picks the cross-encoder's for a sequence-pair classifier.
    head = FeatureExtractionPipeline.head
    comparison = Comparison("score_within_0.02", score_agreement, 0.99)
    # A cross-encoder's `logits` have no sequence axis, so this is right for both modes.
    token_outputs = frozenset({"last_hidden_state"})

    @classmethod
    def head_for(cls, model: str, params: dict[str, Any]) -> Head | None:
        mode = choose_mode(model, str(params.get("mode", "auto")))
        return TextClassificationPipeline.head if mode == CROSS else FeatureExtractionPipeline.head

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        self.mode = choose_mode(str(model.source.ref), self.params["mode"])

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        if self.mode == CROSS:
            return super().encode(docs)
        texts = [t for d in docs for t in (d["text"], d["text_pair"])]
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=True,
        )
        return [
            [Feature(i, enc["input_ids"][2 * i + k], enc["token_type_ids"][2 * i + k]) for k in (0, 1)]
            for i in range(len(docs))
        ]

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        if self.mode == CROSS:
            logits = outputs[0]["logits"].astype(np.float64)
            if len(logits) == 1:
                return {"score": float(sigmoid(logits)[0]), "label": self.config.id2label[0]}
            probs = softmax(logits)
            best = int(np.argmax(probs))
            return {"score": float(probs[-1]), "label": self.config.id2label[best]}
        pooling = self.params["pooling"]  # as `embed` pools
        a, b = (pool(o["last_hidden_state"].astype(np.float64), pooling) for o in outputs)
        cosine = float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
        return {"score": cosine}
