"""OpenVINO on CPU: the same encoder graphs as ONNX Runtime, compiled by OpenVINO's CPU plugin.

`--backend openvino` (the `openvino` extra) reads the OpenVINO IR that nlpbatch converts once
from its fp32 ONNX export, or the NNCF int8 IR quantized from it (worker.models.openvino_store),
and compiles it for the job's thread budget: one stream of `threads` threads, dynamic shapes,
so nlpbatch's length-sorted batches run as they come.

Measured in one run (`python -m benchmarks.engines --docs 240 --threads 2`: DistilBERT-base
sentiment, random weights, 240 documents, 2 threads of a shared AMD EPYC, same batches):
against ONNX Runtime fp32, OpenVINO fp32 ran 1.27x, ONNX Runtime's dynamic int8 2.40x and
OpenVINO's NNCF int8 2.82x, both int8 agreeing with their fp32 on 240/240 labels. The LATENCY
and THROUGHPUT hints measured alike with one stream; the README's "OpenVINO" says more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from worker.pipelines.batching import OPENVINO_MAX_BATCH_TOKENS

_NP_TYPES = {ov.Type.i64: np.int64, ov.Type.i32: np.int32, ov.Type.f32: np.float32}
#: One stream of `threads` threads, tuned for the latency of one call: nlpbatch runs one batch
#: at a time per process, so THROUGHPUT's several streams and requests would sit idle.
PERFORMANCE_HINT = hints.PerformanceMode.LATENCY


def compile_options(threads: int) -> dict[str, object]:
    """Options for every model nlpbatch compiles: `threads` threads in one stream, fp32 math.

    The CPU plugin would otherwise run an fp32 graph in bf16 on CPUs that have it (AVX512-BF16,
    AMX), which is not what `--precision fp32` asks for; the int8 graph's quantized layers run
    in int8 either way.
    """
    return {
        props.inference_num_threads: max(1, threads),
        props.num_streams: 1,
        hints.performance_mode: PERFORMANCE_HINT,
        hints.inference_precision: ov.Type.f32,
    }


class OpenVinoRuntime:
    """A compiled OpenVINO model behind the interface of worker.runtime.onnx.OnnxRuntime.

    Only the inputs the graph declares are fed (DistilBERT takes no `token_type_ids`); a
    declared `token_type_ids` missing from the batch is filled with zeros.
    """

    backend = "openvino"
    #: The token budget of a model call when the job sets none (worker.pipelines.batching).
    max_batch_tokens = OPENVINO_MAX_BATCH_TOKENS

    def __init__(self, path: str | Path, *, threads: int, precision: str = "fp32") -> None:
        core = ov.Core()
        model = core.read_model(str(path))
        self.compiled = core.compile_model(model, "CPU", compile_options(threads))
        self.precision = precision
        # What the compiled model really uses, read back for the job report.
        self.threads = int(self.compiled.get_property(props.inference_num_threads))
        self.input_names = tuple(i.get_any_name() for i in self.compiled.inputs)
        self._input_types = {
            i.get_any_name(): _NP_TYPES.get(i.get_element_type(), np.int64) for i in self.compiled.inputs
        }
        # Named as the graph names them: compiling can fuse an output's node (the classifier's
        # MatMul and Add) and rename its tensor, so outputs are read back by position.
        self.output_names = tuple(o.get_any_name() for o in model.outputs)
        # One request, reused: batches run one after another in a process.
        self._request = self.compiled.create_infer_request()

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
        results = self._request.infer(self._inputs(feeds))
        # Copies: the request's output tensors are overwritten by the next batch.
        return {name: np.array(results[i], copy=True) for i, name in enumerate(self.output_names)}
