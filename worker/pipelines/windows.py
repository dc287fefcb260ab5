"""Whole-document labels: a long text scored window by window, its logits aggregated.

`-p long=window` cuts the text into windows of at most the model's limit, consecutive windows
sharing `stride` tokens, with the tokenizer's own overflow (as `ner` does); a second sequence
(`text_pair`, a zero-shot hypothesis) is repeated whole in every window. The windows' logits are
then averaged (`long_aggregate=mean`) or their maximum taken (`max`) before the task's score
function, so the label is judged on all of the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpbatch.errors import InvalidParameter
from worker.pipelines.base import Feature, Outputs

LONG_PARAMS = ("long", "long_aggregate", "stride")


def check_window_params(params: dict[str, Any], tokenizer: Any, max_length: int) -> None:
    """InvalidParameter when `stride` leaves no new tokens in a window."""
    if params["long"] != "window":
        return
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if not 0 <= params["stride"] < max_length - specials:
        raise InvalidParameter(
            f"stride must be between 0 and {max_length - specials - 1} for this model, got {params['stride']}"
        )


def window_features(
    tokenizer: Any,
    texts: list[str],
    second: list[str] | None,
    owners: list[int],
    max_length: int,
    stride: int,
    extras: list[dict[str, Any]] | None = None,
) -> list[tuple[int, Feature]]:
    """(owner, Feature) for every window of every text (or pair), in order.

    `owners[j]` is the document index of `texts[j]`; `extras[j]` goes into its windows' extra.
    """
    enc = tokenizer(
        texts,
        second,
        truncation="only_first" if second is not None else True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_attention_mask=False,
        return_token_type_ids=True,
    )
    out = []
    for w, j in enumerate(enc["overflow_to_sample_mapping"]):
        extra = dict(extras[j]) if extras else {}
        out.append(
            (owners[j], Feature(owners[j], enc["input_ids"][w], enc["token_type_ids"][w], extra=extra))
        )
    return out


def aggregate_logits(outputs: list[Outputs], how: str) -> np.ndarray:
    """The windows' logits, (windows, labels), reduced to one row by mean or max."""
    logits = np.stack([np.asarray(o["logits"], dtype=np.float64) for o in outputs])
    return np.asarray(logits.max(axis=0) if how == "max" else logits.mean(axis=0))
