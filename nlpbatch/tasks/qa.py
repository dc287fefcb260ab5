"""Extractive question answering: `qa`."""

from __future__ import annotations

from nlpbatch.tasks.params import Param
from nlpbatch.tasks.spec import TaskSpec

QA = TaskSpec(
    name="qa",
    description="Extract the answer to `question` from `context`; long contexts are windowed.",
    aliases=("question-answering",),
    input_fields=("question", "context"),
    params={
        "top_k": Param("int", 1, "answers per document; above 1 they are listed in `predictions`"),
        "doc_stride": Param(
            "int_or_none", None, "tokens shared by consecutive windows (default: min(max_seq_len/2, 128))"
        ),
        "max_answer_len": Param("int", 15, "longest answer, in tokens"),
        "max_seq_len": Param(
            "int_or_none", None, "tokens per window, question included (default: min(model limit, 384))"
        ),
        "handle_impossible_answer": Param("bool", False, "answer '' when that scores best"),
    },
    default_model="distilbert/distilbert-base-cased-distilled-squad",
    output_fields={
        "answer": "string",
        "score": "float",
        "start": "int",
        "end": "int",
        "predictions": "json",
    },
)
