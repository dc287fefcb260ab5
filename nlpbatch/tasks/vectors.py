"""Vector tasks: `embed` (one pooled vector per text) and `similarity` (a score per pair)."""

from __future__ import annotations

from nlpbatch.tasks.params import Param
from nlpbatch.tasks.spec import TaskSpec

EMBED = TaskSpec(
    name="embed",
    description="One vector per text, pooled from the encoder's last hidden state.",
    aliases=("feature-extraction", "embedding", "embeddings"),
    input_fields=("text",),
    params={
        "pooling": Param("str", "mean", "how token vectors become one", ("mean", "cls", "max")),
        "normalize": Param("bool", True, "scale each vector to unit length"),
        "passages": Param(
            "int",
            0,
            "cut each document into passages of at most this many tokens (special tokens "
            "included) and embed each; 0: one vector per document",
        ),
        "overlap": Param("int", 0, "tokens shared by consecutive passages (with `passages`)"),
        "passage_text": Param("bool", False, "add each passage's text to its entry (with `passages`)"),
    },
    default_model="sentence-transformers/all-MiniLM-L6-v2",
    output_fields={"embedding": "float_list"},
)


SIMILARITY = TaskSpec(
    name="similarity",
    description=(
        "How alike `text` and `text_pair` are: a cross-encoder's score for a sequence-pair "
        "classifier, or the cosine of two pooled embeddings for any other model."
    ),
    aliases=("sentence-similarity",),
    input_fields=("text", "text_pair"),
    params={
        "mode": Param(
            "str",
            "auto",
            "auto: cross-encoder if the model's config names a *ForSequenceClassification head, "
            "else bi-encoder",
            ("auto", "cross-encoder", "bi-encoder"),
        ),
        "pooling": Param("str", "mean", "bi-encoder pooling", ("mean", "cls", "max")),
    },
    default_model="sentence-transformers/all-MiniLM-L6-v2",
    output_fields={"score": "float", "label": "string"},
)
