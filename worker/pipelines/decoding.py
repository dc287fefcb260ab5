"""Decoding settings as transformers pipelines build them, and sampling that ignores batching.

transformers samples a whole batch from one random stream, so a document's sample depends on
which documents share its batch. Here each document draws from its own generator, seeded by
the job's seed and the document's text: the same seed and text give the same output whatever
the batch, the chunk, or the worker.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

# transformers' defaults for its pipelines, used where the model's generation config is silent.
SEQ2SEQ_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}
CAUSAL_DEFAULTS = {"max_new_tokens": 256, "temperature": 0.7}
USER_SETTINGS = ("max_new_tokens", "num_beams", "temperature", "top_k", "top_p")


def generation_config(
    model: Any,
    params: dict[str, Any],
    *,
    defaults: dict[str, Any],
    task_params: dict[str, Any],
    pad_token_id: int | None,
) -> GenerationConfig:
    """The model's generation config over the pipeline defaults, then task params, then the job's.

    This is the order `transformers.pipeline` applies them in.
    """
    base = GenerationConfig(**defaults)
    config, _ = model._prepare_generation_config(generation_config=base, use_model_defaults=True)
    # As transformers: a model that sets max_length keeps it over the pipeline's max_new_tokens.
    if (
        config.max_new_tokens == defaults.get("max_new_tokens")
        and config.max_length is not None
        and config.max_length != 20
    ):
        config.max_new_tokens = None
    config.update(**{k: v for k, v in task_params.items() if k != "prefix"})
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    for name in USER_SETTINGS:
        if params.get(name) is not None:
            setattr(config, name, params[name])
    if params["do_sample"]:  # nlpbatch.tasks.GenerationSpec refuses num_beams > 1 with sampling
        config.num_beams = 1
    # Sampling is done by SeededSampler; the model's own sampling flag would re-sample.
    config.do_sample = False
    return config


def document_seed(seed: int, text: str) -> int:
    """A 63-bit seed from the job's seed and the document's text."""
    digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class SeededSampler(LogitsProcessor):
    """Samples each row's next token from that row's own generator.

    It runs last among the logits processors and leaves only the drawn token possible, so the
    greedy step that follows picks it. Temperature, top-k and top-p apply first, as in
    transformers' sampling.
    """

    def __init__(self, seeds: list[int], config: GenerationConfig) -> None:
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.warpers = LogitsProcessorList()
        if config.temperature is not None and config.temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k:
            self.warpers.append(TopKLogitsWarper(config.top_k))
        if config.top_p is not None and config.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(config.top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        warped = self.warpers(input_ids, scores)
        probs = torch.softmax(warped.float(), dim=-1).cpu()
        picks = [
            int(torch.multinomial(p, 1, generator=g)) for p, g in zip(probs, self.generators, strict=True)
        ]
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(picks)), torch.tensor(picks, device=scores.device)] = 0.0
        return out  # type: ignore[return-value]
