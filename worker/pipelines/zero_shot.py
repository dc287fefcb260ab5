"""`zero-shot` / `zero-shot-classification`: candidate labels scored by an NLI model's entailment.

Each (text, hypothesis) pair, the hypothesis being `hypothesis_template` filled with a label,
is one model input. As in transformers: by default the entailment logits are softmaxed across
the labels; with `multi_label` (or a single label) each label's entailment is softmaxed
against its contradiction on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import DocumentError, InvalidParameter
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, top_label_agreement
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.text_classification import TextClassificationPipeline
from worker.pipelines.windows import aggregate_logits, check_window_params, window_features


def parse_labels(value: Any) -> list[str]:
    """Labels from a list or a comma-separated string, as transformers accepts them."""
    if isinstance(value, str):
        return [label.strip() for label in value.split(",") if label.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise DocumentError(
        f"candidate_labels must be a list of strings or a comma-separated string, got {value!r}"
    )


class ZeroShotClassificationPipeline(Pipeline):
    """One record per text: `sequence`, and `labels` with their `scores`, best first."""

    task = "zero-shot"
    # An NLI model is a sequence-pair classifier: the same head as sentiment.
    head = TextClassificationPipeline.head
    comparison = Comparison("label_agreement", top_label_agreement, 0.99)

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        template = self.params["hypothesis_template"]
        if template.format("x") == template:
            raise InvalidParameter(f"hypothesis_template {template!r} has no {{}} for the label")
        # transformers' rule: the first label whose name starts with "entail"; else the last.
        label2id = {str(k).lower(): int(v) for k, v in self.config.label2id.items()}
        self.entailment_id = next((i for name, i in label2id.items() if name.startswith("entail")), -1)
        self.contradiction_id = -1 if self.entailment_id == 0 else 0
        check_window_params(self.params, self.tokenizer, self.max_length)

    def labels_for(self, doc: Doc) -> list[str]:
        """The document's own `candidate_labels` when it has them, else the job's."""
        given = doc.get("candidate_labels")
        labels = parse_labels(given) if given is not None else self.params["candidate_labels"] or []
        if not labels:
            raise DocumentError(
                "no candidate labels: set --param candidate_labels=a,b or give the document a "
                "candidate_labels field"
            )
        return labels

    def check_doc(self, doc: Doc) -> None:
        value = doc.get("text")
        if not isinstance(value, str):
            raise DocumentError("missing field 'text'" if value is None else "field 'text' must be a string")
        if not value:  # transformers refuses an empty sequence too
            raise DocumentError("empty text: nothing to classify")
        self.labels_for(doc)

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        template = self.params["hypothesis_template"]
        pairs = [(i, label) for i, doc in enumerate(docs) for label in self.labels_for(doc)]
        features: list[list[Feature]] = [[] for _ in docs]
        if self.params["long"] == "window":
            for owner, feature in window_features(
                self.tokenizer,
                [docs[i]["text"] for i, _ in pairs],
                [template.format(label) for _, label in pairs],
                [i for i, _ in pairs],
                self.max_length,
                self.params["stride"],
                [{"label": label, "pair": j} for j, (_, label) in enumerate(pairs)],
            ):
                features[owner].append(feature)
            return features
        enc = self.tokenizer(
            [docs[i]["text"] for i, _ in pairs],
            [template.format(label) for _, label in pairs],
            truncation="only_first",
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=True,
        )
        for j, (i, label) in enumerate(pairs):
            features[i].append(
                Feature(i, enc["input_ids"][j], enc["token_type_ids"][j], extra={"label": label, "pair": j})
            )
        return features

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        # Each label's windows (one when truncating), in the order the labels came.
        windows: dict[int, list[Outputs]] = {}
        labels: list[str] = []
        for f, o in zip(features, outputs, strict=True):
            if f.extra["pair"] not in windows:
                labels.append(f.extra["label"])
            windows.setdefault(f.extra["pair"], []).append(o)
        how = self.params["long_aggregate"]
        logits = np.stack([aggregate_logits(w, how) for w in windows.values()]).astype(np.float32)
        if self.params["multi_label"] or len(labels) == 1:
            pair = logits[:, [self.contradiction_id, self.entailment_id]]
            scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[:, 1]
        else:
            entail = logits[:, self.entailment_id]
            scores = np.exp(entail) / np.exp(entail).sum()
        order = list(reversed(scores.argsort()))
        record: Record = {
            "sequence": doc["text"],
            "labels": [labels[i] for i in order],
            "scores": [float(scores[i]) for i in order],
        }
        if self.params["long"] == "window":
            record["windows"] = max(len(w) for w in windows.values())
        return record
