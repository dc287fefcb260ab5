"""Load a model head: tokenizer, config and a runtime (ONNX Runtime, OpenVINO or PyTorch)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpbatch.backends import BACKENDS, check_backend
from nlpbatch.errors import JobError, ModelLoadError
from nlpbatch.modelref import ModelSource, resolve
from worker.models.fast_tokenizer import TOKENIZER_JSON, Config, Tokenizer
from worker.models.generative import load_generative
from worker.models.head import Head
from worker.models.hf import cuda_available, gpu_device_present, light
from worker.models.store import onnx_model_dir
from worker.runtime.base import NoRuntime, Runtime

log = logging.getLogger("nlpbatch.models")



@dataclass
class LoadedModel:
    """What a pipeline needs: the tokenizer, the model config, and a runtime."""

    source: ModelSource
    tokenizer: Any
    config: Any
    runtime: Runtime
    load_seconds: float


__all__ = ["BACKENDS", "LoadedModel", "check_backend", "cuda_available", "load_model"]


def load_model(
    head: Head | None,
    ref: str,
    *,
    task: str,
    precision: str,
    cache: Path,
    threads: int,
    backend: str = "auto",
) -> LoadedModel:
    """Resolve, export if needed, and load `ref` with `head` (None: its tokenizer alone) for `task`.

    `auto` runs PyTorch in fp16 where CUDA is available, and ONNX Runtime on CPU otherwise;
    `onnx` uses ONNX Runtime's CUDA provider with IO binding where onnxruntime-gpu finds a GPU.
    `openvino` runs OpenVINO IR on CPU (encoder tasks only; see worker.models.openvino_store).
    On CPU with ONNX Runtime, PyTorch is never imported (see worker.models.hf).
    """
    check_backend(backend, task)
    started = time.perf_counter()
    source = resolve(ref)
    if backend == "auto":
        backend = "torch" if cuda_available() else "onnx"
    try:
        if head is None:
            return _tokenizer_only(source, task, started)
        runtime: Runtime
        if head.generative:
            generative = load_generative(
                source,
                head,
                backend=backend,
                precision=precision,
                cache=cache,
                threads=threads,
                cuda=cuda_available(),
            )
            runtime, folder = generative, generative.folder
        elif backend == "onnx":
            from worker.runtime.onnx import OnnxRuntime

            folder = onnx_model_dir(source, head.export_task, precision, cache)
            # `--backend onnx` on a GPU machine uses ORT's CUDA provider (onnxruntime-gpu),
            # which OnnxRuntime checks itself: no need to ask PyTorch.
            runtime = OnnxRuntime(
                folder / "model.onnx", threads=threads, precision=precision, use_cuda=gpu_device_present()
            )
        elif backend == "openvino":
            from worker.models.openvino_store import IR_NAME, openvino_model_dir
            from worker.runtime.openvino import OpenVinoRuntime

            folder = openvino_model_dir(source, head.export_task, precision, cache)
            runtime = OpenVinoRuntime(folder / IR_NAME, threads=threads, precision=precision)
        else:  # torch: check_backend let nothing else through
            runtime = _torch_runtime(source, head, threads)
            folder = source.path
        if backend in ("onnx", "openvino") and not head.generative:
            tokenizer, config = _encoder_files(folder)
        else:
            hf = light()
            tokenizer = hf.AutoTokenizer.from_pretrained(str(folder), use_fast=True, trust_remote_code=False)
            config = hf.AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    except (ModelLoadError, JobError):
        raise
    except Exception as exc:
        raise ModelLoadError(f"could not load {ref} for {task}: {exc}") from exc
    seconds = time.perf_counter() - started
    log.info("loaded %s for %s on %s/%s in %.1fs", ref, task, runtime.backend, runtime.precision, seconds)
    return LoadedModel(source, tokenizer, config, runtime, seconds)


def _encoder_files(folder: Path) -> tuple[Any, Any]:
    """The tokenizer and config of an encoder export, read with `tokenizers` and json alone.

    Only a folder with no tokenizer.json (a slow tokenizer transformers has no converter for)
    is read with transformers.
    """
    config = Config.from_folder(folder)
    if (folder / TOKENIZER_JSON).is_file():
        return Tokenizer(folder), config
    log.info("%s has no %s: loading its tokenizer with transformers", folder, TOKENIZER_JSON)
    return light().AutoTokenizer.from_pretrained(str(folder), use_fast=True, trust_remote_code=False), config


def _tokenizer_only(source: ModelSource, task: str, started: float) -> LoadedModel:
    hf = light()
    tokenizer = hf.AutoTokenizer.from_pretrained(str(source.path), use_fast=True)
    try:
        config = hf.AutoConfig.from_pretrained(str(source.path))
    except Exception:  # a tokenizer folder need not hold a model config
        config = None
    log.info("loaded the tokenizer of %s for %s", source.ref, task)
    return LoadedModel(source, tokenizer, config, NoRuntime(), time.perf_counter() - started)


def _torch_runtime(source: ModelSource, head: Head, threads: int) -> Runtime:
    from worker.models.hf import full
    from worker.runtime.torch import TorchRuntime

    auto = getattr(full(), head.auto_class)
    model = auto.from_pretrained(str(source.path), trust_remote_code=False)
    device = "cuda" if cuda_available() else "cpu"
    return TorchRuntime(model, device=device, threads=threads)
