"""Generative tasks: `summarize`, `translate` and `generate`, with their shared decoding parameters."""

from __future__ import annotations

from nlpbatch.tasks.params import Param
from nlpbatch.tasks.spec import GenerationSpec


def generation_params(**extra: Param) -> dict[str, Param]:
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


SUMMARIZE = GenerationSpec(
    name="summarize",
    description="A summary of each text, with a seq2seq model (BART, T5, Pegasus, ...).",
    aliases=("summarization",),
    input_fields=("text",),
    params=generation_params(),
    default_model="sshleifer/distilbart-cnn-12-6",
    output_fields={"summary_text": "string"},
)


TRANSLATE = GenerationSpec(
    name="translate",
    description=(
        "A translation of each text, with a seq2seq model: T5 takes its prefix from src_lang and "
        "tgt_lang (e.g. en, fr); multilingual models (mBART-50, M2M100, NLLB) take language codes."
    ),
    aliases=("translation",),
    input_fields=("text",),
    params=generation_params(
        src_lang=Param("str", "", "source language, e.g. en (T5) or en_XX (mBART-50); empty: the model's"),
        tgt_lang=Param("str", "", "target language, e.g. fr (T5) or fr_XX (mBART-50); empty: the model's"),
    ),
    default_model="google-t5/t5-base",
    output_fields={"translation_text": "string"},
)


GENERATE = GenerationSpec(
    name="generate",
    description="Continue each text with a causal language model (GPT-2, Llama, ...).",
    aliases=("text-generation",),
    input_fields=("text",),
    params=generation_params(
        return_full_text=Param("bool", True, "the prompt followed by its continuation, as transformers")
    ),
    default_model="openai-community/gpt2",
    output_fields={"generated_text": "string"},
)
