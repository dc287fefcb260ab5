"""On a CUDA GPU: PyTorch fp16 and ONNX Runtime's CUDA provider give what the CPU gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.engines import engine
from tests.test_engine import mixed_texts
from worker.models.loader import cuda_available
from worker.runtime.onnx import cuda_provider_available

pytestmark = pytest.mark.gpu

needs_cuda = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")


def scores(settings: Settings, model: Path, backend: str) -> tuple[list[dict], str]:
    engine.configure(settings, threads=1, backend=backend)
    docs = [{"id": i, "text": t} for i, t in enumerate(mixed_texts(64, seed=8))]
    msg = ChunkMessage(job_id="g", index=0, task="sentiment", model=str(model), docs=docs)
    records = engine.run_chunk(msg)
    runtime = engine.get_model("sentiment", str(model), "fp32").runtime
    return records, f"{runtime.backend}/{runtime.precision}"


@needs_cuda
def test_auto_runs_pytorch_fp16_on_the_gpu_with_the_cpu_labels(settings: Settings, tiny_bert: Path) -> None:
    cpu, _ = scores(settings, tiny_bert, "onnx")
    gpu, gpu_kind = scores(settings, tiny_bert, "auto")
    assert gpu_kind == "torch/fp16"
    # Random weights give near-ties; fp16 may break those either way, but no clear decision.
    clear = [i for i, r in enumerate(cpu) if abs(r["score"] - 0.5) > 0.01]
    # tiny_bert tells these texts apart (tests/helpers.py assert_discriminates): most decisions
    # are clear and go both ways, so agreeing on them is not agreeing on one constant label.
    assert len(clear) >= len(cpu) // 2 and {cpu[i]["label"] for i in clear} == {"POSITIVE", "NEGATIVE"}
    assert [gpu[i]["label"] for i in clear] == [cpu[i]["label"] for i in clear]
    np.testing.assert_allclose([r["score"] for r in gpu], [r["score"] for r in cpu], atol=1e-2)


@needs_cuda
@pytest.mark.skipif(not cuda_provider_available(), reason="needs onnxruntime-gpu")
def test_onnx_on_the_gpu_uses_the_cuda_provider_with_io_binding(settings: Settings, tiny_bert: Path) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    runtime = engine.get_model("sentiment", str(tiny_bert), "fp32").runtime
    assert runtime.on_cuda and runtime.session.get_providers()[0] == "CUDAExecutionProvider"
    gpu, _ = scores(settings, tiny_bert, "onnx")
    from transformers import pipeline

    texts = mixed_texts(64, seed=8)
    cpu = pipeline("text-classification", model=str(tiny_bert), device="cpu")(texts, truncation=True)
    clear = [i for i, r in enumerate(cpu) if abs(r["score"] - 0.5) > 0.01]
    assert [gpu[i]["label"] for i in clear] == [cpu[i]["label"] for i in clear]
    np.testing.assert_allclose([r["score"] for r in gpu], [r["score"] for r in cpu], atol=1e-3)
