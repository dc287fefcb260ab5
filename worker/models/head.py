"""The model head a pipeline runs: optimum's export task and the classes that load it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Head:
    """What to export and load for a pipeline, as optimum names it on each ORTModel class.

    Pipelines that need the same head (sentiment and zero-shot, say) share one loaded model.
    """

    #: optimum's export task for the ONNX graph(s), e.g. "text-classification".
    export_task: str
    #: The transformers Auto class that loads it on the PyTorch runtime.
    auto_class: str
    #: The optimum.onnxruntime class of a generative head (it brings `generate` and a KV
    #: cache); None for an encoder head, which runs in a plain InferenceSession.
    ort_class: str | None = None

    @property
    def generative(self) -> bool:
        """Whether the model generates text rather than returning outputs in one call."""
        return self.ort_class is not None
