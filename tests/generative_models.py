"""Tiny random generative models (T5 and GPT-2) with byte-level BPE tokenizers built offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import WORDS

SENTENCES = [
    "i love this movie , it was great fun",
    "the battery broke after a week , very bad",
    "what is the capital of france ? paris is the capital city",
    "john works for a new company in london and mary lives in berlin",
    "The price was cheap but the sound quality is awful!",
    "한국어 문장도 토큰으로 나뉩니다 😀 🚀",
    " ".join(WORDS),
]

# T5's own task parameters, so prefixes are exercised as transformers applies them.
T5_TASK_PARAMS = {
    "summarization": {"prefix": "summarize: "},
    "translation_en_to_fr": {"prefix": "translate English to French: "},
    "translation_en_to_de": {"prefix": "translate English to German: "},
}


def _bpe(special: list[str], vocab_size: int = 400) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES * 3, trainer)
    return tok


def _scramble(model: object, std: float) -> None:
    """Wider random weights: at the default init, tiny models emit one token forever and their
    top logits nearly tie, which makes greedy parity a coin toss rather than a test."""
    import torch

    with torch.no_grad():
        for p in model.parameters():  # type: ignore[attr-defined]
            p.normal_(0.0, std)


def t5_config(vocab_size: int) -> Any:
    """A T5 config with d_model 32, <pad> 0 and </s> 1, and T5's own task parameters."""
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        task_specific_params=T5_TASK_PARAMS,
    )


def build_tiny_t5(folder: Path) -> Path:
    """A random T5 (d_model 32) whose tokenizer ends every input with </s>, as T5's does."""
    import torch
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, T5ForConditionalGeneration

    torch.manual_seed(0)
    tok = _bpe(["<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.TemplateProcessing(  # type: ignore[attr-defined]
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )
    model = T5ForConditionalGeneration(t5_config(len(fast))).eval()
    _scramble(model, 1.0)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_gpt2(folder: Path) -> Path:
    """A random GPT-2 (n_embd 32) with <|endoftext|> as its only special token, as GPT-2 has."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = _bpe(["<|endoftext|>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )
    config = GPT2Config(
        vocab_size=len(fast), n_embd=32, n_layer=2, n_head=2, n_positions=128, bos_token_id=0, eos_token_id=0
    )
    model = GPT2LMHeadModel(config).eval()
    _scramble(model, 0.5)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_mbart50(folder: Path) -> Path:
    """A random mBART (d_model 32) with an mBART-50 tokenizer: language codes pick the direction."""
    import torch
    from transformers import MBart50TokenizerFast, MBartConfig, MBartForConditionalGeneration

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    _bpe(["<s>", "<pad>", "</s>", "<unk>"]).save(str(folder / "tokenizer.json"))  # type: ignore[attr-defined]
    fast = MBart50TokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        src_lang="en_XX",
        tgt_lang="fr_XX",
        model_max_length=128,
    )
    config = MBartConfig(
        vocab_size=len(fast),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=128,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    model = MBartForConditionalGeneration(config).eval()
    _scramble(model, 1.0)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
