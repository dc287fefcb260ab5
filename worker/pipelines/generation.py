"""`summarize`, `translate` and `generate`: text from seq2seq and causal language models.

Documents are tokenized once, sorted by length and generated in batches, as the encoder
tasks are (right padding for seq2seq encoders, left padding for causal models, so every
prompt ends where generation starts). A batch that fails is bisected like any other, and
each document's text is decoded as the matching transformers pipeline decodes it.

The decoding helpers import PyTorch, so they are imported when a generative model is loaded,
not with the pipeline registry: the ONNX encoder tasks never load PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nlpbatch.errors import DocumentError, InvalidParameter, ModelLoadError, UnknownModel
from nlpbatch.schema import Doc, Record
from worker.comparisons import text_comparison
from worker.models.head import Head
from worker.models.loader import LoadedModel
from worker.pipelines.base import Feature, Outputs, Pipeline
from worker.runtime.generation import GenerationRuntime

if TYPE_CHECKING:
    from transformers import GenerationConfig


class GenerationPipeline(Pipeline):
    """Shared by the three tasks: subclasses name their output field and task parameters key."""

    output_field: ClassVar[str]
    causal: ClassVar[bool] = False

    def __init__(self, model: LoadedModel, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        if not isinstance(model.runtime, GenerationRuntime):
            raise ModelLoadError(f"task {self.spec.name} needs a model loaded for generation")
        self.runtime: GenerationRuntime = model.runtime
        if self.runtime.is_encoder_decoder == self.causal:
            kind = (
                "a causal language model (GPT-2, ...)" if self.causal else "a seq2seq model (T5, BART, ...)"
            )
            raise UnknownModel(f"task {self.spec.name} needs {kind}")
        from worker.pipelines import decoding  # PyTorch: loaded with the generative model

        self.decoding = decoding
        all_task_params = getattr(self.config, "task_specific_params", None) or {}
        task_params = dict(all_task_params.get(self.task_key(all_task_params), {}))
        # transformers: the model config's prefix, unless the task's parameters name one.
        self.prefix: str = task_params.get("prefix", getattr(self.config, "prefix", None)) or ""
        self.generate_kwargs: dict[str, Any] = {}
        self.gen_config: GenerationConfig = decoding.generation_config(
            self.runtime.model,
            self.params,
            defaults=decoding.CAUSAL_DEFAULTS if self.causal else decoding.SEQ2SEQ_DEFAULTS,
            task_params=task_params,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        eos = self.gen_config.eos_token_id
        eos_id = eos[0] if isinstance(eos, list) else eos
        # Causal models often have no pad token; padding positions are masked out anyway.
        self.pad_id: int = next(
            i for i in (self.tokenizer.pad_token_id, self.gen_config.pad_token_id, eos_id, 0) if i is not None
        )
        #: CTranslate2's options for these settings (refused here, before any work, where it
        #: cannot match them); None on the transformers-driven runtimes.
        self.ct2_options: dict[str, Any] | None = None
        if self.runtime.backend == "ctranslate2":
            from worker.pipelines.ct2_decoding import ct2_options

            self.ct2_options = ct2_options(
                self.gen_config, causal=self.causal, sample=self.params["do_sample"]
            )

    def task_key(self, task_params: dict[str, Any]) -> str:
        """The model config's `task_specific_params` entry this task reads (prefix, lengths)."""
        raise NotImplementedError

    def seed_for(self, doc: Doc) -> int:
        return int(self.decoding.document_seed(int(self.params["seed"]), doc["text"]))

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        enc = self.tokenizer(
            [self.prefix + t for t in texts],
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [list(ids) for ids in enc["input_ids"]]

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        ids = self.tokenize([d["text"] for d in docs])
        return [
            [Feature(i, row, extra={"seed": self.seed_for(d)})]
            for i, (d, row) in enumerate(zip(docs, ids, strict=True))
        ]

    def forward(self, batch: list[Feature]) -> Outputs:
        if self.ct2_options is not None:
            return {"sequences": self._forward_ct2(batch, self.ct2_options)}
        width = max(len(f.input_ids) for f in batch)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, f in enumerate(batch):
            n = len(f.input_ids)
            cols = slice(width - n, width) if self.causal else slice(0, n)
            ids[row, cols] = f.input_ids
            mask[row, cols] = 1
        # gen_config already holds the model's defaults under the job's settings. Without
        # use_model_defaults=False, generate() would put the model's values back wherever a
        # setting equals transformers' global default (num_beams=1, do_sample=False).
        kwargs = {"generation_config": self.gen_config, "use_model_defaults": False, **self.generate_kwargs}
        if self.params["do_sample"]:
            sampler = self.decoding.SeededSampler([f.extra["seed"] for f in batch], self.gen_config)
            kwargs["logits_processor"] = self.decoding.LogitsProcessorList([sampler])
        sequences = self.runtime.generate(ids, mask, **kwargs)
        if self.causal:  # keep the new tokens only: the padded prompt differs from batch to batch
            sequences = sequences[:, width:]
        return {"sequences": sequences}

    def _forward_ct2(self, batch: list[Feature], options: dict[str, Any]) -> np.ndarray:
        """New token ids from CTranslate2, padded with the pad token (which decodes to nothing)."""
        rows = self.runtime.generate_rows(  # type: ignore[attr-defined]
            [f.input_ids for f in batch],
            options,
            prefix=self.generate_kwargs.get("forced_bos_token_id"),
            seeds=[f.extra["seed"] for f in batch] if self.params["do_sample"] else None,
        )
        out = np.full((len(rows), max(1, *(len(r) for r in rows))), self.pad_id, dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def decode(self, ids: list[int], clean_up: bool) -> str:
        return str(
            self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up)
        )


class Seq2SeqPipeline(GenerationPipeline):
    """Summaries and translations, decoded as transformers' text2text pipelines do."""

    head = Head("text2text-generation-with-past", "AutoModelForSeq2SeqLM", "ORTModelForSeq2SeqLM")

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        return {self.output_field: self.decode(outputs[0]["sequences"].tolist(), clean_up=False)}


class SummarizationPipeline(Seq2SeqPipeline):
    """`summarize` / `summarization`: T5 models get their `summarize: ` prefix from their config."""

    task = "summarize"
    output_field = "summary_text"
    # Decoding amplifies small differences: only the same text counts as agreement.
    comparison = text_comparison("summary_text")

    def task_key(self, task_params: dict[str, Any]) -> str:
        return "summarization"


class TranslationPipeline(Seq2SeqPipeline):
    """`translate` / `translation`.

    T5-style models translate by prefix: `src_lang=en tgt_lang=fr` reads the config's
    `translation_en_to_fr` entry, and with neither given the config's first direction is
    used, as `transformers.pipeline("translation")` does. Multilingual models whose tokenizer
    builds translation inputs (mBART-50, M2M100, NLLB) take their language codes instead.
    """

    task = "translate"
    output_field = "translation_text"
    comparison = text_comparison("translation_text")

    def __init__(self, model: LoadedModel, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        self.multilingual = hasattr(self.tokenizer, "_build_translation_inputs")
        if self.multilingual and not (self.params["src_lang"] and self.params["tgt_lang"]):
            raise InvalidParameter("this translation model needs both src_lang and tgt_lang")

    def task_key(self, task_params: dict[str, Any]) -> str:
        src, tgt = self.params["src_lang"], self.params["tgt_lang"]
        directions = sorted(k for k in task_params if k.startswith("translation_"))
        if src and tgt:
            key = f"translation_{src}_to_{tgt}"
            if directions and key not in task_params:
                valid = ", ".join(k.replace("translation_", "").replace("_to_", "->") for k in directions)
                raise InvalidParameter(f"this model does not translate {src}->{tgt}; it knows: {valid}")
            return key
        if not src and not tgt and directions:
            return next(k for k in task_params if k.startswith("translation_"))
        return "translation"

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        if not self.multilingual:
            return super().tokenize(texts)
        enc = self.tokenizer._build_translation_inputs(
            texts,
            return_tensors=None,
            src_lang=self.params["src_lang"],
            tgt_lang=self.params["tgt_lang"],
            truncation=True,
            max_length=self.max_length,
        )
        self.generate_kwargs["forced_bos_token_id"] = enc["forced_bos_token_id"]
        return [list(ids) for ids in enc["input_ids"]]


class TextGenerationPipeline(GenerationPipeline):
    """`generate` / `text-generation`: continues each prompt; long prompts keep their end."""

    task = "generate"
    head = Head("text-generation-with-past", "AutoModelForCausalLM", "ORTModelForCausalLM")
    output_field = "generated_text"
    comparison = text_comparison("generated_text")
    causal = True

    def __init__(self, model: LoadedModel, params: dict[str, Any]) -> None:
        super().__init__(model, params)
        # The continuation follows the end of the prompt, so a long prompt loses its start,
        # and it keeps room for the new tokens inside the model's positions.
        self.tokenizer.truncation_side = "left"
        room = self.max_length - (self.gen_config.max_new_tokens or 0)
        if self.params["max_length"] is None and room > 0:
            self.max_length = room

    def task_key(self, task_params: dict[str, Any]) -> str:
        return "text-generation"

    def encode(self, docs: list[Doc]) -> list[list[Feature]]:
        features = super().encode(docs)
        for doc_features in features:
            f = doc_features[0]
            if not f.input_ids:
                # As transformers: an empty prompt starts from the model's BOS token.
                bos = self.gen_config.bos_token_id
                if bos is None:
                    raise DocumentError("empty prompt, and the model has no BOS token to start from")
                f.input_ids, f.extra["empty"] = [int(bos)], True
        return features

    def postprocess(self, doc: Doc, features: list[Feature], outputs: list[Outputs]) -> Record:
        prompt = [] if features[0].extra.get("empty") else features[0].input_ids
        new = outputs[0]["sequences"].tolist()
        # transformers decodes prompt + continuation, then cuts the prompt's decoded length.
        text = self.decode(prompt + new, clean_up=True)
        continuation = text[len(self.decode(prompt, clean_up=True)) :]
        full = self.params["return_full_text"]
        return {self.output_field: doc["text"] + continuation if full else continuation}
