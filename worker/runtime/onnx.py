"""ONNX Runtime sessions, tuned for batch throughput on CPU (or CUDA when present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

_NP_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32}


def cuda_provider_available() -> bool:
    """True when this onnxruntime build has the CUDA execution provider (onnxruntime-gpu)."""
    return "CUDAExecutionProvider" in ort.get_available_providers()


def session_options(threads: int) -> ort.SessionOptions:
    """Options for every session nlpbatch opens: all graph optimizations, `threads` intra-op."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(1, threads)
    # One graph branch at a time: inter-op threads would oversubscribe the budget.
    options.inter_op_num_threads = 1
    return options


class OnnxRuntime:
    """An InferenceSession that reads its inputs' names and types once, at load.

    Only the inputs the graph declares are fed: BERT takes `token_type_ids`, DistilBERT
    does not. On CUDA, inputs are bound to the device once per batch (IO binding), so the
    session does not copy them again for each node that reads them.
    """

    backend = "onnx"

    def __init__(
        self, path: str | Path, *, threads: int, precision: str = "fp32", use_cuda: bool = False
    ) -> None:
        options = session_options(threads)
        providers = ["CPUExecutionProvider"]
        self.on_cuda = use_cuda and cuda_provider_available()
        if self.on_cuda:
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.precision = precision
        # What the session really uses, read back for the job report.
        self.threads = int(self.session.get_session_options().intra_op_num_threads)
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self._input_types = {i.name: _NP_TYPES.get(i.type, np.int64) for i in self.session.get_inputs()}
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def _inputs(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = feeds["input_ids"]
        inputs = {}
        for name in self.input_names:
            value = feeds.get(name)
            if value is None:  # e.g. token_type_ids for a single-segment batch
                value = np.zeros_like(ids)
            inputs[name] = np.ascontiguousarray(value, dtype=self._input_types[name])
        return inputs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = self._inputs(feeds)
        if self.on_cuda:
            return self._run_bound(inputs)
        outputs = self.session.run(list(self.output_names), inputs)
        return dict(zip(self.output_names, outputs, strict=True))

    def _run_bound(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        binding = self.session.io_binding()
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0))
        for name in self.output_names:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))
