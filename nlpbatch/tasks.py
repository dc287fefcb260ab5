"""Task specifications: names, aliases, input fields, parameters and output fields.

This is the light half of a task, read by the producer to validate a job before anything is
queued and by `nlpbatch tasks` to document it. The heavy half (the pipeline that runs the
model) lives in `worker.pipelines`, keyed by the same names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nlpbatch.errors import InvalidParameter, UnknownTask

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One task parameter: its type, default, allowed values and meaning."""

    type: str  # "int", "float", "bool", "str", "str_list", "float_or_none", "int_or_none"
    default: Any
    help: str
    choices: tuple[Any, ...] = ()

    def coerce(self, name: str, value: Any) -> Any:
        """The value converted to this parameter's type, or InvalidParameter."""
        try:
            out = _COERCE[self.type](value)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"parameter {name!r} expects {self.type}, got {value!r} ({exc})") from None
        if self.choices and out not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise InvalidParameter(f"parameter {name!r} must be one of: {allowed}; got {out!r}")
        return out


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _TRUE | _FALSE:
        return v.lower() in _TRUE
    raise ValueError("not a boolean")


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError("not an integer")
    return int(v)


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("not a number")
    return float(v)


def _to_str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("not a string")
    return v


def _to_str_list(v: Any) -> list[str]:
    if isinstance(v, str):
        v = json.loads(v) if v.lstrip().startswith("[") else [s.strip() for s in v.split(",") if s.strip()]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ValueError("not a list of strings")
    return v


def _optional(fn: Any) -> Any:
    def conv(v: Any) -> Any:
        if v is None or (isinstance(v, str) and v.lower() in {"none", "null", ""}):
            return None
        return fn(v)

    return conv


_COERCE = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "str_list": _to_str_list,
    "int_or_none": _optional(_to_int),
    "float_or_none": _optional(_to_float),
    "str_list_or_none": _optional(_to_str_list),
}


@dataclass(frozen=True)
class TaskSpec:
    """What a task reads, what it takes as parameters, and what its records carry."""

    name: str
    description: str
    aliases: tuple[str, ...]
    input_fields: tuple[str, ...]
    params: dict[str, Param]
    default_model: str
    # optimum's export task for the ONNX graph.
    export_task: str
    # Output field -> type, which fixes the Parquet schema: "string", "float", "int",
    # "float_list", "string_list", "int_list", or "json" (nested values, inferred).
    output_fields: dict[str, str]
    optional_fields: tuple[str, ...] = ()
    #: Inputs given either as a job parameter or as a column of the corpus (zero-shot labels).
    param_or_field: tuple[str, ...] = ()

    def validate_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Every parameter with its default filled in; unknown names or bad types raise."""
        known = {**COMMON_PARAMS, **self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            valid = ", ".join(sorted(known)) or "none"
            raise InvalidParameter(
                f"unknown parameter(s) {', '.join(unknown)} for task {self.name!r}; valid: {valid}"
            )
        out = {name: p.default for name, p in known.items()}
        for name, value in raw.items():
            out[name] = known[name].coerce(name, value)
        return out


COMMON_PARAMS: dict[str, Param] = {
    "batch_size": Param("int", 32, "most documents in one model call"),
    "max_batch_tokens": Param(
        "int", 8192, "most padded tokens in one model call; batches are formed by length"
    ),
    "max_length": Param(
        "int_or_none", None, "truncate inputs to this many tokens (default: the model's limit)"
    ),
    "sort_window": Param("int", 0, "texts sorted by length together, within a chunk (0: 10 x batch_size)"),
}

_SENTIMENT = TaskSpec(
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
    },
    default_model="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    export_task="text-classification",
    output_fields={"label": "string", "score": "float", "predictions": "json"},
)

_EMBED = TaskSpec(
    name="embed",
    description="One vector per text, pooled from the encoder's last hidden state.",
    aliases=("feature-extraction", "embedding", "embeddings"),
    input_fields=("text",),
    params={
        "pooling": Param("str", "mean", "how token vectors become one", ("mean", "cls", "max")),
        "normalize": Param("bool", True, "scale each vector to unit length"),
    },
    default_model="sentence-transformers/all-MiniLM-L6-v2",
    export_task="feature-extraction",
    output_fields={"embedding": "float_list"},
)

_NER = TaskSpec(
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
    export_task="token-classification",
    output_fields={"entities": "json"},
)

_QA = TaskSpec(
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
    export_task="question-answering",
    output_fields={
        "answer": "string",
        "score": "float",
        "start": "int",
        "end": "int",
        "predictions": "json",
    },
)

_SIMILARITY = TaskSpec(
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
    export_task="feature-extraction",
    output_fields={"score": "float", "label": "string"},
)

_FILL_MASK = TaskSpec(
    name="fill-mask",
    description="Fill the model's mask token (one per text) with the most likely words.",
    aliases=("fill_mask",),
    input_fields=("text",),
    params={
        "top_k": Param("int", 5, "candidates per text, listed in `predictions`"),
        "targets": Param("str_list_or_none", None, "score only these words"),
    },
    default_model="distilbert/distilroberta-base",
    export_task="fill-mask",
    output_fields={
        "sequence": "string",
        "score": "float",
        "token": "int",
        "token_str": "string",
        "predictions": "json",
    },
)

_ZERO_SHOT = TaskSpec(
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
    },
    default_model="facebook/bart-large-mnli",
    export_task="text-classification",
    output_fields={"sequence": "string", "labels": "string_list", "scores": "float_list"},
)

_TOKENIZE = TaskSpec(
    name="tokenize",
    description="Tokens and ids from the model's tokenizer alone (no model run), with the [UNK] share.",
    aliases=("tokenization",),
    input_fields=("text",),
    params={
        "add_special_tokens": Param("bool", False, "include [CLS], [SEP] and the like"),
    },
    default_model="google-bert/bert-base-multilingual-cased",
    export_task="tokenizer",
    output_fields={
        "tokens": "string_list",
        "input_ids": "int_list",
        "num_tokens": "int",
        "unk_share": "float",
    },
)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (_SENTIMENT, _EMBED, _NER, _QA, _SIMILARITY, _FILL_MASK, _ZERO_SHOT, _TOKENIZE)
}

# -- generation: summarize, translate, generate -------------------------------------------


def _generation_params(**extra: Param) -> dict[str, Param]:
    """The decoding parameters the three generative tasks share; None means the model's default."""
    model = " (default: the model's, else transformers')"
    return {
        "max_new_tokens": Param("int_or_none", None, "most tokens to generate" + model),
        "num_beams": Param("int_or_none", None, "beam search width" + model),
        "do_sample": Param("bool", False, "sample instead of greedy or beam search (default: greedy)"),
        "seed": Param("int", 0, "sampling seed; the same seed and text give the same output in any batch"),
        "temperature": Param("float_or_none", None, "sampling temperature" + model),
        "top_k": Param("int_or_none", None, "sample among the k likeliest tokens" + model),
        "top_p": Param("float_or_none", None, "nucleus sampling: the smallest set of this mass" + model),
        **extra,
    }


@dataclass(frozen=True)
class GenerationSpec(TaskSpec):
    """A generative task: its decoding parameters are also checked against each other."""

    def validate_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_params(raw)
        if out["do_sample"] and out["num_beams"] not in (None, 1):
            raise InvalidParameter("do_sample takes num_beams=1 (beam sampling is not supported)")
        for name in ("max_new_tokens", "num_beams", "top_k"):
            if out[name] is not None and out[name] < (0 if name == "top_k" else 1):
                raise InvalidParameter(f"parameter {name!r} must be positive, got {out[name]}")
        if out["temperature"] is not None and out["temperature"] <= 0:
            raise InvalidParameter(f"parameter 'temperature' must be above 0, got {out['temperature']}")
        if out["top_p"] is not None and not 0 < out["top_p"] <= 1:
            raise InvalidParameter(f"parameter 'top_p' must be in (0, 1], got {out['top_p']}")
        return out


_SUMMARIZE = GenerationSpec(
    name="summarize",
    description="A summary of each text, with a seq2seq model (BART, T5, Pegasus, ...).",
    aliases=("summarization",),
    input_fields=("text",),
    params=_generation_params(),
    default_model="sshleifer/distilbart-cnn-12-6",
    export_task="text2text-generation-with-past",
    output_fields={"summary_text": "string"},
)

_TRANSLATE = GenerationSpec(
    name="translate",
    description=(
        "A translation of each text, with a seq2seq model: T5 takes its prefix from src_lang and "
        "tgt_lang (e.g. en, fr); multilingual models (mBART-50, M2M100, NLLB) take language codes."
    ),
    aliases=("translation",),
    input_fields=("text",),
    params=_generation_params(
        src_lang=Param("str", "", "source language, e.g. en (T5) or en_XX (mBART-50); empty: the model's"),
        tgt_lang=Param("str", "", "target language, e.g. fr (T5) or fr_XX (mBART-50); empty: the model's"),
    ),
    default_model="google-t5/t5-base",
    export_task="text2text-generation-with-past",
    output_fields={"translation_text": "string"},
)

_GENERATE = GenerationSpec(
    name="generate",
    description="Continue each text with a causal language model (GPT-2, Llama, ...).",
    aliases=("text-generation",),
    input_fields=("text",),
    params=_generation_params(
        return_full_text=Param("bool", True, "the prompt followed by its continuation, as transformers")
    ),
    default_model="openai-community/gpt2",
    export_task="text-generation-with-past",
    output_fields={"generated_text": "string"},
)

GENERATION_TASKS = (_SUMMARIZE, _TRANSLATE, _GENERATE)
TASKS.update({spec.name: spec for spec in GENERATION_TASKS})
ALIASES: dict[str, str] = {alias: spec.name for spec in TASKS.values() for alias in spec.aliases}


def get_task(name: str) -> TaskSpec:
    """The spec for a task name or alias; UnknownTask lists the valid names."""
    canonical = ALIASES.get(name, name)
    if canonical not in TASKS:
        names = sorted(TASKS) + sorted(f"{a} (= {t})" for a, t in ALIASES.items())
        raise UnknownTask(f"unknown task {name!r}; valid tasks: {', '.join(names)}")
    return TASKS[canonical]
