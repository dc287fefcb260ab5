"""Every encoder task gives the same records on OpenVINO and on the PyTorch fallback as on ONNX Runtime.

Each backend is also compared with transformers itself, task by task: the parity tests in
test_pipelines.py (sentiment, embed), test_sequence_tasks.py and test_token_tasks.py run once
per backend, so a fault shared by two runtimes cannot hide behind their agreement here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.encoder_models import NLI_LABELS, assert_same
from tests.engines import engine

LONG = " ".join(["john lives in london and mary works for apple in paris ."] * 15)
CASES = [
    ("ner", ("bert", "token-classification"), [{"text": "john lives in new york"}, {"text": LONG}], {}),
    (
        "qa",
        ("distilbert", "question-answering"),
        [{"question": "where does mary work ?", "context": LONG}],
        {"top_k": 3, "doc_stride": 32},
    ),
    ("fill-mask", ("distilbert", "fill-mask"), [{"text": "i [MASK] it"}, {"text": "no mask"}], {}),
    (
        "zero-shot",
        ("bert", "text-classification", tuple(NLI_LABELS)),
        [{"text": "i love this movie"}],
        {"candidate_labels": "film,food"},
    ),
    ("similarity", ("bert", "feature-extraction"), [{"text": "good film", "text_pair": "great movie"}], {}),
    (
        "similarity",
        ("distilbert", "text-classification", ("no", "yes")),
        [{"text": "good film", "text_pair": "great movie"}],
        {},
    ),
    ("tokenize", ("bert", "fill-mask"), [{"text": "서울 is a city"}], {}),
]


def run_on(
    backend: str, settings: Settings, task: str, model: Path, docs: list[dict], params: dict
) -> list[dict]:
    engine.configure(settings, threads=1, backend=backend)
    docs = [{"id": i, **d} for i, d in enumerate(docs)]
    return engine.run_chunk(ChunkMessage("t", 0, task, str(model), docs, params))


@pytest.mark.parametrize("other", ["torch", "openvino"])
@pytest.mark.parametrize(("task", "model_args", "docs", "params"), CASES, ids=[c[0] for c in CASES])
def test_the_torch_fallback_and_openvino_give_the_onnx_records(
    other: str,
    settings: Settings,
    tiny_models: Callable[..., Path],
    task: str,
    model_args: tuple,
    docs: list,
    params: dict,
) -> None:
    model = tiny_models(*model_args)
    onnx = run_on("onnx", settings, task, model, docs, params)
    theirs = run_on(other, settings, task, model, docs, params)
    assert_same(theirs, onnx)
