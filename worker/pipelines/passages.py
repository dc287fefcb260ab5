"""Passages for `embed`: a long document cut into windows of at most N tokens, overlapping by M.

The document is tokenized once by the model's own tokenizer (offsets, no special tokens), in
slices of a few ten thousand characters (see `token_offsets`), so a long document never has
all its tokenizer objects alive at once and its offsets are kept as two compact arrays; a
window holds at most N tokens counting the model's special tokens. A window that does not
reach the end of the document is cut at the last sentence boundary, else the last word
boundary, found in its second half; only a run of text with no boundary at all (a long
URL, a string without spaces) is cut between two tokens. The next window starts M tokens
before the cut, moved forward to a word start. Each passage is then encoded from its own
text, `text[start:end]`, so its embedding is exactly that of the passage as a document.
"""

from __future__ import annotations

import bisect
from array import array
from typing import Any

from nlpbatch.errors import InvalidParameter

_SENTENCE_END = ".!?。！？\n"
#: Characters tokenized per call on a long document, and the margin kept at a slice's end:
#: tokens ending in it are taken from the next slice, which starts before them.
SLICE_CHARS = 1 << 15
SLICE_MARGIN = 512
#: Tokens at the start of a slice that may be tokenized differently than in the whole text
#: (a SentencePiece prefix, a byte-level space) before its tokens must agree with the last ones.
_SYNC_TOKENS = 4

Offsets = tuple["array[int]", "array[int]"]


def check_passage_params(passages: int, overlap: int, model_limit: int) -> None:
    """InvalidParameter for a passage size the job cannot use."""
    if passages < 0 or overlap < 0:
        raise InvalidParameter("parameters 'passages' and 'overlap' must not be negative")
    if passages and overlap >= passages:
        raise InvalidParameter(f"'overlap' ({overlap}) must be smaller than 'passages' ({passages})")
    if passages > model_limit:
        limit = f"the model's limit of {model_limit} tokens"
        raise InvalidParameter(f"'passages' ({passages}) is larger than {limit}")


def _pairs(tokenizer: Any, text: str, shift: int) -> list[tuple[int, int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    return [(int(a) + shift, int(b) + shift) for a, b in enc["offset_mapping"]]


def _whole(tokenizer: Any, text: str) -> Offsets:
    pairs = _pairs(tokenizer, text, 0)
    return array("q", (a for a, _ in pairs)), array("q", (b for _, b in pairs))


def _cut_at_space(text: str, lo: int, hi: int) -> int | None:
    """The end of the last word in text[lo:hi] that is followed by whitespace, if any."""
    for k in range(hi, lo, -1):
        if text[k].isspace() and not text[k - 1].isspace():
            return k
    return None


def token_offsets(
    tokenizer: Any, text: str, *, slice_chars: int = SLICE_CHARS, margin: int = SLICE_MARGIN
) -> Offsets:
    """The (starts, ends) character offsets of `text`'s tokens, as tokenizing it whole gives them.

    A text longer than `slice_chars` is tokenized in slices that end after a word (before
    whitespace). A slice's tokens ending in its last `margin` characters are left to the next
    slice, which starts at a token about `2 x margin` characters before that point; the
    next slice's tokens must reproduce the tokens already taken from some point among its
    first few onwards, else (a text with no whitespace to cut at, a tokenizer whose tokens
    depend on more context than a word) the text is tokenized whole instead.
    """
    total = len(text)
    if total <= slice_chars:
        return _whole(tokenizer, text)
    starts: array[int] = array("q")
    ends: array[int] = array("q")
    pos = 0
    while True:
        end = pos + slice_chars
        stop = total if end >= total else _cut_at_space(text, end - slice_chars // 2, end)
        if stop is None:
            return _whole(tokenizer, text)
        new = _pairs(tokenizer, text[pos:stop], pos)
        first = 0
        if starts:
            found = _agree(starts, ends, new, pos)
            if found is None:
                return _whole(tokenizer, text)
            first = found
        final = stop == total
        keep = len(new) if final else bisect.bisect_right([b for _, b in new], stop - margin)
        if not final and keep <= first + 1:
            return _whole(tokenizer, text)
        for a, b in new[first:keep]:
            starts.append(a)
            ends.append(b)
        if final:
            return starts, ends
        # The next slice starts at a token at least 2 x margin characters before the last kept
        # token's end, and never at the second of tokens sharing one character (bytes of an emoji).
        k = len(starts) - 1
        limit = ends[-1] - 2 * margin
        while k > 0 and (starts[k] > limit or starts[k - 1] == starts[k]) and starts[k - 1] >= pos:
            k -= 1
        if starts[k] <= pos:
            return _whole(tokenizer, text)
        pos = starts[k]


def _agree(starts: array[int], ends: array[int], new: list[tuple[int, int]], pos: int) -> int | None:
    """Index in `new` after the tokens already taken, once `new` reproduces them to their end."""
    c = len(starts)
    b = bisect.bisect_left(starts, pos)
    for m in range(b, min(b + _SYNC_TOKENS, c)):
        want = (starts[m], ends[m])
        for i in range(min(len(new), _SYNC_TOKENS * 2)):
            if new[i] != want:
                continue
            tail = c - m
            if len(new) - i >= tail and all(new[i + t] == (starts[m + t], ends[m + t]) for t in range(tail)):
                return i + tail
    return None


def _boundary(text: str, offsets: Offsets, k: int) -> int:
    """How good a cut before token k is: 2 after a sentence end, 1 between words, 0 inside a word."""
    prev_end, start = offsets[1][k - 1], offsets[0][k]
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
    offsets = token_offsets(tokenizer, text)
    total = len(offsets[0])
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
        start = 0 if not out else offsets[0][first]
        end = len(text) if last >= total else offsets[1][last - 1]
        out.append((start, end))
        if last >= total:
            return out
        nxt = max(first + 1, last - overlap)
        while nxt < last and _boundary(text, offsets, nxt) == 0:
            nxt += 1
        first = nxt
