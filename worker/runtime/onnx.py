"""ONNX Runtime sessions, tuned for batch throughput on CPU (or CUDA when present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

_NP_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32}


class OnnxRuntime:
    """An InferenceSession that reads its inputs' names and types once, at load.

    Only the inputs the graph declares are fed: BERT takes `token_type_ids`, DistilBERT
    does not.
    """

    backend = "onnx"

    def __init__(
        self, path: str | Path, *, threads: int, precision: str = "fp32", use_cuda: bool = False
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = max(1, threads)
        # One graph branch at a time: inter-op threads would oversubscribe the budget.
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if use_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.precision = precision
        self.threads = threads
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self._input_types = {i.name: _NP_TYPES.get(i.type, np.int64) for i in self.session.get_inputs()}
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = feeds["input_ids"]
        inputs = {}
        for name in self.input_names:
            value = feeds.get(name)
            if value is None:  # e.g. token_type_ids for a single-segment batch
                value = np.zeros_like(ids)
            inputs[name] = value.astype(self._input_types[name], copy=False)
        outputs = self.session.run(list(self.output_names), inputs)
        return dict(zip(self.output_names, outputs, strict=True))
