"""Load a model for a task: tokenizer, config and a runtime (ONNX Runtime or PyTorch)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource, resolve
from nlpbatch.tasks import TaskSpec
from worker.models.generative import GENERATIVE_CLASSES, load_generative
from worker.models.store import onnx_model_dir
from worker.runtime.base import Runtime

log = logging.getLogger("nlpbatch.models")

# transformers Auto class for each export task, for the PyTorch runtime.
_TORCH_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "feature-extraction": "AutoModel",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "fill-mask": "AutoModelForMaskedLM",
}

BACKENDS = ("auto", "onnx", "torch")
#: The export task of tasks that need the tokenizer alone: nothing is exported or loaded.
TOKENIZER_ONLY = "tokenizer"


@dataclass
class LoadedModel:
    """What a pipeline needs: the tokenizer, the model config, and a runtime."""

    source: ModelSource
    tokenizer: Any
    config: Any
    runtime: Runtime
    load_seconds: float


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def load_model(
    spec: TaskSpec,
    ref: str,
    *,
    precision: str,
    cache: Path,
    threads: int,
    backend: str = "auto",
) -> LoadedModel:
    """Resolve, export if needed, and load `ref` for `spec`.

    `auto` runs PyTorch in fp16 where CUDA is available, and ONNX Runtime on CPU otherwise;
    `onnx` uses ONNX Runtime's CUDA provider with IO binding where onnxruntime-gpu finds a GPU.
    """
    from transformers import AutoConfig, AutoTokenizer

    started = time.perf_counter()
    source = resolve(ref)
    if backend == "auto":
        backend = "torch" if cuda_available() else "onnx"
    try:
        if spec.export_task == TOKENIZER_ONLY:
            return _tokenizer_only(source, spec, started)
        runtime: Runtime
        if spec.export_task in GENERATIVE_CLASSES:
            generative = load_generative(
                source,
                spec.export_task,
                backend=backend,
                precision=precision,
                cache=cache,
                threads=threads,
                cuda=cuda_available(),
            )
            runtime, folder = generative, generative.folder
        elif backend == "onnx":
            from worker.runtime.onnx import OnnxRuntime

            folder = onnx_model_dir(source, spec.export_task, precision, cache)
            # `--backend onnx` on a GPU machine uses ORT's CUDA provider (onnxruntime-gpu).
            runtime = OnnxRuntime(
                folder / "model.onnx", threads=threads, precision=precision, use_cuda=cuda_available()
            )
        elif backend == "torch":
            runtime = _torch_runtime(source, spec, threads)
            folder = source.path
        else:
            raise ModelLoadError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True, trust_remote_code=False)
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"could not load {ref} for {spec.name}: {exc}") from exc
    seconds = time.perf_counter() - started
    log.info(
        "loaded %s for %s on %s/%s in %.1fs", ref, spec.name, runtime.backend, runtime.precision, seconds
    )
    return LoadedModel(source, tokenizer, config, runtime, seconds)


class NoRuntime:
    """The runtime of a tokenizer-only task: there is no model to call."""

    backend = "none"
    precision = "none"
    input_names: tuple[str, ...] = ()

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("this task runs no model")


def _tokenizer_only(source: ModelSource, spec: TaskSpec, started: float) -> LoadedModel:
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.path), use_fast=True)
    try:
        config = AutoConfig.from_pretrained(str(source.path))
    except Exception:  # a tokenizer folder need not hold a model config
        config = None
    log.info("loaded the tokenizer of %s for %s", source.ref, spec.name)
    return LoadedModel(source, tokenizer, config, NoRuntime(), time.perf_counter() - started)


def _torch_runtime(source: ModelSource, spec: TaskSpec, threads: int) -> Runtime:
    import transformers

    from worker.runtime.torch import TorchRuntime

    auto = getattr(transformers, _TORCH_CLASSES[spec.export_task])
    model = auto.from_pretrained(str(source.path), trust_remote_code=False)
    device = "cuda" if cuda_available() else "cpu"
    return TorchRuntime(model, device=device, threads=threads)
