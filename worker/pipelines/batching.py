"""Batches by length: features sorted within windows and packed under a token budget."""

from __future__ import annotations

from collections.abc import Sequence

#: Sort features by length within windows of this many batches: enough for a few percent
#: of padding on mixed-length text, while records still stream out in order.
WINDOW_BATCHES = 10
#: A batch closes early when its padding would pass this share ...
MAX_PADDING = 0.03
#: ... unless it is still smaller than this many padded tokens, where a bigger model call
#: is worth more than the padding it costs.
MIN_BATCH_TOKENS = 512


def plan_batches(
    lengths: Sequence[int],
    *,
    batch_size: int,
    max_tokens: int,
    window: int | None = None,
    max_padding: float = MAX_PADDING,
    min_tokens: int = MIN_BATCH_TOKENS,
) -> list[list[int]]:
    """Group feature indexes into batches: sorted by length within each window, under the limits.

    Features are sorted within consecutive windows of `window` features (default: all of
    them). The padded cost of a batch is its size times its longest feature; a batch holds at
    most `batch_size` features and `max_tokens` padded tokens, and closes early when more
    than `max_padding` of it would be padding. A single feature longer than `max_tokens`
    still gets a batch of its own.
    """
    size = window if window and window > 0 else max(1, len(lengths))
    batches: list[list[int]] = []
    for start in range(0, len(lengths), size):
        order = sorted(range(start, min(start + size, len(lengths))), key=lambda i: lengths[i])
        current: list[int] = []
        real = 0
        for i in order:
            # Sorted ascending, so feature i is the longest of the batch it would join.
            padded = (len(current) + 1) * lengths[i]
            too_padded = padded > min_tokens and 1 - (real + lengths[i]) / padded > max_padding
            if current and (len(current) >= batch_size or padded > max_tokens or too_padded):
                batches.append(current)
                current, real = [], 0
            current.append(i)
            real += lengths[i]
        if current:
            batches.append(current)
    return batches
