"""ner and qa give what transformers.pipeline gives, long documents included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.encoder_models import BACKENDS, assert_same
from tests.engines import engine
from tests.helpers import run_fields

ARCHS = ["bert", "distilbert"]
TEXTS = [
    "john lives in new york and works for apple",
    "mary was born in berlin , germany .",
    "",
    "서울에 사는 john 😀 lives in paris",
    "שלום john , مرحبا mary in london",
    "the amazing product from the company",
]
LONG = " ".join(["john lives in london and mary works for apple in paris ."] * 30)


@pytest.fixture(autouse=True, params=BACKENDS)
def _engine(settings: Settings, request: pytest.FixtureRequest) -> None:
    """Every test here runs on ONNX Runtime, on OpenVINO, and on the PyTorch fallback."""
    engine.configure(settings, threads=1, backend=request.param)


run = run_fields


def hf(task: str, model: Path):  # type: ignore[no-untyped-def]
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_ner_matches_the_transformers_pipeline_for_every_aggregation_strategy(
    tiny_models: Callable[[str, str], Path], arch: str, strategy: str
) -> None:
    model = tiny_models(arch, "token-classification")
    ours = run("ner", model, [{"text": t} for t in TEXTS], aggregation_strategy=strategy, batch_size=4)
    theirs = hf("token-classification", model)(TEXTS, aggregation_strategy=strategy)
    assert_same([r["entities"] for r in ours], theirs)
    assert any(r["entities"] for r in ours)  # the random model does find entities
    assert ours[2]["entities"] == []  # the empty document


def test_ner_offsets_point_into_the_original_text(tiny_models: Callable[[str, str], Path]) -> None:
    model = tiny_models("bert", "token-classification")
    for text, record in zip(TEXTS, run("ner", model, [{"text": t} for t in TEXTS]), strict=True):
        for entity in record["entities"]:
            piece = text[entity["start"] : entity["end"]]
            assert piece and piece.strip() == piece


def test_a_document_longer_than_the_model_is_covered_by_overlapping_windows(
    tiny_models: Callable[[str, str], Path],
) -> None:
    model = tiny_models("bert", "token-classification")
    [record] = run("ner", model, [{"text": LONG}], aggregation_strategy="simple", stride=16)
    theirs = hf("token-classification", model)(LONG, aggregation_strategy="simple", stride=16)
    assert_same(record["entities"], theirs)
    # Entities are found to the very end, far beyond the model's 128 positions.
    assert max(e["end"] for e in record["entities"]) > len(LONG) - 30
    words = run("ner", model, [{"text": LONG}], aggregation_strategy="none", stride=16)[0]["entities"]
    assert [e["index"] for e in words] == sorted({e["index"] for e in words})  # each token once


QA = [
    {"question": "where does john live ?", "context": "john lives in paris and mary lives in berlin ."},
    {"question": "who works for apple ?", "context": "mary works for apple in new york ."},
    {"question": "what is the capital ?", "context": "서울은 😀 한국의 수도 , london is in england"},
    {"question": "where ?", "context": "שלום مرحبا , the city of berlin"},
    {"question": "who was born ?", "context": "the price was cheap and the battery works ."},
]


@pytest.mark.parametrize("arch", ARCHS)
def test_qa_matches_the_transformers_pipeline(tiny_models: Callable[[str, str], Path], arch: str) -> None:
    model = tiny_models(arch, "question-answering")
    ours = run("qa", model, QA, batch_size=2)
    qa = hf("question-answering", model)
    for record, doc in zip(ours, QA, strict=True):
        theirs = qa(question=doc["question"], context=doc["context"])
        assert_same({k: record[k] for k in ("answer", "score", "start", "end")}, theirs)
        assert doc["context"][record["start"] : record["end"]] == record["answer"]


@pytest.mark.parametrize("arch", ARCHS)
def test_qa_top_k_answer_length_and_impossible_answers_follow_transformers(
    tiny_models: Callable[[str, str], Path], arch: str
) -> None:
    model = tiny_models(arch, "question-answering")
    params = dict(top_k=3, max_answer_len=4, handle_impossible_answer=True)
    ours = run("qa", model, QA, **params)
    qa = hf("question-answering", model)
    for record, doc in zip(ours, QA, strict=True):
        theirs = qa(question=doc["question"], context=doc["context"], **params)
        assert_same(record["predictions"], theirs)
        assert_same(record["answer"], theirs[0]["answer"])
        assert all(len(p["answer"].split()) <= 4 for p in record["predictions"])


def test_a_qa_context_without_the_answer_can_answer_nothing(tiny_models: Callable[[str, str], Path]) -> None:
    model = tiny_models("bert", "question-answering")
    doc = {"question": "who was born in paris ?", "context": "the price was cheap and the battery works ."}
    [record] = run("qa", model, [doc], top_k=50, handle_impossible_answer=True)
    theirs = hf("question-answering", model)(**doc, top_k=50, handle_impossible_answer=True)
    assert_same(record["predictions"], theirs)
    # The empty answer is ranked by its null score among the spans, as transformers ranks it.
    [empty] = [p for p in record["predictions"] if p["answer"] == "" and p["score"] > 0]
    assert empty["start"] == empty["end"] == 0 and 0 < empty["score"] < 1


def test_a_long_qa_context_is_windowed_with_doc_stride(tiny_models: Callable[[str, str], Path]) -> None:
    model = tiny_models("bert", "question-answering")
    doc = {"question": "where does mary work ?", "context": LONG}
    [record] = run("qa", model, [doc], doc_stride=32, top_k=5)
    theirs = hf("question-answering", model)(**doc, doc_stride=32, top_k=5)
    assert_same(record["predictions"], theirs)
    assert max(p["end"] for p in record["predictions"]) > 500  # answers come from later windows too


def test_an_empty_qa_context_gives_an_empty_answer_not_an_error(
    tiny_models: Callable[[str, str], Path],
) -> None:
    model = tiny_models("distilbert", "question-answering")
    [record] = run("qa", model, [{"question": "who ?", "context": ""}])
    assert record["answer"] == "" and record["start"] == record["end"] == 0
