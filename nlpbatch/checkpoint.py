"""What a local checkpoint's config files say it can do, checked before a job starts.

Read from config.json and tokenizer_config.json alone, without importing transformers, so
that a job a checkpoint cannot run is refused up front (exit code 2) rather than run badly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nlpbatch.errors import InvalidParameter, UnknownModel

# Task -> the class name ending transformers gives the head it runs (tasks not named here run
# a bare encoder, a language model or no model at all).
HEADS = {
    "sentiment": "ForSequenceClassification",
    "zero-shot": "ForSequenceClassification",
    "ner": "ForTokenClassification",
    "qa": "ForQuestionAnswering",
}
# Generative task -> whether it needs an encoder-decoder (seq2seq) model, as config.json's
# `is_encoder_decoder` says; a causal language model (GPT-2, Llama) says false or nothing.
SEQ2SEQ = {"summarize": True, "translate": True, "generate": False}
# Tokenizers that build translation inputs from language codes (transformers'
# `_build_translation_inputs`), and how a code is spelt as a token in their vocabulary.
LANGUAGE_CODE_TOKENIZERS = {
    "MBartTokenizer": "{}",
    "MBart50Tokenizer": "{}",
    "NllbTokenizer": "{}",
    "PLBartTokenizer": "{}",
    "SeamlessM4TTokenizer": "__{}__",
    "M2M100Tokenizer": "__{}__",
}


def read_json(path: Path) -> dict[str, Any]:
    """The file's JSON object; empty when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_checkpoint(task: str, params: dict[str, Any], folder: Path) -> None:
    """A JobError when the checkpoint in `folder` cannot do what the job asks of it."""
    check_head(task, folder)
    check_kind(task, folder)
    if task == "translate":
        check_translation(params, folder)


def check_head(task: str, folder: Path) -> None:
    """UnknownModel when config.json names its architectures and none has the task's head.

    transformers gives a missing head random weights and only logs it, so a bare encoder
    (`BertModel`) would return confident but meaningless labels.
    """
    head = HEADS.get(task)
    names = read_json(folder / "config.json").get("architectures")
    if head is None or not isinstance(names, list) or not names:
        return
    if any(str(n).endswith(head) for n in names):
        return
    raise UnknownModel(
        f"task {task} needs a model with a *{head} head; this checkpoint is a "
        f"{', '.join(map(str, names))}, which has none (a random head would be used). "
        f"Use a checkpoint fine-tuned for {task}"
    )


def check_kind(task: str, folder: Path) -> None:
    """UnknownModel when a generative task gets the wrong kind of language model.

    Found in the worker instead, it would fail every document of the job.
    """
    wanted = SEQ2SEQ.get(task)
    config = read_json(folder / "config.json")
    if wanted is None or not config:
        return
    if bool(config.get("is_encoder_decoder", False)) != wanted:
        kind = "a seq2seq model (T5, BART, ...)" if wanted else "a causal language model (GPT-2, ...)"
        names = ", ".join(map(str, config.get("architectures") or [config.get("model_type", "?")]))
        raise UnknownModel(f"task {task} needs {kind}; this checkpoint is a {names}")


def check_translation(params: dict[str, Any], folder: Path) -> None:
    """InvalidParameter for a direction or language code the checkpoint does not know.

    An unknown code would otherwise become the unknown token and be forced as the first token
    of every translation.
    """
    src, tgt = params.get("src_lang"), params.get("tgt_lang")
    tokenizer_class = str(read_json(folder / "tokenizer_config.json").get("tokenizer_class") or "")
    spelling = LANGUAGE_CODE_TOKENIZERS.get(tokenizer_class.removesuffix("Fast"))
    if spelling is not None:
        if not (src and tgt):
            raise InvalidParameter("this translation model needs both src_lang and tgt_lang")
        known = language_tokens(folder)
        for code in (src, tgt):
            if known and spelling.format(code) not in known:
                codes = sorted(t.strip("_") if spelling != "{}" else t for t in known)
                raise InvalidParameter(
                    f"this model has no language code {code!r}; it knows: {', '.join(codes)}"
                )
        return
    task_params = read_json(folder / "config.json").get("task_specific_params") or {}
    directions = sorted(k for k in task_params if k.startswith("translation_"))
    if src and tgt and directions and f"translation_{src}_to_{tgt}" not in directions:
        valid = ", ".join(k.replace("translation_", "").replace("_to_", "->") for k in directions)
        raise InvalidParameter(f"this model does not translate {src}->{tgt}; it knows: {valid}")


def language_tokens(folder: Path) -> set[str]:
    """The tokenizer's additional special tokens, where language codes live; empty if none."""
    config = read_json(folder / "tokenizer_config.json")
    tokens = config.get("additional_special_tokens") or []
    return {t if isinstance(t, str) else str(t.get("content")) for t in tokens if t}
