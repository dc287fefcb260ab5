"""`qa` / `question-answering`: the answer span in `context`, decoded as transformers decodes it.

The question and context are tokenized together; a context longer than `max_seq_len` is cut
into windows sharing `doc_stride` tokens. Each window proposes spans (start and end
probabilities multiplied, at most `max_answer_len` tokens, inside the context), the same
answer found in two windows adds up, and the best `top_k` are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import InvalidParameter
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, field_agreement
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline

Answer = dict[str, Any]


class QuestionAnsweringPipeline(Pipeline):
    """One record per document: the best `answer`, `score`, `start`, `end` (and `predictions`)."""

    task = "qa"
    head = Head("question-answering", "AutoModelForQuestionAnswering")
    comparison = Comparison("span_agreement", field_agreement("start", "end"), 0.99)
    token_outputs = frozenset({"start_logits", "end_logits"})

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        self.seq_len = min(self.params["max_seq_len"] or 384, self.max_length)
        stride = self.params["doc_stride"]
        self.stride = min(self.seq_len // 2, 128) if stride is None else stride
        if self.stride > self.seq_len:
            raise InvalidParameter(f"doc_stride ({self.stride}) is larger than max_seq_len ({self.seq_len})")
        for name in ("top_k", "max_answer_len"):
            if self.params[name] < 1:
                raise InvalidParameter(f"{name} must be at least 1, got {self.params[name]}")
        self.question_first = self.tokenizer.padding_side == "right"

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        questions = [d["question"] for d in docs]
        contexts = [d["context"] for d in docs]
        enc = self.tokenizer(
            questions if self.question_first else contexts,
            contexts if self.question_first else questions,
            truncation="only_second" if self.question_first else "only_first",
            max_length=self.seq_len,
            stride=self.stride,
            return_token_type_ids=True,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_attention_mask=False,
        )
        features: list[list[Feature]] = [[] for _ in docs]
        context_index = 1 if self.question_first else 0
        for w, doc_index in enumerate(enc["overflow_to_sample_mapping"]):
            ids = enc["input_ids"][w]
            # Only context tokens (and [CLS], the "no answer" position) may hold the answer.
            allowed = [int(s == context_index) for s in enc.sequence_ids(w)]
            if self.tokenizer.cls_token_id is not None:
                for i, token in enumerate(ids):
                    if token == self.tokenizer.cls_token_id:
                        allowed[i] = 1
            extra = {"allowed": np.asarray(allowed), "encoding": enc.encodings[w]}
            features[doc_index].append(Feature(doc_index, ids, enc["token_type_ids"][w], extra=extra))
        return features

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        top_k = self.params["top_k"]
        null_score = 1_000_000.0
        answers: list[Answer] = []
        context = doc["context"]
        for feature, out in zip(features, outputs, strict=True):
            starts, ends, scores, null_score = self.spans(feature, out, null_score, top_k * 2 + 10)
            encoding = feature.extra["encoding"]
            for s, e, score in zip(starts, ends, scores, strict=True):
                start, end = _char_span(encoding, int(s), int(e), 1 if self.question_first else 0)
                text = context[start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": start, "end": end, "answer": text})
        if self.params["handle_impossible_answer"]:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        best = answers[0] if answers else {"score": 0.0, "start": 0, "end": 0, "answer": ""}
        record: Record = {k: best[k] for k in ("answer", "score", "start", "end")}
        if top_k > 1:
            record["predictions"] = answers
        return record

    def spans(
        self, feature: Feature, out: Outputs, null_score: float, top_k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The best spans of one window and the running "no answer" score."""
        allowed = feature.extra["allowed"]
        masked = allowed == 0
        start = np.where(masked, -10000.0, out["start_logits"].astype(np.float32))[None]
        end = np.where(masked, -10000.0, out["end_logits"].astype(np.float32))[None]
        start = np.exp(start - start.max(axis=-1, keepdims=True))
        start = start / start.sum()
        end = np.exp(end - end.max(axis=-1, keepdims=True))
        end = end / end.sum()
        if self.params["handle_impossible_answer"]:
            null_score = min(null_score, float(start[0, 0] * end[0, 0]))
        start[0, 0] = end[0, 0] = 0.0
        outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
        candidates = np.tril(np.triu(outer), self.params["max_answer_len"] - 1)
        flat = candidates.flatten()
        if top_k == 1:
            order = np.asarray([np.argmax(flat)])
        elif len(flat) < top_k:
            order = np.argsort(-flat)
        else:
            part = np.argpartition(-flat, top_k)[0:top_k]
            order = part[np.argsort(-flat[part])]
        starts, ends = np.unravel_index(order, candidates.shape)[1:]
        ok = np.isin(starts, allowed.nonzero()) & np.isin(ends, allowed.nonzero())
        starts, ends = starts[ok], ends[ok]
        return starts, ends, candidates[0, starts, ends], null_score


def _char_span(encoding: Any, s: int, e: int, sequence_index: int) -> tuple[int, int]:
    """Character offsets of tokens s..e in the context, widened to whole words."""
    try:
        start = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=sequence_index)[0]
        end = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=sequence_index)[1]
    except Exception:  # a token outside any word, such as [CLS]: its own offsets
        start, end = encoding.offsets[s][0], encoding.offsets[e][1]
    return int(start), int(end)
