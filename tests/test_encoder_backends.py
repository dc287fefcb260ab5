"""Every encoder task gives the same records on OpenVINO and on the PyTorch fallback as on ONNX Runtime.

Each case runs the task's model on each backend (the test checks that the backend asked for
is the one that ran it) and the records must be real results, not errors, and not empty: two
backends that both fail, or both find nothing, would otherwise agree.

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
    # tokenize runs no model: there is no backend to compare (test_tasks.py covers it).
]

#: What each task's records must hold for the comparison to mean anything.
FOUND: dict[str, Callable[[dict], bool]] = {
    "ner": lambda r: len(r["entities"]) > 0 and all(e["end"] > e["start"] for e in r["entities"]),
    "qa": lambda r: r["end"] > r["start"] and len(r["answer"]) > 0 and len(r["predictions"]) == 3,
    # The second fill-mask document has no mask token: its record says so, and only it.
    "fill-mask": lambda r: len(r["predictions"]) > 0 if r["id"] == 0 else "error" in r,
    "zero-shot": lambda r: sorted(r["labels"]) == ["film", "food"] and abs(sum(r["scores"]) - 1) < 1e-4,
    "similarity": lambda r: isinstance(r["score"], float),
}


def run_on(
    backend: str, settings: Settings, task: str, model: Path, docs: list[dict], params: dict
) -> list[dict]:
    """The records of `docs` on `backend`, checked to be that backend's real results."""
    engine.configure(settings, threads=1, backend=backend)
    docs = [{"id": i, **d} for i, d in enumerate(docs)]
    records = engine.run_chunk(ChunkMessage("t", 0, task, str(model), docs, params))
    ran = engine.get_model(task, str(model), "fp32", params).runtime.backend  # the one loaded
    assert ran == backend, f"asked for {backend}, the model ran on {ran}"
    assert len(records) == len(docs)
    for record in records:
        assert ("error" not in record or task == "fill-mask") and FOUND[task](record), f"{backend}: {record}"
    return records


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
