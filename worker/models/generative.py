"""Language models that generate: optimum's ONNX Runtime classes with a KV cache, PyTorch, or CTranslate2."""

from __future__ import annotations

from pathlib import Path

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource
from worker.models.head import Head
from worker.runtime.generation import GenerationRuntime


def load_generative(
    source: ModelSource,
    head: Head,
    *,
    backend: str,
    precision: str,
    cache: Path,
    threads: int,
    cuda: bool,
) -> GenerationRuntime:
    """Export (once) and load a seq2seq or causal language model for generation."""
    from worker.models.hf import full

    if backend == "ctranslate2":
        from worker.models.ct2_store import check_precision, ct2_model_dir
        from worker.runtime.ctranslate2 import Ct2Runtime

        check_precision(precision)
        folder = ct2_model_dir(source, head.export_task, cache)
        return Ct2Runtime(folder, precision=precision, threads=threads, checkpoint=source.path)

    full()  # optimum's ORTModel classes and `generate` need transformers with PyTorch
    if backend == "onnx":
        import optimum.onnxruntime

        from worker.models.store import onnx_model_dir
        from worker.runtime.onnx import session_options

        folder = onnx_model_dir(source, head.export_task, precision, cache)
        model = getattr(optimum.onnxruntime, str(head.ort_class)).from_pretrained(
            str(folder),
            use_cache=True,
            provider="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
            session_options=session_options(threads),
        )
        return GenerationRuntime(model, backend="onnx", precision=precision, folder=folder)
    if backend == "torch":
        import torch

        if threads and not cuda:
            torch.set_num_threads(threads)
        device = "cuda" if cuda else "cpu"
        dtype = torch.float16 if cuda else torch.float32
        model = getattr(full(), head.auto_class).from_pretrained(
            str(source.path), trust_remote_code=False
        )
        model = model.to(device, dtype=dtype).eval()
        return GenerationRuntime(
            model, backend="torch", precision="fp16" if cuda else "fp32", folder=source.path, device=device
        )
    raise ModelLoadError(f"unknown backend {backend!r}; valid: auto, onnx, torch, ctranslate2")
