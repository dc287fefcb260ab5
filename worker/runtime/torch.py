"""PyTorch runtime: the fallback for GPUs (fp16) and for models ONNX cannot export."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch


class TorchRuntime:
    """Wraps a transformers model so it takes and returns numpy arrays."""

    backend = "torch"

    def __init__(self, model: Any, *, device: str = "cpu", threads: int | None = None) -> None:
        if threads and device == "cpu":
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.threads = torch.get_num_threads() if self.device.type == "cpu" else 0
        self.precision = "fp16" if self.device.type == "cuda" else "fp32"
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self.model = model.to(self.device, dtype=dtype).eval()
        accepted = inspect.signature(self.model.forward).parameters
        self.input_names = tuple(
            n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted
        )

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = {
            name: torch.from_numpy(np.ascontiguousarray(feeds[name], dtype=np.int64)).to(self.device)
            for name in self.input_names
            if name in feeds
        }
        with torch.inference_mode():
            out = self.model(**tensors)
        return {
            key: value.float().cpu().numpy() for key, value in out.items() if isinstance(value, torch.Tensor)
        }
