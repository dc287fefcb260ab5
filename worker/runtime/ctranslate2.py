"""CTranslate2 on CPU for the generative tasks: a Translator (seq2seq) or a Generator (causal).

Token ids go in and come out: they are mapped to the converted model's vocabulary strings
and back, so the pipelines tokenize and decode exactly as they do on ONNX Runtime.
CTranslate2 batches as it is given: nlpbatch already sorts documents by length, and each
call runs one of its batches (max_batch_size 0), on `threads` intra-op threads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ctranslate2

from worker.models.ct2_store import COMPUTE_TYPES, CT2_FOLDER
from worker.runtime.generation import GenerationRuntime


class GenerationDefaults:
    """What transformers' `_prepare_generation_config` reads of a model: its two configs.

    The decoding settings are built by worker.pipelines.decoding exactly as for a transformers
    model, so a job's settings mean the same on every backend.
    """

    def __init__(self, folder: Path) -> None:
        from transformers import AutoConfig, GenerationConfig
        from transformers.generation.utils import GenerationMixin

        self.config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        try:
            self.generation_config = GenerationConfig.from_pretrained(str(folder))
        except OSError:  # as transformers does for a checkpoint with no generation_config.json
            self.generation_config = GenerationConfig.from_model_config(self.config)
        self._prepare = GenerationMixin._prepare_generation_config

    def _prepare_generation_config(self, *args: Any, **kwargs: Any) -> Any:
        return self._prepare(self, *args, **kwargs)  # type: ignore[arg-type]


class Ct2Runtime(GenerationRuntime):
    """A converted model with `generate_rows`: token id lists in, new token id lists out."""

    #: Most source tokens (padding included) in one call: the job's `batch_size` (32 by
    #: default) rows of a few hundred tokens; the encoders' 512 would cut a chunk of 32
    #: documents of 50-100 tokens into five calls that each cost about what one of 16 rows does.
    max_batch_tokens = 8192
    #: CTranslate2 drops the padding itself and its decoding steps cost per row, so padding
    #: does not close its batches: they fill to `batch_size`. A BART-base summarize chunk of
    #: 32 documents of 30-95 words ran 1.7x the new tokens/s, with the same records. (ONNX
    #: Runtime keeps the encoders' limit: its batches compute the padding, and their records
    #: may change with it.)
    max_padding = 1.0

    def __init__(self, folder: Path, *, precision: str, threads: int, checkpoint: Path | None = None) -> None:
        # The decoding settings are read from the checkpoint itself: its generation config
        # may change without its weights, and the converted entry is keyed by the weights.
        defaults = GenerationDefaults(checkpoint or folder)
        super().__init__(defaults, backend="ctranslate2", precision=precision, folder=folder)
        self.compute_type = COMPUTE_TYPES[precision]
        self.threads = max(1, threads)
        path = str(folder / CT2_FOLDER)
        engine = ctranslate2.Translator if self.is_encoder_decoder else ctranslate2.Generator
        # One batch at a time per process, as on ONNX Runtime: all threads to that batch.
        self.engine = engine(
            path, device="cpu", compute_type=self.compute_type, intra_threads=self.threads, inter_threads=1
        )
        name = (
            "shared_vocabulary.json"
            if (folder / CT2_FOLDER / "shared_vocabulary.json").is_file()
            else "vocabulary.json"
        )
        self.vocabulary: list[str] = json.loads((folder / CT2_FOLDER / name).read_text(encoding="utf-8"))
        self.ids = {token: i for i, token in enumerate(self.vocabulary)}

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.vocabulary[i] for i in ids]

    def generate_rows(
        self,
        rows: list[list[int]],
        options: dict[str, Any],
        *,
        prefix: int | None = None,
        seeds: list[int] | None = None,
    ) -> list[list[int]]:
        """The new token ids of each row (a forced first token included), end token excluded.

        With `seeds` (sampling), each row is drawn alone after seeding CTranslate2's random
        generator with its seed: CTranslate2 samples a batch from one stream, and a document's
        text must not depend on the documents beside it.
        """
        if seeds is not None:
            drawn: list[list[int]] = []
            for row, seed in zip(rows, seeds, strict=True):
                ctranslate2.set_random_seed(seed % 2**32)
                drawn += self.generate_rows([row], options, prefix=prefix)
            return drawn
        source = [self.tokens(row) for row in rows]
        if self.is_encoder_decoder:
            target = [self.tokens([prefix]) for _ in rows] if prefix is not None else None
            results = self.engine.translate_batch(source, target, max_batch_size=0, **options)
            return [[self.ids[t] for t in r.hypotheses[0]] for r in results]
        # Prompts of one length at a time: with prompts of several lengths, CTranslate2 returns
        # the part of the longer prompts past the shortest one as if it were generated.
        out: list[list[int]] = [[] for _ in rows]
        for width in sorted({len(row) for row in rows}):
            picked = [i for i, row in enumerate(rows) if len(row) == width]
            results = self.engine.generate_batch(
                [source[i] for i in picked], include_prompt_in_result=False, max_batch_size=0, **options
            )
            for i, r in zip(picked, results, strict=True):
                out[i] = list(r.sequences_ids[0])
        return out

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("CTranslate2 generates from token lists: use generate_rows")

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("the CTranslate2 runtime generates; it does not score")
