"""Language models that generate: optimum's ONNX Runtime classes with a KV cache, or PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource

# optimum export task -> (optimum ONNX Runtime class, transformers Auto class).
GENERATIVE_CLASSES = {
    "text2text-generation-with-past": ("ORTModelForSeq2SeqLM", "AutoModelForSeq2SeqLM"),
    "text-generation-with-past": ("ORTModelForCausalLM", "AutoModelForCausalLM"),
}


class GenerationRuntime:
    """A model with transformers' `generate`, fed and read as numpy arrays.

    Both optimum's ORTModel classes and transformers models implement `generate`, so the
    generative pipelines drive either the same way.
    """

    input_names: tuple[str, ...] = ("input_ids", "attention_mask")

    def __init__(
        self, model: Any, *, backend: str, precision: str, folder: Path, device: str = "cpu"
    ) -> None:
        self.model = model
        self.backend = backend
        self.precision = precision
        self.folder = folder
        self.device = device
        self.is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))

    def generate(self, input_ids: np.ndarray, attention_mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Token ids (batch, length) as `model.generate` returns them."""
        import torch

        with torch.inference_mode():
            out = self.model.generate(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
                **kwargs,
            )
        return np.asarray(out.cpu().numpy())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One forward pass (next-token logits), for callers that score rather than generate."""
        import torch

        tensors = {
            k: torch.from_numpy(np.asarray(v, dtype=np.int64)).to(self.device) for k, v in feeds.items()
        }
        with torch.inference_mode():
            out = self.model(**tensors)
        return {"logits": out.logits.float().cpu().numpy()}


def load_generative(
    source: ModelSource,
    export_task: str,
    *,
    backend: str,
    precision: str,
    cache: Path,
    threads: int,
    cuda: bool,
) -> GenerationRuntime:
    """Export (once) and load a seq2seq or causal language model for generation."""
    ort_class, auto_class = GENERATIVE_CLASSES[export_task]
    if backend == "onnx":
        import onnxruntime as ort
        import optimum.onnxruntime

        from worker.models.store import onnx_model_dir

        folder = onnx_model_dir(source, export_task, precision, cache)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        # One graph branch at a time: inter-op threads would oversubscribe the budget.
        options.inter_op_num_threads = 1
        model = getattr(optimum.onnxruntime, ort_class).from_pretrained(
            str(folder),
            use_cache=True,
            provider="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
            session_options=options,
        )
        return GenerationRuntime(model, backend="onnx", precision=precision, folder=folder)
    if backend == "torch":
        import torch
        import transformers

        if threads and not cuda:
            torch.set_num_threads(threads)
        device = "cuda" if cuda else "cpu"
        dtype = torch.float16 if cuda else torch.float32
        model = getattr(transformers, auto_class).from_pretrained(str(source.path), trust_remote_code=False)
        model = model.to(device, dtype=dtype).eval()
        return GenerationRuntime(
            model, backend="torch", precision="fp16" if cuda else "fp32", folder=source.path, device=device
        )
    raise ModelLoadError(f"unknown backend {backend!r}; valid: auto, onnx, torch")
