"""Tokenizers of the common checkpoint families and the texts they are tested on, built offline.

Vocabularies are derived from word counts over a fixed corpus, never trained, so every build
gives the same tokenizer: byte-level BPE (RoBERTa, GPT-2, BART, Llama), SentencePiece-style
Unigram (XLM-R, ALBERT, DeBERTa-v2, T5) and WordPiece (ELECTRA, MPNet).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers import WORDS

TEXTS = [
    "john lives in new york and works for apple",
    "the movie was great  fun , i loved it",
    "  mary was born in berlin , germany .  ",
    "the café in paris serves crème brûlée",
    "서울에 사는 john 😀 lives in paris",
    "The Price was CHEAP but the Sound quality is awful!",
]
# Double spaces give byte-level tokenizers zero-width tokens, some inside window overlaps.
LONG = " ".join(["john lives in london  and mary works for apple in paris ."] * 25)
PLAIN = "the movie was great and i love the price"
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "MISC"]
MNLI_LOWER = ["contradiction", "neutral", "entailment"]
MNLI_UPPER = ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"]
EXTRA = "translate english to french german summarize : hello world it is about {} ."
CORPUS = [*TEXTS, LONG, PLAIN, " ".join(WORDS), EXTRA, EXTRA.upper(), "0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
MAX_LENGTH = 128


def word_counts(normalize: Any = None) -> list[tuple[str, int]]:
    """Words of the corpus by falling count, then alphabetically: the same order every time."""
    counts: Counter[str] = Counter()
    for line in CORPUS:
        counts.update((normalize(line) if normalize else line).split())
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def write_byte_bpe(folder: Path, special: list[str]) -> tuple[Path, Path]:
    """vocab.json and merges.txt: the 256 byte symbols, then each word merged left to right."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    byte_char = bytes_to_unicode()
    vocab: dict[str, int] = {}
    for token in [*special, *(byte_char[b] for b in sorted(byte_char))]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    # Space-led forms first, so a word after a space merges with its space as in real vocabularies.
    for form in [" " + w for w, _ in word_counts()] + [w for w, _ in word_counts()]:
        symbols = [byte_char[b] for b in form.encode("utf-8")]
        left = symbols[0]
        for right in symbols[1:]:
            if left + right not in vocab:
                merges.append((left, right))
                vocab[left + right] = len(vocab)
            left += right
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt"


def unigram_tokenizer(special: list[str], *, lowercase: bool, template: tuple[str, str]) -> Any:
    """A SentencePiece-style Unigram tokenizer: `▁word` pieces scored by count, every character."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    steps = [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    normalizer = normalizers.Sequence([*steps, normalizers.Lowercase()] if lowercase else steps)
    counts = word_counts(normalizer.normalize_str)
    total = sum(c for _, c in counts)
    chars = sorted({ch for w, _ in counts for ch in w})
    pieces = [(s, 0.0) for s in special] + [("▁", -2.0)]
    pieces += [("▁" + w, math.log(c / total)) for w, c in counts]
    pieces += [(ch, -12.0) for ch in chars]
    tok = Tokenizer(models.Unigram(pieces, unk_id=special.index("<unk>") if "<unk>" in special else 1))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    from tokenizers import decoders

    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    single, pair = template
    ids = {s: special.index(s) for s in special}
    used = [(s, ids[s]) for s in special if s in single + pair]
    tok.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=used)
    return tok


def write_wordpiece(folder: Path, special: list[str]) -> Path:
    """vocab.txt of lowercased, accent-stripped words, every character and its `##` piece."""
    from tokenizers.normalizers import BertNormalizer

    folder.mkdir(parents=True, exist_ok=True)
    counts = word_counts(BertNormalizer(lowercase=True).normalize_str)
    chars = sorted({ch for w, _ in counts for ch in w})
    vocab = [*special, *(w for w, _ in counts), *chars, *("##" + ch for ch in chars)]
    path = folder / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    return path


def tokenizer_for(family: str, folder: Path) -> Any:
    """The family's own fast tokenizer class over a vocabulary built here."""
    import transformers as tf

    folder.mkdir(parents=True, exist_ok=True)
    common = {"model_max_length": MAX_LENGTH}
    roberta_specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    if family in ("roberta", "bart"):
        vocab, merges = write_byte_bpe(folder / "src", roberta_specials)
        cls = tf.RobertaTokenizerFast if family == "roberta" else tf.BartTokenizerFast
        return cls(vocab_file=str(vocab), merges_file=str(merges), **common)
    if family == "gpt2":
        vocab, merges = write_byte_bpe(folder / "src", ["<|endoftext|>"])
        return tf.GPT2TokenizerFast(vocab_file=str(vocab), merges_file=str(merges), **common)
    if family == "llama":
        from tokenizers import processors

        bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
        vocab, merges = write_byte_bpe(folder / "src", [bos, eos])
        fast = tf.GPT2TokenizerFast(vocab_file=str(vocab), merges_file=str(merges), **common)
        backend = fast.backend_tokenizer
        backend.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, 0)]
                ),
            ]
        )
        # Llama-3 checkpoints ship a generic fast tokenizer whose template adds BOS.
        return tf.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos, **common)
    if family == "xlm-roberta":
        tok = unigram_tokenizer(
            roberta_specials, lowercase=False, template=("<s> $A </s>", "<s> $A </s> </s> $B </s>")
        )
        return tf.XLMRobertaTokenizerFast(tokenizer_object=tok, **common)
    if family in ("albert", "deberta-v2"):
        special = ["[PAD]" if family == "deberta-v2" else "<pad>", "[CLS]", "[SEP]", "<unk>", "[MASK]"]
        tok = unigram_tokenizer(
            special, lowercase=family == "albert", template=("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1")
        )
        if family == "albert":
            return tf.AlbertTokenizerFast(
                tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", **common
            )
        return tf.DebertaV2TokenizerFast(tokenizer_object=tok, unk_token="<unk>", **common)
    if family == "t5":
        tok = unigram_tokenizer(
            ["<pad>", "</s>", "<unk>"], lowercase=False, template=("$A </s>", "$A </s> $B </s>")
        )
        return tf.T5TokenizerFast(tokenizer_object=tok, extra_ids=0, **common)
    if family == "electra":
        vocab = write_wordpiece(folder / "src", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        return tf.ElectraTokenizerFast(vocab_file=str(vocab), **common)
    if family == "mpnet":
        vocab = write_wordpiece(folder / "src", ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"])
        return tf.MPNetTokenizerFast(vocab_file=str(vocab), **common)
    raise ValueError(family)


def check_tokenizer(tok: Any) -> None:
    """Fail loudly on a tokenizer the parity tests could not trust."""
    for name in ("pad_token", "unk_token", "eos_token", "cls_token", "sep_token", "mask_token", "bos_token"):
        token = getattr(tok, name, None) if name in tok.SPECIAL_TOKENS_ATTRIBUTES else None
        if token is not None and getattr(tok, "_" + name, None) is not None:
            assert tok.convert_tokens_to_ids(str(token)) is not None, f"{name} {token} not in the vocabulary"
    plain = tok(PLAIN, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id is None or tok.unk_token_id not in plain, tok.convert_ids_to_tokens(plain)
    for text in [*TEXTS, LONG]:
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
        assert all(0 <= s <= e <= len(text) for s, e in enc["offset_mapping"]), text
    if tok.mask_token is not None:
        ids = tok(f"the {tok.mask_token} was great")["input_ids"]
        assert ids.count(tok.mask_token_id) == 1, tok.convert_ids_to_tokens(ids)
