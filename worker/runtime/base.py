"""The interface every runtime implements, and the runtime of tasks that run no model."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Runtime(Protocol):
    """Runs one model call on a padded batch."""

    #: The inputs the model declares, e.g. ("input_ids", "attention_mask", "token_type_ids").
    input_names: tuple[str, ...]
    #: "onnx" or "torch", for reports.
    backend: str
    #: "fp32", "int8" or "fp16", for reports.
    precision: str

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name (`logits`, `last_hidden_state`, ...) for a batch of int64 inputs."""
        ...


class NoRuntime:
    """The runtime of a tokenizer-only task: there is no model to call."""

    backend = "none"
    precision = "none"
    input_names: tuple[str, ...] = ()

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("this task runs no model")
