"""`sentiment` / `text-classification`: a label and its score for each text (or pair)."""

from __future__ import annotations

import numpy as np

from nlpbatch.schema import Doc, Record
from worker.pipelines.base import Feature, Outputs, Pipeline


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class TextClassificationPipeline(Pipeline):
    """Scores as `transformers.pipeline("text-classification")` computes them."""

    task = "sentiment"

    def score_function(self) -> str:
        chosen = str(self.params["function_to_apply"])
        if chosen != "default":
            return chosen
        # transformers' rule: sigmoid for multi-label or single-logit models, else softmax.
        if getattr(self.config, "problem_type", None) == "multi_label_classification":
            return "sigmoid"
        return "sigmoid" if self.config.num_labels == 1 else "softmax"

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        logits = outputs[0]["logits"].astype(np.float64)
        fn = self.score_function()
        scores = softmax(logits) if fn == "softmax" else sigmoid(logits) if fn == "sigmoid" else logits
        best = int(np.argmax(scores))
        return {"label": self.config.id2label[best], "score": float(scores[best])}
