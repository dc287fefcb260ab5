"""Records equal transformers.pipeline on tiny RoBERTa, XLM-R, DeBERTa-v2, ALBERT, ELECTRA, MPNet,
BART, T5, GPT-2 and Llama checkpoints, long, accented, Korean and emoji texts included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.encoder_models import assert_same
from tests.engines import engine
from tests.families import FAMILY_PARAMS, LONG, MNLI_LOWER, MNLI_UPPER, TEXTS
from tests.helpers import run_fields, run_texts

Models = Callable[..., Path]


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def hf(task: str, model: Path):  # type: ignore[no-untyped-def]
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")


def test_a_zero_width_token_in_a_window_overlap_is_listed_once_with_aggregation_none(
    family_models: Models,
) -> None:
    from transformers import AutoTokenizer

    model = family_models("roberta", "token-classification")
    [record] = run_texts("ner", model, [LONG], aggregation_strategy="none", stride=16, ignore_labels=[])
    entities = record["entities"]
    tokens = AutoTokenizer.from_pretrained(str(model))(LONG, add_special_tokens=False)["input_ids"]
    assert len(tokens) > 2 * 128  # three windows at least
    assert sum(e["start"] == e["end"] for e in entities) >= 10  # the double spaces' empty tokens
    # Every token of the document once, in order, whichever window labelled it.
    assert [e["index"] for e in entities] == list(range(1, len(tokens) + 1))


# Heads trained on MNLI name their labels either way (roberta-large-mnli: ENTAILMENT).
UPPER_MNLI = {"roberta", "deberta-v2", "electra", "bart"}
QA = [
    {"question": "where does john live ?", "context": "john lives in new york and works for apple"},
    {"question": "what does the café serve ?", "context": "  the café in paris serves crème brûlée  "},
    {"question": "who lives in paris ?", "context": "서울에 사는 john 😀 lives in paris"},
    {"question": "where does mary work ?", "context": LONG},
]


def mnli(family: str) -> tuple[str, ...]:
    return tuple(MNLI_UPPER if family in UPPER_MNLI else MNLI_LOWER)


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_sentiment_and_zero_shot_match_transformers_on_an_mnli_head(
    family_models: Models, family: str
) -> None:
    model = family_models(family, "text-classification", mnli(family))
    ours = run_texts("sentiment", model, [*TEXTS, LONG], batch_size=4, top_k=3)
    theirs = hf("text-classification", model)([*TEXTS, LONG], top_k=3, truncation=True)
    assert_same([r["predictions"] for r in ours], theirs)
    assert len({r["label"] for r in ours}) >= 2  # the random head tells texts apart
    params = dict(candidate_labels=["movie", "city", "price"], hypothesis_template="it is about {} .")
    for multi_label in (False, True):
        ours = run_texts("zero-shot", model, TEXTS, multi_label=multi_label, **params)  # type: ignore[arg-type]
        theirs = hf("zero-shot-classification", model)(TEXTS, multi_label=multi_label, **params)
        assert_same(ours, [{"id": i, **t} for i, t in enumerate(theirs)])


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_ner_matches_transformers_in_every_aggregation_strategy(family_models: Models, family: str) -> None:
    model = family_models(family, "token-classification")
    ner = hf("token-classification", model)
    for strategy in ("none", "simple", "first", "average", "max"):
        ours = run_texts("ner", model, TEXTS, aggregation_strategy=strategy, batch_size=4)
        assert_same([r["entities"] for r in ours], ner(TEXTS, aggregation_strategy=strategy))
        if strategy == "none":  # the random head gives tokens different labels
            assert len({e["entity"] for r in ours for e in r["entities"]}) >= 2
    for strategy in ("simple", "first"):
        [long] = run_texts("ner", model, [LONG], aggregation_strategy=strategy, stride=16)
        assert_same(long["entities"], ner(LONG, aggregation_strategy=strategy, stride=16))
        assert max(e["end"] for e in long["entities"]) > len(LONG) - 40


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_qa_matches_transformers(family_models: Models, family: str) -> None:
    model = family_models(family, "question-answering")
    qa = hf("question-answering", model)
    ours = run_fields("qa", model, QA, top_k=3, doc_stride=32)
    for record, doc in zip(ours, QA, strict=True):
        theirs = qa(question=doc["question"], context=doc["context"], top_k=3, doc_stride=32)
        assert_same(record["predictions"], theirs)
        assert doc["context"][record["start"] : record["end"]] == record["answer"]


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_fill_mask_and_embed_match_transformers(family_models: Models, family: str) -> None:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = family_models(family, "fill-mask")
    mask = AutoTokenizer.from_pretrained(str(model)).mask_token
    texts = [
        f"i {mask} this movie",
        f"the café in {mask} serves crème brûlée",
        f"서울에 {mask} 😀",
        f"  {mask} was great  ",
    ]
    fill = hf("fill-mask", model)
    ours = run_texts("fill-mask", model, texts, top_k=3)
    for record, text in zip(ours, texts, strict=True):
        assert_same(record["predictions"], fill(text, top_k=3))
    embedded = run_texts("embed", model, [*TEXTS, LONG], pooling="mean", normalize=False)
    tok, base = AutoTokenizer.from_pretrained(str(model)), AutoModel.from_pretrained(str(model)).eval()
    for record, text in zip(embedded, [*TEXTS, LONG], strict=True):
        with torch.no_grad():
            hidden = base(**tok(text, truncation=True, return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(record["embedding"], hidden.mean(0).numpy(), atol=1e-4)


def test_bart_mnli_zero_shot_matches_transformers(family_generators: Models) -> None:
    model = family_generators("bart", "text-classification")
    params = dict(candidate_labels=["movie", "city", "price"], hypothesis_template="it is about {} .")
    ours = run_texts("zero-shot", model, TEXTS, **params)  # type: ignore[arg-type]
    theirs = hf("zero-shot-classification", model)(TEXTS, **params)
    assert_same(ours, [{"id": i, **t} for i, t in enumerate(theirs)])
    ours = run_texts("sentiment", model, TEXTS)
    assert [r["label"] for r in ours] == [t["label"] for t in hf("text-classification", model)(TEXTS)]


GENERATORS = [
    ("summarize", "summarization", "bart", {}),
    ("summarize", "summarization", "t5", {}),
    ("translate", "translation_en_to_de", "t5", {"src_lang": "en", "tgt_lang": "de"}),
    ("generate", "text-generation", "gpt2", {}),
    ("generate", "text-generation", "llama", {}),
]


@pytest.mark.parametrize(("task", "hf_task", "family", "langs"), GENERATORS)
def test_generation_matches_transformers_greedy_and_beam(
    family_generators: Models, task: str, hf_task: str, family: str, langs: dict[str, str]
) -> None:
    field = {"summarize": "summary_text", "translate": "translation_text", "generate": "generated_text"}[task]
    model = family_generators(family)
    pipe = hf(hf_task, model)
    # A long document is cut to the model's length; transformers cuts it when asked to. (A long
    # prompt keeps its end instead, so prompts here are short.)
    texts, cut = ([*TEXTS, LONG], {"truncation": True}) if task != "generate" else (TEXTS, {})
    for num_beams in (1, 3):
        ours = run_texts(task, model, texts, max_new_tokens=8, num_beams=num_beams, batch_size=4, **langs)
        theirs = pipe(texts, max_new_tokens=8, num_beams=num_beams, do_sample=False, **cut)
        theirs = [t[0] if isinstance(t, list) else t for t in theirs]
        assert [r[field] for r in ours] == [t[field] for t in theirs]
        assert len({r[field] for r in ours}) > 1
