"""The shape of every task: encode -> forward (batched by length) -> postprocess.

A chunk's documents are tokenized in one call to the fast tokenizer, into one or more
features each (a long document may be windowed), and never again. Features are sorted by
length within windows of about ten batches and packed into batches under a token budget, so
only a few percent of the compute goes to padding. Outputs are
scattered back, and every document gets exactly one record, in input order.

A batch that fails inside the model is split in halves until the failing features are
found: those documents get error records, the rest get results. A failure that follows no
document (see `worker.pipelines.bisect`) is raised as transient, and the chunk retried.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nlpbatch.errors import DocumentError, error_info
from nlpbatch.schema import Doc, Record, error_record
from nlpbatch.tasks import TaskSpec, get_task
from worker import metrics
from worker.comparisons import Comparison
from worker.models.head import Head
from worker.models.loader import LoadedModel
from worker.pipelines.batching import WINDOW_BATCHES, default_max_padding, default_max_tokens, plan_batches
from worker.pipelines.bisect import forward_all

log = logging.getLogger("nlpbatch.pipeline")

Outputs = dict[str, np.ndarray]


@dataclass
class Feature:
    """One model input row: token ids of one document (or of one window of it)."""

    doc: int
    input_ids: list[int]
    token_type_ids: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchStats:
    """Counters for the job report."""

    docs: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    batches: int = 0

    @property
    def padding_waste(self) -> float:
        """Share of the computed token positions that were padding."""
        return 1 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


@dataclass
class Encoded:
    """A chunk after tokenization: records already decided (errors) and each document's features."""

    records: list[Record | None]
    ready: list[int]
    per_doc: list[list[Feature]]


class Pipeline:
    """Base class: subclasses set `task`, `head` and `comparison`, and implement `postprocess`.

    Everything heavy about a task is declared here, on its class, as optimum declares
    `auto_model_class` on each ORTModel class; its light spec is `nlpbatch.tasks.get_task(task)`.
    """

    task: ClassVar[str]
    #: The model head to export and load; None for tasks that need only the tokenizer.
    head: ClassVar[Head | None]
    #: How the int8 accuracy gate compares fp32 and int8 records; None: never int8.
    comparison: ClassVar[Comparison | None] = None
    #: Outputs with a sequence axis; they are cut to each feature's true length.
    token_outputs: ClassVar[frozenset[str]] = frozenset()
    #: False for tasks that need only the tokenizer (no head): features never reach a model.
    runs_model: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A pipeline runs a model exactly when it has a head: one declaration, not two.
        if "head" in cls.__dict__:
            cls.runs_model = cls.head is not None

    @classmethod
    def head_for(cls, model: str, params: dict[str, Any]) -> Head | None:
        """The head this job needs; most tasks have one, whatever the model."""
        return cls.head

    def __init__(self, model: LoadedModel, params: dict[str, Any]) -> None:
        self.spec: TaskSpec = get_task(self.task)
        self.model = model
        self.tokenizer = model.tokenizer
        self.config = model.config
        self.params = self.spec.validate_params(params)
        self.max_length = self.params["max_length"] or self.model_max_length()
        self.stats = BatchStats()

    def model_max_length(self) -> int:
        limits = [getattr(self.config, "max_position_embeddings", None), self.tokenizer.model_max_length]
        usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
        return min(usable) if usable else 512

    # -- the three stages -------------------------------------------------------------

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        """Features for each document; the default is one truncated sequence (or pair)."""
        features: list[list[Feature]] = [[] for _ in docs]
        singles = [i for i, d in enumerate(docs) if d.get("text_pair") is None]
        pairs = [i for i, d in enumerate(docs) if d.get("text_pair") is not None]
        for group, with_pair in ((singles, False), (pairs, True)):
            if not group:
                continue
            texts = [docs[i]["text"] for i in group]
            second = [docs[i]["text_pair"] for i in group] if with_pair else None
            enc = self.tokenizer(
                texts,
                second,
                truncation=True,
                max_length=self.max_length,
                return_attention_mask=False,
                return_token_type_ids=True,
            )
            for j, i in enumerate(group):
                features[i] = [Feature(i, enc["input_ids"][j], enc["token_type_ids"][j])]
        return features

    def forward(self, batch: list[Feature]) -> Outputs:
        """One model call on a padded batch."""
        width = max(len(f.input_ids) for f in batch)
        pad = self.tokenizer.pad_token_id or 0
        ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        types = np.zeros((len(batch), width), dtype=np.int64)
        for row, f in enumerate(batch):
            n = len(f.input_ids)
            ids[row, :n] = f.input_ids
            mask[row, :n] = 1
            if f.token_type_ids is not None:
                types[row, :n] = f.token_type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self.model.runtime.run(feeds)

    def reduce(self, feature: Feature, outputs: Outputs) -> Outputs:
        """What is kept of one feature's outputs until its document's postprocess; all by default.

        Called right after the feature's batch has run, with views into that batch's arrays.
        A task that needs only a summary (a pooled vector) returns it here, as arrays of its
        own, so a chunk of long documents holds that summary, not every token's outputs.
        """
        return outputs

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        """The task's fields for one document, from its features' outputs."""
        raise NotImplementedError

    # -- driving a chunk ----------------------------------------------------------------

    def check_doc(self, doc: Doc) -> None:
        """Raise DocumentError if a required input field is missing or not text."""
        for name in self.spec.input_fields:
            if name not in doc or doc[name] is None:
                raise DocumentError(f"missing field {name!r}")
        for name in (*self.spec.input_fields, *self.spec.optional_fields):
            value = doc.get(name)
            if value is not None and not isinstance(value, str):
                raise DocumentError(f"field {name!r} must be a string, got {type(value).__name__}")

    def __call__(self, docs: list[Doc]) -> list[Record]:
        """One record per document, in the order given."""
        return self.run_encoded(docs, self.encode_chunk(docs))

    def encode_chunk(self, docs: list[Doc]) -> Encoded:
        """Check and tokenize a chunk, once; the result can be run by several pipelines."""
        records: list[Record | None] = [None] * len(docs)
        ready: list[int] = []
        for i, doc in enumerate(docs):
            if "error" in doc:
                records[i] = error_record(doc.get("id"), doc["error"])
                continue
            try:
                self.check_doc(doc)
            except DocumentError as exc:
                records[i] = error_record(doc.get("id"), error_info(exc))
                continue
            ready.append(i)
        per_doc = self._encode_safely([docs[i] for i in ready], records, ready)
        return Encoded(records, ready, per_doc)

    def sort_window(self) -> int:
        """How many features are sorted by length together."""
        return int(self.params.get("sort_window") or WINDOW_BATCHES * self.params["batch_size"])

    def run_encoded(self, docs: list[Doc], encoded: Encoded) -> list[Record]:
        """Run the model over an encoded chunk and post-process: one record per document."""
        records = list(encoded.records)
        ready, per_doc = encoded.ready, encoded.per_doc
        features = [f for group in per_doc for f in group]
        outputs: dict[int, Outputs] = {}
        failed: dict[int, BaseException] = {}
        lengths = [len(f.input_ids) for f in features]
        if not self.runs_model:
            outputs = {k: {} for k in range(len(features))}
            lengths = []
        batches = plan_batches(
            lengths,
            batch_size=self.params["batch_size"],
            max_tokens=self.params["max_batch_tokens"] or default_max_tokens(self.model.runtime),
            window=self.sort_window(),
            max_padding=default_max_padding(self.model.runtime),
        )
        forward_all(lambda batch: self._forward_batch(features, batch, outputs), batches, failed)

        start = 0
        for pos, group in zip(ready, per_doc, strict=True):
            idx = list(range(start, start + len(group)))
            start += len(group)
            if records[pos] is not None:
                continue
            doc = docs[pos]
            bad = [failed[k] for k in idx if k in failed]
            if bad:
                records[pos] = error_record(doc.get("id"), error_info(bad[0]))
                continue
            try:
                fields = self.postprocess(doc, group, [outputs[k] for k in idx])
                records[pos] = {"id": doc.get("id"), **fields}
            except Exception as exc:  # one document's post-processing must not sink the chunk
                log.warning("postprocess failed for %r: %s", doc.get("id"), exc)
                records[pos] = error_record(doc.get("id"), error_info(exc))
        self.stats.docs += len(docs)
        return [r for r in records if r is not None]

    def _encode_safely(
        self, docs: list[Doc], records: list[Record | None], positions: list[int]
    ) -> list[list[Feature]]:
        """Encode all documents in one call; if that fails, one by one, so only bad ones fail."""
        try:
            return self.encode(docs)
        except Exception:
            out: list[list[Feature]] = []
            for doc, pos in zip(docs, positions, strict=True):
                try:
                    out.append(self.encode([doc])[0])
                except Exception as exc:
                    records[pos] = error_record(doc.get("id"), error_info(exc))
                    out.append([])
            return out

    def _forward_batch(self, features: list[Feature], batch: list[int], outputs: dict[int, Outputs]) -> None:
        started = time.perf_counter()
        result = self.forward([features[k] for k in batch])
        metrics.observe_batch(self.task, time.perf_counter() - started)
        self.stats.batches += 1
        width = max(len(features[k].input_ids) for k in batch)
        self.stats.padded_tokens += width * len(batch)
        for row, k in enumerate(batch):
            n = len(features[k].input_ids)
            self.stats.tokens += n
            outputs[k] = self.reduce(
                features[k],
                {
                    name: (value[row, :n] if name in self.token_outputs else value[row])
                    for name, value in result.items()
                },
            )
