"""Passages for `embed`: a long document cut into windows of at most N tokens, overlapping by M.

The document is tokenized once by the model's own tokenizer (offsets, no special tokens); a
window holds at most N tokens counting the model's special tokens. A window that does not
reach the end of the document is cut at the last sentence boundary, else the last word
boundary, found in its second half; only a run of text with no boundary at all (a long
URL, a string without spaces) is cut between two tokens. The next window starts M tokens
before the cut, moved forward to a word start. Each passage is then encoded from its own
text, `text[start:end]`, so its embedding is exactly that of the passage as a document.
"""

from __future__ import annotations

from typing import Any

from nlpbatch.errors import InvalidParameter

_SENTENCE_END = ".!?。！？\n"


def check_passage_params(passages: int, overlap: int, model_limit: int) -> None:
    """InvalidParameter for a passage size the job cannot use."""
    if passages < 0 or overlap < 0:
        raise InvalidParameter("parameters 'passages' and 'overlap' must not be negative")
    if passages and overlap >= passages:
        raise InvalidParameter(f"'overlap' ({overlap}) must be smaller than 'passages' ({passages})")
    if passages > model_limit:
        limit = f"the model's limit of {model_limit} tokens"
        raise InvalidParameter(f"'passages' ({passages}) is larger than {limit}")


def _boundary(text: str, offsets: list[tuple[int, int]], k: int) -> int:
    """How good a cut before token k is: 2 after a sentence end, 1 between words, 0 inside a word."""
    prev_end, start = offsets[k - 1][1], offsets[k][0]
    before = text[prev_end - 1] if prev_end > 0 else " "
    gap = start > prev_end
    if gap and (before in _SENTENCE_END or text[prev_end:start].count("\n")):
        return 2
    if gap or not before.isalnum() or not text[start : start + 1].isalnum():
        return 1
    return 0


def spans(tokenizer: Any, text: str, passages: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans (start, end) of the passages of `text`; a short text gives one."""
    body = max(1, passages - tokenizer.num_special_tokens_to_add(pair=False))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    del enc
    total = len(offsets)
    if total <= body:
        return [(0, len(text))]
    out: list[tuple[int, int]] = []
    first = 0
    while True:
        last = min(first + body, total)  # window: tokens first .. last-1
        if last < total:
            floor = max(first + 1, last - max(1, body // 2))
            best = max(range(floor, last + 1), key=lambda k: (_boundary(text, offsets, k), k))
            if _boundary(text, offsets, best) > 0:
                last = best
        start = 0 if not out else offsets[first][0]
        end = len(text) if last >= total else offsets[last - 1][1]
        out.append((start, end))
        if last >= total:
            return out
        nxt = max(first + 1, last - overlap)
        while nxt < last and _boundary(text, offsets, nxt) == 0:
            nxt += 1
        first = nxt
