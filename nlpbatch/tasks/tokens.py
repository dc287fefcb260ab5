"""Token-level tasks: `ner`, `fill-mask`, and `tokenize` (the tokenizer alone)."""

from __future__ import annotations

from nlpbatch.tasks.params import Param
from nlpbatch.tasks.spec import TaskSpec

NER = TaskSpec(
    name="ner",
    description="Named entities (or other token labels) with character offsets into the text.",
    aliases=("token-classification",),
    input_fields=("text",),
    params={
        "aggregation_strategy": Param(
            "str",
            "simple",
            "how word pieces become entities, as transformers defines it",
            ("none", "simple", "first", "average", "max"),
        ),
        "stride": Param("int", 32, "tokens shared by consecutive windows of a long document"),
        "ignore_labels": Param("str_list", ["O"], "labels that are not entities"),
    },
    default_model="dbmdz/bert-large-cased-finetuned-conll03-english",
    output_fields={"entities": "json"},
)


FILL_MASK = TaskSpec(
    name="fill-mask",
    description="Fill each of the model's mask tokens in a text with the most likely words.",
    aliases=("fill_mask",),
    input_fields=("text",),
    params={
        "top_k": Param("int", 5, "candidates per text, listed in `predictions`"),
        "targets": Param("str_list_or_none", None, "score only these words"),
    },
    default_model="distilbert/distilroberta-base",
    output_fields={
        "sequence": "string",
        "score": "float",
        "token": "int",
        "token_str": "string",
        "predictions": "json",
    },
)


TOKENIZE = TaskSpec(
    name="tokenize",
    description="Tokens and ids from the model's tokenizer alone (no model run), with the [UNK] share.",
    aliases=("tokenization",),
    input_fields=("text",),
    params={
        "add_special_tokens": Param("bool", False, "include [CLS], [SEP] and the like"),
    },
    default_model="google-bert/bert-base-multilingual-cased",
    output_fields={
        "tokens": "string_list",
        "input_ids": "int_list",
        "num_tokens": "int",
        "unk_share": "float",
    },
)
