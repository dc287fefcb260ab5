"""`tokenize`: what the model's tokenizer makes of each text, without running the model.

It answers the vocabulary-coverage question: how many pieces a text becomes, and what share
of them is the unknown token (`[UNK]`), for example for Korean text on an English vocabulary.
"""

from __future__ import annotations

from nlpbatch.schema import Doc, Record
from worker.pipelines.base import Feature, Outputs, Pipeline


class TokenizePipeline(Pipeline):
    """`tokens`, `input_ids`, `num_tokens` and `unk_share` for each text; never truncated."""

    task = "tokenize"
    head = None

    def model_max_length(self) -> int:
        return 0  # unused: tokenize never truncates, so no model limit applies

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        enc = self.tokenizer(
            [d["text"] for d in docs],
            add_special_tokens=self.params["add_special_tokens"],
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [[Feature(i, ids)] for i, ids in enumerate(enc["input_ids"])]

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        ids = features[0].input_ids
        unk = self.tokenizer.unk_token_id
        unknown = sum(1 for i in ids if unk is not None and i == unk)
        return {
            "tokens": self.tokenizer.convert_ids_to_tokens(ids),
            "input_ids": list(ids),
            "num_tokens": len(ids),
            "unk_share": unknown / len(ids) if ids else 0.0,
        }
