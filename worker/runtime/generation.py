"""The runtime of generative models: transformers' `generate`, fed and read as numpy arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


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
