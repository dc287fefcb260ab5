"""Classification tasks: `sentiment` (a sequence classifier) and `zero-shot` (an NLI model)."""

from __future__ import annotations

from nlpbatch.tasks.params import Param
from nlpbatch.tasks.spec import TaskSpec

# A long document: truncated at the model's limit, or scored window by window.
LONG_TEXT = {
    "long": Param(
        "str",
        "truncate",
        "a text over the model's limit: truncate it, or score each window and aggregate the logits",
        ("truncate", "window"),
    ),
    "long_aggregate": Param(
        "str", "mean", "with long=window: the windows' logits by mean or max", ("mean", "max")
    ),
    "stride": Param("int", 32, "with long=window: tokens shared by consecutive windows"),
}

SENTIMENT = TaskSpec(
    name="sentiment",
    description="Classify each text (sentiment, topic, ...) with a sequence-classification model.",
    aliases=("text-classification", "sentiment-analysis"),
    input_fields=("text",),
    optional_fields=("text_pair",),
    params={
        "function_to_apply": Param(
            "str",
            "default",
            "score function: as transformers picks it, or softmax/sigmoid/none",
            ("default", "softmax", "sigmoid", "none"),
        ),
        "top_k": Param(
            "int_or_none",
            1,
            "1: the best label only; N: also `predictions`, the N best as [{label, score}]; none: all",
        ),
        **LONG_TEXT,
    },
    default_model="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    output_fields={"label": "string", "score": "float", "predictions": "json", "windows": "int"},
)


ZERO_SHOT = TaskSpec(
    name="zero-shot",
    description="Score candidate labels with an NLI model: each label's entailment, as transformers does.",
    aliases=("zero-shot-classification",),
    input_fields=("text",),
    optional_fields=("candidate_labels",),
    param_or_field=("candidate_labels",),
    params={
        "candidate_labels": Param(
            "str_list_or_none", None, "labels for every text; a document's `candidate_labels` field wins"
        ),
        "hypothesis_template": Param("str", "This example is {}.", "the hypothesis; {} is the label"),
        "multi_label": Param("bool", False, "score each label on its own instead of against each other"),
        **LONG_TEXT,
    },
    default_model="facebook/bart-large-mnli",
    output_fields={
        "sequence": "string",
        "labels": "string_list",
        "scores": "float_list",
        "windows": "int",
    },
)
