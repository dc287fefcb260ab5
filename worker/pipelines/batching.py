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
#: Most padded tokens in one model call when the job does not set `max_batch_tokens`. On a
#: CPU, small calls keep each layer's activations in cache: DistilBERT-base on 2 AMD EPYC
#: cores ran 1.1-1.3x the documents per second with 512 than with 8,192 (int8 more than fp32)
#: at half the peak memory, and no slower on short texts. A GPU is filled by large calls.
CPU_MAX_BATCH_TOKENS = 512
GPU_MAX_BATCH_TOKENS = 8192
#: OpenVINO's own budget on a CPU: NNCF's int8 DistilBERT-base on 2 AMD EPYC cores ran 1.2x
#: faster with 2,048 than with 8,192 and 1.4x faster than with 512; fp32 alike at 512 and 2,048.
OPENVINO_MAX_BATCH_TOKENS = 2048


def default_max_padding(runtime: object) -> float:
    """The share of a batch that may be padding before it closes early: the runtime's own, else
    MAX_PADDING (a runtime that drops padding itself, as CTranslate2, need not close on it)."""
    own = getattr(runtime, "max_padding", None)
    return float(own) if isinstance(own, (int, float)) and own > 0 else MAX_PADDING


def default_max_tokens(runtime: object) -> int:
    """The token budget of a model call: the runtime's own, else by its device (GPU or CPU)."""
    own = getattr(runtime, "max_batch_tokens", None)
    if isinstance(own, int) and own > 0:
        return own
    on_gpu = bool(getattr(runtime, "on_cuda", False)) or str(getattr(runtime, "device", "")).startswith(
        "cuda"
    )
    return GPU_MAX_BATCH_TOKENS if on_gpu else CPU_MAX_BATCH_TOKENS


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
