"""Tiny random models of the common checkpoint families (hidden size 32), saved with tokenizers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.family_tokenizers import (  # noqa: F401  (the texts are re-exported for the tests)
    LONG,
    MNLI_LOWER,
    MNLI_UPPER,
    NER_LABELS,
    PLAIN,
    TEXTS,
    check_tokenizer,
    tokenizer_for,
)
from tests.generative_models import _scramble, t5_config

SIZE = dict(hidden=32, layers=2, heads=2, ffn=37, positions=128)
INIT = 0.5

_ENCODERS = {
    "roberta": ("Roberta", dict(max_position_embeddings=SIZE["positions"] + 2, pad_token_id=1)),
    "xlm-roberta": ("XLMRoberta", dict(max_position_embeddings=SIZE["positions"] + 2, pad_token_id=1)),
    "mpnet": ("MPNet", dict(max_position_embeddings=SIZE["positions"] + 2, pad_token_id=1)),
    "electra": ("Electra", dict(embedding_size=16, max_position_embeddings=SIZE["positions"])),
    "albert": ("Albert", dict(embedding_size=16, max_position_embeddings=SIZE["positions"], pad_token_id=0)),
    "deberta-v2": (
        "DebertaV2",
        dict(max_position_embeddings=SIZE["positions"], relative_attention=True, pos_att_type=["p2c", "c2p"]),
    ),
}
ENCODER_FAMILIES = list(_ENCODERS)
# `make test` checks RoBERTa (position ids offset by the padding id, as XLM-R and MPNet) and
# DeBERTa-v2 (relative attention, the export least like BERT's); the other four families,
# each five more exports, run in `make test-slow`, which CI runs after it.
QUICK_FAMILIES = ("roberta", "deberta-v2")
FAMILY_PARAMS = [
    family if family in QUICK_FAMILIES else pytest.param(family, marks=pytest.mark.slow)
    for family in ENCODER_FAMILIES
]
SEEDS = {"albert": 1, "electra": 3, "mpnet": 3}
HEADS = {
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "fill-mask": "ForMaskedLM",
    "text-classification": "ForSequenceClassification",
}


def _labels(labels: list[str] | None) -> dict[str, Any]:
    if not labels:
        return {}
    return dict(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )


def build_encoder(folder: Path, family: str, head: str, labels: list[str] | None = None) -> Path:
    """A random encoder of `family` with `head`, hidden size 32, saved with its tokenizer."""
    import torch
    import transformers as tf

    # Seeds whose random heads give the test texts different labels (the tests check it).
    torch.manual_seed(SEEDS.get(family, 0))
    tok = tokenizer_for(family, folder / "tokenizer")
    check_tokenizer(tok)
    prefix, extra = _ENCODERS[family]
    config = getattr(tf, prefix + "Config")(
        vocab_size=len(tok),
        hidden_size=SIZE["hidden"],
        num_hidden_layers=SIZE["layers"],
        num_attention_heads=SIZE["heads"],
        intermediate_size=SIZE["ffn"],
        initializer_range=INIT,
        **extra,
        **_labels(labels),
    )
    model = getattr(tf, prefix + HEADS[head])(config).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_seq2seq(folder: Path, family: str, head: str = "generate", **generation: Any) -> Path:
    """A random BART or T5 for generation (or BART with a classifier head); `generation` goes
    into its generation_config.json, as real checkpoints ship it (num_beams=4, ...)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer_for(family, folder / "tokenizer")
    check_tokenizer(tok)
    if family == "bart":
        config: Any = tf.BartConfig(
            vocab_size=len(tok),
            d_model=SIZE["hidden"],
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            max_position_embeddings=SIZE["positions"],
            init_std=INIT,
            forced_bos_token_id=None,
        )
        cls = {
            "generate": tf.BartForConditionalGeneration,
            "text-classification": tf.BartForSequenceClassification,
        }
        if head == "text-classification":
            config.update(_labels(MNLI_UPPER))
        model = cls[head](config).eval()
    else:
        model = tf.T5ForConditionalGeneration(t5_config(len(tok))).eval()
    if family == "t5":  # BART's init_std already spreads it; scrambling its norms makes it repeat one token
        _scramble(model, 1.0)
    if head == "generate":
        model.generation_config.update(**generation)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_causal(folder: Path, family: str, **generation: Any) -> Path:
    """A random GPT-2 or Llama (LlamaForCausalLM); `generation` goes into generation_config.json."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer_for(family, folder / "tokenizer")
    check_tokenizer(tok)
    if family == "gpt2":
        eos = tok.eos_token_id
        config: Any = tf.GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=128,
            bos_token_id=eos,
            eos_token_id=eos,
        )
        model: Any = tf.GPT2LMHeadModel(config)
    else:
        config = tf.LlamaConfig(
            vocab_size=len(tok),
            hidden_size=SIZE["hidden"],
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=SIZE["positions"],
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
        model = tf.LlamaForCausalLM(config)
    model.eval()
    _scramble(model, 0.5)
    model.generation_config.update(**generation)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
