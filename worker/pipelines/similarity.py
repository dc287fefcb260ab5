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
from nlpbatch.tasks import TaskSpec
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.text_classification import sigmoid, softmax

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
    # A cross-encoder's `logits` have no sequence axis, so this is right for both modes.
    token_outputs = frozenset({"last_hidden_state"})

    @classmethod
    def export_task_for(cls, spec: TaskSpec, model: str, params: dict[str, Any]) -> str:
        mode = choose_mode(model, str(params.get("mode", "auto")))
        return "text-classification" if mode == CROSS else "feature-extraction"

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
        a, b = (self.pool(o["last_hidden_state"].astype(np.float64)) for o in outputs)
        cosine = float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
        return {"score": cosine}

    def pool(self, hidden: np.ndarray) -> np.ndarray:
        """One vector per text, pooled as `embed` pools it."""
        pooling = self.params["pooling"]
        if pooling == "cls":
            return hidden[0]
        return hidden.max(axis=0) if pooling == "max" else hidden.mean(axis=0)
