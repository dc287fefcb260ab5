"""A deterministic mixed-length English corpus, and the benchmark's DistilBERT-base classifier."""

from __future__ import annotations

import json
import random
from pathlib import Path

_SUBJECTS = (
    "the new phone|my old laptop|this hotel|the delivery service|our team|the camera|the city council|"
    "the film|a small bakery|the support agent|the train company|this novel|the software update|"
    "the restaurant downstairs|her first album|the museum|the landlord|the airline|this course|the bank"
).split("|")
_VERBS = (
    "arrived|worked|failed|improved|surprised everyone|broke down|exceeded expectations|disappointed us|"
    "changed quickly|stopped responding|got better|felt rushed|ran smoothly|kept crashing|sold out|"
    "looked great|took forever|cost too much|saved us time|made things worse"
).split("|")
_TAILS = (
    "after two weeks|on the first day|despite the rain|during the holidays|without any warning|"
    "at a fair price|in every review I read|for most of the evening|compared with last year|"
    "once the manager stepped in|as the reviews promised|before the deadline|"
    "according to my neighbours|in the middle of the meeting|even with the discount"
).split("|")
_OPINIONS = (
    "I would recommend it to a friend|I will not buy it again|honestly it was fine|"
    "the staff were friendly and helpful|the instructions were confusing|it is worth every penny|"
    "the battery life is disappointing|the screen is bright and sharp|nobody answered the phone|"
    "the price seems reasonable for what you get|it smelled strange|the design is elegant|"
    "we asked for a refund|the food was cold|the music was too loud|I learned a lot"
).split("|")


def _sentence(rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TAILS)}."
    else:
        text = f"{rng.choice(_OPINIONS)}."
    return text[0].upper() + text[1:]


def document(rng: random.Random, words: tuple[int, int] = (10, 300)) -> str:
    """One review-like text of `words` (lowest, highest) words, 10 to 300 by default."""
    target = rng.randint(*words)
    out: list[str] = []
    while len(out) < target:
        out.extend(_sentence(rng).split())
    return " ".join(out[:target]).rstrip(".") + "."


def write_corpus(path: Path, docs: int, seed: int = 13, words: tuple[int, int] = (10, 300)) -> Path:
    """`docs` documents of `words` words as JSONL (`id`, `text`); the same file for the same arguments."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(docs):
            fh.write(json.dumps({"id": f"doc{i:06d}", "text": document(rng, words)}) + "\n")
    return path


def slice_corpus(source: Path, out: Path, start: int, stop: int) -> Path:
    """Documents `start` to `stop` of a JSONL corpus, as their own file."""
    with source.open(encoding="utf-8") as fh:
        lines = fh.readlines()[start:stop]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def build_distilbert(folder: Path, vocab_from: Path) -> Path:
    """DistilBERT-base for sequence classification, from its default config, random weights.

    Random weights cost exactly the compute trained ones do. The tokenizer is the uncased
    BERT WordPiece vocabulary (30,522 entries) that DistilBERT-base uses, read from a local
    model's `vocab.txt` so no network is needed.
    """
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    torch.manual_seed(0)
    labels = {0: "NEGATIVE", 1: "POSITIVE"}
    config = DistilBertConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    model = DistilBertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    vocab = vocab_from / "vocab.txt"
    DistilBertTokenizerFast(str(vocab), do_lower_case=True, model_max_length=512).save_pretrained(folder)
    return folder
