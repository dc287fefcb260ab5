"""Passages for a retrieval index: `embed` with passages=256, overlap=32, against a hand-written loop.

    python -m benchmarks.passages [--docs 40] [--threads 2]

Long documents of 1,000-5,000 words, built offline from the reviews in examples/reviews.jsonl
(shuffled reviews joined into paragraphs), embedded with the packaged all-MiniLM-L6-v2:

- nlpbatch: `nlpbatch.pipeline("embed", passages=256, overlap=32)`, in-process, the engine,
  batching and records of `nlpbatch run` (ONNX Runtime, fp32);
- the loop users write by hand: the model's tokenizer cuts each document into windows of
  254 tokens (256 with [CLS] and [SEP]) overlapping by 32, and `sentence-transformers`'
  `SentenceTransformer.encode` (PyTorch, fp32, batch 32) embeds all the passages' texts.

Both use the same threads and run once to warm up (load and export excluded), then once
timed, in one process, one after the other. Tokens/s counts each engine's embedded tokens
(its passages' tokens with the special tokens, overlaps included) and the documents' own tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.generation import cpu
from benchmarks.runners import MINILM

ROOT = Path(__file__).resolve().parents[1]
PASSAGES, OVERLAP, BATCH = 256, 32, 32


def documents(count: int, seed: int = 0) -> list[str]:
    """`count` documents of 1,000-5,000 words: shuffled reviews in paragraphs of 2-6 reviews."""
    reviews = [json.loads(line)["text"] for line in (ROOT / "examples" / "reviews.jsonl").open()]
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        target, words, paragraphs = rng.randint(1_000, 5_000), 0, []
        while words < target:
            paragraph = " ".join(rng.sample(reviews, rng.randint(2, 6)))
            paragraphs.append(paragraph)
            words += len(paragraph.split())
        out.append("\n\n".join(paragraphs))
    return out


def by_hand(tokenizer: Any, text: str) -> list[str]:
    """The usual splitter: windows of 254 tokens, 32 shared with the next, cut by the offsets."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    body = PASSAGES - tokenizer.num_special_tokens_to_add(pair=False)
    out, first = [], 0
    while True:
        last = min(first + body, len(offsets))
        out.append(text[offsets[first][0] : offsets[last - 1][1]])
        if last == len(offsets):
            return out
        first = last - OVERLAP


def run_nlpbatch(docs: list[str], threads: int) -> tuple[float, list[tuple[int, int, int]]]:
    """Seconds, and each passage's (document, start, end)."""
    import nlpbatch

    embed = nlpbatch.pipeline("embed", model=MINILM, threads=threads, passages=PASSAGES, overlap=OVERLAP)
    list(embed(docs[:2]))  # warm-up: export, load
    began = time.perf_counter()
    records = list(embed(docs))
    seconds = time.perf_counter() - began
    cuts = []
    for i, record in enumerate(records):
        for entry in record.get("passages", [record]):
            cuts.append((i, entry["start"], entry["end"]))
    return seconds, cuts


def run_by_hand(docs: list[str], threads: int, model_path: str) -> tuple[float, list[str], Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_path, device="cpu")

    def once(texts: list[str]) -> list[str]:
        passages = [p for text in texts for p in by_hand(model.tokenizer, text)]
        model.encode(passages, batch_size=BATCH, convert_to_numpy=True)
        return passages

    once(docs[:2])
    began = time.perf_counter()
    passages = once(docs)
    return time.perf_counter() - began, passages, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from nlpbatch.modelref import resolve

    path = str(resolve(MINILM).path)
    tok = AutoTokenizer.from_pretrained(path)
    docs = documents(args.docs)
    words = [len(d.split()) for d in docs]
    doc_tokens = sum(len(tok(d, add_special_tokens=False)["input_ids"]) for d in docs)
    print(f"CPU: {cpu()}")
    print(f"corpus: {len(docs)} documents from examples/reviews.jsonl, {min(words)}-{max(words)} words")
    print(f"  ({sum(words)} words, {doc_tokens} tokens); model {MINILM}")
    print(f"passages {PASSAGES}, overlap {OVERLAP}")
    print(f"threads {args.threads}; one warm-up run each, then one timed run", flush=True)

    def embedded(texts: list[str]) -> int:
        return sum(len(ids) for ids in tok(texts)["input_ids"])

    rows = []
    seconds, cuts = run_nlpbatch(docs, args.threads)
    ours = [docs[i][a:b] for i, a, b in cuts]
    rows.append(("nlpbatch.pipeline embed passages=256 overlap=32 (ONNX fp32)", seconds, ours))
    print(f"  nlpbatch: {seconds:.1f} s", flush=True)
    seconds, theirs, model = run_by_hand(docs, args.threads, path)
    rows.append(("hand-written splitter + SentenceTransformer.encode (PyTorch fp32)", seconds, theirs))
    print(f"  by hand: {seconds:.1f} s", flush=True)

    print()
    columns = [
        "engine",
        "passages",
        "embedded tokens",
        "seconds",
        "docs/s",
        "embedded tokens/s",
        "document tokens/s",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = rows[-1][1]
    for name, secs, passages in rows:
        n = embedded(passages)
        print(
            f"| {name} | {len(passages)} | {n} | {secs:.2f} | {len(docs) / secs:.2f} | {n / secs:.0f} "
            f"| {doc_tokens / secs:.0f} |"
        )
    print(f"\nnlpbatch vs the hand-written loop: {base / rows[0][1]:.2f}x the docs/s")
    # The same passage text embedded both ways: the two engines agree.
    import numpy as np

    sample = ours[:8]
    theirs_vec = model.encode(sample, convert_to_numpy=True, normalize_embeddings=True)
    import nlpbatch

    mine = [r["embedding"] for r in nlpbatch.pipeline("embed", model=MINILM, threads=args.threads)(sample)]
    mine_vec = np.asarray(mine) / np.linalg.norm(mine, axis=1, keepdims=True)
    cosines = (theirs_vec * mine_vec).sum(axis=1)
    print(f"cosine, nlpbatch vs sentence-transformers on 8 of nlpbatch's passages: min {cosines.min():.6f}")


if __name__ == "__main__":
    main()
