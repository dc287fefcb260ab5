"""The job's decoding settings as CTranslate2 options, or a clear refusal of those it cannot match.

The settings are transformers' GenerationConfig, built as for ONNX Runtime
(worker.pipelines.decoding), so the same job decodes the same text on both backends in fp32:
greedy and beam search, lengths, length penalty, no-repeat n-grams, forced first tokens
(mBART, NLLB and M2M100 language codes) and BART's forced end token. A setting CTranslate2
has no exact counterpart for is refused by name (InvalidParameter: exit 2 in the CLI), and
the job can run it with `--backend onnx`.
"""

from __future__ import annotations

from typing import Any

from nlpbatch.errors import InvalidParameter

#: Settings CTranslate2 cannot apply as transformers does, with the value that means "off".
UNSUPPORTED = {
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
    "penalty_alpha": None,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "min_p": None,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "force_words_ids": None,
    "constraints": None,
    "sequence_bias": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "exponential_decay_length_penalty": None,
    "num_return_sequences": 1,
    "min_new_tokens": None,
}


def _refuse(name: str, value: Any) -> InvalidParameter:
    return InvalidParameter(
        f"--backend ctranslate2 cannot apply the decoding setting {name}={value!r} as transformers "
        "does (set by the model's generation config or the job); run this job with --backend onnx"
    )


def ct2_options(config: Any, *, causal: bool, sample: bool) -> dict[str, Any]:
    """translate_batch / generate_batch options for a GenerationConfig (the pipeline's `gen_config`).

    Lengths count as transformers counts them: new tokens, a forced first token included.
    With a forced end token (BART), transformers makes the last allowed token the end token,
    which decodes to nothing: CTranslate2 decodes one token fewer, the same text.
    """
    for name, off in UNSUPPORTED.items():
        value = getattr(config, name, off)
        if value not in (off, None, [], {}) and value != off:
            raise _refuse(name, value)
    if config.max_new_tokens is not None:
        longest = int(config.max_new_tokens)
    elif not causal:  # max_length counts the decoder's start token
        longest = int(config.max_length) - 1
    else:  # a causal max_length counts the prompt, which differs from row to row
        raise _refuse("max_length", config.max_length)
    shortest = int(config.min_length or 0)
    if causal and shortest:  # counts the prompt too
        raise _refuse("min_length", shortest)
    if not causal:
        shortest = max(0, shortest - 1)
    if config.forced_eos_token_id is not None:
        longest -= 1
    beams = int(config.num_beams or 1)
    options: dict[str, Any] = {
        "beam_size": beams,
        "length_penalty": float(config.length_penalty if config.length_penalty is not None else 1.0),
        "no_repeat_ngram_size": int(config.no_repeat_ngram_size or 0),
        "end_token": _end_tokens(config),
    }
    if causal:
        options.update(max_length=max(longest, 0), min_length=shortest)
    else:
        options.update(max_decoding_length=max(longest, 0), min_decoding_length=shortest)
    if sample:
        options.update(
            sampling_topk=int(config.top_k or 0),  # 0: the whole vocabulary
            sampling_topp=float(config.top_p if config.top_p is not None else 1.0),
            sampling_temperature=float(config.temperature if config.temperature is not None else 1.0),
        )
    return options


def _end_tokens(config: Any) -> list[int]:
    eos = config.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
