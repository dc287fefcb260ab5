"""`sentiment` / `text-classification`: a label and its score for each text (or pair)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import InvalidParameter
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, label_agreement
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.windows import aggregate_logits, check_window_params, window_features


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class TextClassificationPipeline(Pipeline):
    """Scores as `transformers.pipeline("text-classification")` computes them."""

    task = "sentiment"
    head = Head("text-classification", "AutoModelForSequenceClassification")
    comparison = Comparison("label_agreement", label_agreement, 0.99)

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        if (self.params["top_k"] or 0) < 0:
            raise InvalidParameter(
                f"top_k must be 0 or more (0 or none: every label), got {self.params['top_k']}"
            )
        check_window_params(self.params, self.tokenizer, self.max_length)

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        if self.params["long"] != "window":
            return super().encode(docs)
        features: list[list[Feature]] = [[] for _ in docs]
        singles = [i for i, d in enumerate(docs) if d.get("text_pair") is None]
        pairs = [i for i, d in enumerate(docs) if d.get("text_pair") is not None]
        for group, with_pair in ((singles, False), (pairs, True)):
            if group:
                texts = [docs[i]["text"] for i in group]
                second = [docs[i]["text_pair"] for i in group] if with_pair else None
                for owner, feature in window_features(
                    self.tokenizer, texts, second, group, self.max_length, self.params["stride"]
                ):
                    features[owner].append(feature)
        return features

    def score_function(self) -> str:
        chosen = str(self.params["function_to_apply"])
        if chosen != "default":
            return chosen
        # transformers' rule: sigmoid for multi-label or single-logit models, else softmax.
        if getattr(self.config, "problem_type", None) == "multi_label_classification":
            return "sigmoid"
        return "sigmoid" if self.config.num_labels == 1 else "softmax"

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        if self.params["long"] != "window":
            logits = outputs[0]["logits"].astype(np.float64)
        else:
            logits = aggregate_logits(outputs, self.params["long_aggregate"])
        fn = self.score_function()
        scores = softmax(logits) if fn == "softmax" else sigmoid(logits) if fn == "sigmoid" else logits
        record = self.record(scores)
        if self.params["long"] == "window":
            record["windows"] = len(outputs)
        return record

    def record(self, scores: np.ndarray) -> Record:
        """`label` and `score` of the best label; with `top_k` other than 1, also `predictions`."""
        best = int(np.argmax(scores))
        out: Record = {"label": self.config.id2label[best], "score": float(scores[best])}
        top_k = self.params["top_k"]
        if top_k != 1:
            # transformers' order: by score, highest first; top_k none (or 0) keeps every label.
            order = np.argsort(-scores, kind="stable")[: top_k or None]
            out["predictions"] = [
                {"label": self.config.id2label[int(i)], "score": float(scores[i])} for i in order
            ]
        return out
