"""`ner` / `token-classification`: entities with character offsets, as transformers finds them.

A document longer than the model's limit is cut into overlapping windows (`stride` tokens
shared), each window is labelled, and entities seen twice in an overlap are merged the way
transformers merges them when given a `stride`. The aggregation strategies (none, simple,
first, average, max) follow `TokenClassificationPipeline` step by step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import InvalidParameter
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, span_agreement
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.text_classification import softmax

Entity = dict[str, Any]


class TokenClassificationPipeline(Pipeline):
    """One record per document: `entities`, a list in the shape transformers returns."""

    task = "ner"
    head = Head("token-classification", "AutoModelForTokenClassification")
    comparison = Comparison("span_agreement", span_agreement, 0.99, "pooled")
    token_outputs = frozenset({"logits"})

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        specials = self.tokenizer.num_special_tokens_to_add(pair=False)
        if not 0 <= self.params["stride"] < self.max_length - specials:
            raise InvalidParameter(
                f"stride must be between 0 and {self.max_length - specials - 1} for this model, "
                f"got {self.params['stride']}"
            )
        self.strategy = str(self.params["aggregation_strategy"])
        prefix = getattr(getattr(self.tokenizer, "_tokenizer", None), "model", None)
        self.has_subword_prefix = bool(getattr(prefix, "continuing_subword_prefix", None))

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        enc = self.tokenizer(
            [d["text"] for d in docs],
            truncation=True,
            max_length=self.max_length,
            stride=self.params["stride"],
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_attention_mask=False,
            return_token_type_ids=True,
        )
        features: list[list[Feature]] = [[] for _ in docs]
        for w, doc_index in enumerate(enc["overflow_to_sample_mapping"]):
            # Token index of this window's first piece within the whole document, so that the
            # `index` of strategy none counts from the document's start, not the window's.
            first = len(features[doc_index]) and features[doc_index][-1].extra["next_start"]
            specials = enc["special_tokens_mask"][w]
            real = len(specials) - sum(specials)
            features[doc_index].append(
                Feature(
                    doc_index,
                    enc["input_ids"][w],
                    enc["token_type_ids"][w],
                    extra={
                        "offsets": enc["offset_mapping"][w],
                        "special": specials,
                        "first": first,
                        "next_start": first + real - self.params["stride"],
                    },
                )
            )
        return features

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        ignore = set(self.params["ignore_labels"])
        entities: list[Entity] = []
        for feature, out in zip(features, outputs, strict=True):
            scores = softmax(out["logits"].astype(np.float32))
            pre = self.gather_pre_entities(doc["text"], feature, scores)
            for entity in self.aggregate(pre):
                if entity.get("entity") not in ignore and entity.get("entity_group") not in ignore:
                    entities.append(entity)
        if len(features) > 1:
            entities = merge_overlapping(entities)
        return {"entities": [_plain(e) for e in entities]}

    def gather_pre_entities(self, text: str, feature: Feature, scores: np.ndarray) -> list[Entity]:
        """Each real token with its label scores, offsets and whether it continues a word."""
        pre: list[Entity] = []
        special = feature.extra["special"]
        offsets = feature.extra["offsets"]
        for idx, token_scores in enumerate(scores):
            if special[idx]:
                continue
            token_id = feature.input_ids[idx]
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start, end = offsets[idx]
            word_ref = text[start:end]
            if self.has_subword_prefix:
                is_subword = len(word) != len(word_ref)
            else:  # byte-level BPE and the like: transformers' heuristic
                is_subword = start > 0 and " " not in text[start - 1 : start + 1]
            if token_id == self.tokenizer.unk_token_id:
                word = word_ref
                is_subword = False
            # `index` counts [CLS] as 0, as transformers' does; later windows continue the count.
            index = feature.extra["first"] + idx
            pre.append(
                {
                    "word": word,
                    "scores": token_scores,
                    "start": start,
                    "end": end,
                    "index": index,
                    "is_subword": is_subword,
                }
            )
        return pre

    def aggregate(self, pre: list[Entity]) -> list[Entity]:
        """Label tokens or words, then (except for strategy none) group adjacent ones."""
        label = self.config.id2label
        if self.strategy in ("none", "simple"):
            entities = []
            for p in pre:
                best = int(p["scores"].argmax())
                entities.append(
                    {
                        "entity": label[best],
                        "score": p["scores"][best],
                        "index": p["index"],
                        "word": p["word"],
                        "start": p["start"],
                        "end": p["end"],
                    }
                )
        else:
            entities = self.aggregate_words(pre)
        if self.strategy == "none":
            return entities
        return self.group_entities(entities)

    def aggregate_words(self, pre: list[Entity]) -> list[Entity]:
        """One entity per word, its label chosen by the first, max or average of its pieces."""
        words: list[list[Entity]] = []
        for p in pre:
            if words and p["is_subword"]:
                words[-1].append(p)
            else:
                words.append([p])
        return [self.aggregate_word(group) for group in words]

    def aggregate_word(self, pieces: list[Entity]) -> Entity:
        if self.strategy == "first":
            scores = pieces[0]["scores"]
        elif self.strategy == "max":
            scores = max(pieces, key=lambda p: p["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([p["scores"] for p in pieces]), axis=0)
        best = int(scores.argmax())
        return {
            "entity": self.config.id2label[best],
            "score": scores[best],
            "word": self.tokenizer.convert_tokens_to_string([p["word"] for p in pieces]),
            "start": pieces[0]["start"],
            "end": pieces[-1]["end"],
        }

    def group_entities(self, entities: list[Entity]) -> list[Entity]:
        """Adjacent tokens with the same tag (B-/I- aside) become one `entity_group`."""
        groups: list[Entity] = []
        current: list[Entity] = []
        for entity in entities:
            bi, tag = _tag(entity["entity"])
            if current and not (tag == _tag(current[-1]["entity"])[1] and bi != "B"):
                groups.append(self._group(current))
                current = []
            current.append(entity)
        if current:
            groups.append(self._group(current))
        return groups

    def _group(self, entities: list[Entity]) -> Entity:
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": np.nanmean([e["score"] for e in entities]),
            "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }


def _tag(name: str) -> tuple[str, str]:
    if name.startswith(("B-", "I-")):
        return name[0], name[2:]
    return "I", name


def merge_overlapping(entities: list[Entity]) -> list[Entity]:
    """Entities found in two windows' overlap: keep the longer, then the higher-scoring one."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    merged: list[Entity] = []
    previous = entities[0]
    for entity in entities:
        # Strategy none: a token seen by two windows has one index. The span test alone misses
        # zero-width tokens (a byte-level space piece), as no start lies inside an empty span.
        # Grouped entities carry no index and are merged by span only, as transformers does.
        same_token = "index" in entity and entity["index"] == previous.get("index")
        if same_token or previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or (
                length == previous_length and entity["score"] > previous["score"]
            ):
                previous = entity
        else:
            merged.append(previous)
            previous = entity
    merged.append(previous)
    return merged


def _plain(entity: Entity) -> Entity:
    """JSON-ready values: numpy scalars become Python floats and ints."""
    return {
        k: (float(v) if isinstance(v, np.floating) else int(v) if isinstance(v, np.integer) else v)
        for k, v in entity.items()
    }
