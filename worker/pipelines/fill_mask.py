"""`fill-mask`: the most likely tokens for the mask token in each text, as transformers ranks them."""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import DocumentError, InvalidParameter
from nlpbatch.schema import Doc, Record
from worker.comparisons import Comparison, field_agreement
from worker.models.head import Head
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.pipelines.text_classification import softmax


class FillMaskPipeline(Pipeline):
    """One record per text: the best candidate's fields, and all `top_k` in `predictions`."""

    task = "fill-mask"
    head = Head("fill-mask", "AutoModelForMaskedLM")
    comparison = Comparison("token_agreement", field_agreement("token"), 0.99)

    def __init__(self, model: Any, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        if self.tokenizer.mask_token_id is None:
            raise InvalidParameter("this model's tokenizer has no mask token; fill-mask needs one")
        if self.params["top_k"] < 1:
            raise InvalidParameter(f"top_k must be at least 1, got {self.params['top_k']}")
        targets = self.params["targets"]
        self.target_ids = None if targets is None else self.resolve_targets(targets)

    def resolve_targets(self, targets: list[str]) -> np.ndarray:
        """Vocabulary ids of the target words; a word not in the vocabulary stands for its first piece."""
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            token_id = vocab.get(target)
            if token_id is None:
                pieces = self.tokenizer(
                    target,
                    add_special_tokens=False,
                    return_attention_mask=False,
                    max_length=1,
                    truncation=True,
                )["input_ids"]
                if not pieces:
                    continue
                token_id = pieces[0]
            ids.append(int(token_id))
        if not ids:
            raise InvalidParameter(f"none of the targets {targets} is in this model's vocabulary")
        return np.asarray(sorted(set(ids)))

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        features = super().encode(docs)
        for group in features:
            if group and not self.mask_positions(group[0]):
                # Marked here, raised in postprocess, so only this document gets an error record.
                group[0].extra["mask_error"] = f"no mask token ({self.tokenizer.mask_token}) in the text"
        return features

    def forward(self, batch: list[Feature]) -> Outputs:
        """The vocabulary logits at each feature's mask positions only, (batch, masks, vocabulary).

        A masked LM's full output is tokens x vocabulary per text (50,000 floats a token for
        RoBERTa); keeping only the masks' rows keeps a chunk's memory small. Texts with fewer
        masks than the batch's most are padded with their first mask's row, never read.
        """
        logits = super().forward(batch)["logits"]
        positions = [self.mask_positions(f) or [0] for f in batch]
        width = max(len(p) for p in positions)
        rows = np.asarray([p + [p[0]] * (width - len(p)) for p in positions])
        return {"mask_logits": logits[np.arange(len(batch))[:, None], rows]}

    def mask_positions(self, feature: Feature) -> list[int]:
        """Where the mask tokens are, in text order."""
        found = np.flatnonzero(np.asarray(feature.input_ids) == self.tokenizer.mask_token_id)
        return [int(i) for i in found]

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        """One mask: its `top_k` candidates. Several: one candidate list per mask, as transformers.

        The best candidate's fields sit at the top of the record; with several masks they are
        those of the first mask's best candidate.
        """
        feature = features[0]
        if "mask_error" in feature.extra:
            raise DocumentError(feature.extra["mask_error"])
        positions = self.mask_positions(feature)
        single = len(positions) == 1
        per_mask = [
            self.candidates(feature, position, outputs[0]["mask_logits"][i], single)
            for i, position in enumerate(positions)
        ]
        predictions: list[Any] = per_mask[0] if single else per_mask
        return {**per_mask[0][0], "predictions": predictions}

    def candidates(self, feature: Feature, position: int, logits: np.ndarray, single: bool) -> list[Record]:
        """The `top_k` tokens for the mask at `position`, each with the text it fills in.

        As transformers: with several masks the sequences keep special tokens, so the other
        masks stay visible in each filled-in text.
        """
        probs = softmax(logits.astype(np.float32))
        candidates = np.arange(len(probs)) if self.target_ids is None else self.target_ids
        probs = probs[candidates]
        top_k = min(self.params["top_k"], len(candidates))
        order = np.argsort(-probs, kind="stable")[:top_k]
        ids = np.asarray(feature.input_ids)
        pad = self.tokenizer.pad_token_id
        out = []
        for i in order:
            token = int(candidates[i])
            filled = ids.copy()
            filled[position] = token
            filled = filled[filled != pad]
            out.append(
                {
                    "score": float(probs[i]),
                    "token": token,
                    "token_str": self.tokenizer.decode([token]),
                    "sequence": self.tokenizer.decode(filled, skip_special_tokens=single),
                }
            )
        return out
