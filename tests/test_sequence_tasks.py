"""sentiment, similarity, fill-mask, zero-shot and tokenize give what transformers gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nlpbatch.settings import Settings
from tests.encoder_models import BACKENDS, NLI_LABELS, assert_same
from tests.engines import engine
from tests.helpers import run_fields

ARCHS = ["bert", "distilbert"]
TEXTS = ["i love this movie", "", "서울 😀 is a great city", "שלום مرحبا , boring film", "it is ok"]
PAIRS = [
    {"text": "i love this movie", "text_pair": "i enjoyed the film"},
    {"text": "the battery broke", "text_pair": "the screen works"},
    {"text": "", "text_pair": "it is ok"},
    {"text": "서울 😀", "text_pair": "שלום مرحبا"},
]
Models = Callable[..., Path]


@pytest.fixture(autouse=True, params=BACKENDS)
def _engine(settings: Settings, request: pytest.FixtureRequest) -> None:
    """Every test here runs on ONNX Runtime, on OpenVINO, and on the PyTorch fallback."""
    engine.configure(settings, threads=1, backend=request.param)


run = run_fields


def hf(task: str, model: Path):  # type: ignore[no-untyped-def]
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")


@pytest.mark.parametrize("arch", ARCHS)
def test_sentiment_top_k_lists_every_label_as_transformers_does(tiny_models: Models, arch: str) -> None:
    model = tiny_models(arch, "text-classification", ("anger", "joy", "fear", "love"))
    docs = [{"text": t} for t in TEXTS]
    for top_k, theirs_k in (("none", None), (2, 2)):
        ours = run("sentiment", model, docs, top_k=top_k)
        theirs = hf("text-classification", model)(TEXTS, top_k=theirs_k)
        assert_same([r["predictions"] for r in ours], theirs)
        assert_same(
            [(r["label"], r["score"]) for r in ours], [(t[0]["label"], t[0]["score"]) for t in theirs]
        )
    assert "predictions" not in run("sentiment", model, docs[:1])[0]  # top_k=1: label and score only


def test_a_multi_label_model_scores_each_label_with_a_sigmoid(tiny_models: Models) -> None:
    labels = ("sports", "politics", "tech")
    model = tiny_models("bert", "text-classification", labels, "multi_label_classification")
    ours = run("sentiment", model, [{"text": t} for t in TEXTS], top_k="none")
    theirs = hf("text-classification", model)(TEXTS, top_k=None)
    assert_same([r["predictions"] for r in ours], theirs)
    assert any(sum(p["score"] for p in r["predictions"]) > 1.05 for r in ours)  # not a softmax


@pytest.mark.parametrize("arch", ARCHS)
def test_sentiment_reads_text_pairs(tiny_models: Models, arch: str) -> None:
    model = tiny_models(arch, "text-classification", ("not_equivalent", "equivalent"))
    ours = run("sentiment", model, PAIRS)
    theirs = hf("text-classification", model)(PAIRS)
    assert_same([{"label": r["label"], "score": r["score"]} for r in ours], theirs)


@pytest.mark.parametrize("arch", ARCHS)
def test_cross_encoder_similarity_is_the_pair_classifier_s_last_label(tiny_models: Models, arch: str) -> None:
    model = tiny_models(arch, "text-classification", ("not_equivalent", "equivalent"))
    ours = run("similarity", model, PAIRS)  # mode auto: the config names a sequence classifier
    theirs = hf("text-classification", model)(PAIRS, top_k=None)
    for record, scores in zip(ours, theirs, strict=True):
        by_label = {s["label"]: s["score"] for s in scores}
        assert abs(record["score"] - by_label["equivalent"]) < 1e-4
        assert record["label"] == scores[0]["label"]


@pytest.mark.parametrize("arch", ARCHS)
def test_bi_encoder_similarity_is_the_cosine_of_mean_pooled_features(tiny_models: Models, arch: str) -> None:
    model = tiny_models(arch, "feature-extraction")
    ours = run("similarity", model, PAIRS)  # mode auto: no classifier head, so a bi-encoder
    features = hf("feature-extraction", model)
    for record, pair in zip(ours, PAIRS, strict=True):
        a, b = (np.asarray(features(pair[k])[0]).mean(0) for k in ("text", "text_pair"))
        expected = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert abs(record["score"] - expected) < 1e-4


def test_similarity_mode_can_be_forced(tiny_models: Models) -> None:
    model = tiny_models("bert", "text-classification", ("not_equivalent", "equivalent"))
    [cross] = run("similarity", model, PAIRS[:1])
    [bi] = run("similarity", model, PAIRS[:1], mode="bi-encoder")
    assert "label" in cross and "label" not in bi and -1 <= bi["score"] <= 1


@pytest.mark.parametrize("arch", ARCHS)
def test_fill_mask_matches_the_transformers_pipeline(tiny_models: Models, arch: str) -> None:
    model = tiny_models(arch, "fill-mask")
    texts = ["i [MASK] this movie", "[MASK]", "서울 😀 [MASK] שלום", "the [MASK] was cheap ."]
    fill = hf("fill-mask", model)
    for params in ({}, {"top_k": 3, "targets": ["good", "bad", "movie", "price"]}):
        ours = run("fill-mask", model, [{"text": t} for t in texts], **params)
        for record, text in zip(ours, texts, strict=True):
            theirs = fill(text, **params)
            assert_same(record["predictions"], theirs)
            assert_same({k: record[k] for k in theirs[0]}, theirs[0])
    assert {p["token_str"] for r in ours for p in r["predictions"]} <= {"good", "bad", "movie", "price"}


def test_a_fill_mask_text_without_a_mask_gets_an_error_record(tiny_models: Models) -> None:
    model = tiny_models("bert", "fill-mask")
    docs = [{"text": "no mask here"}, {"text": ""}, {"text": "a [MASK]"}]
    records = run("fill-mask", model, docs)
    assert records[0]["error"] == {"type": "DocumentError", "message": "no mask token ([MASK]) in the text"}
    assert records[1]["error"]["type"] == "DocumentError"
    assert "sequence" in records[2]


@pytest.mark.parametrize("arch", ARCHS)
def test_fill_mask_gives_one_candidate_list_per_mask_as_the_transformers_pipeline(
    tiny_models: Models, arch: str
) -> None:
    model = tiny_models(arch, "fill-mask")
    # Texts with one, two and three masks share batches, so each row's mask count differs.
    texts = ["[MASK] and [MASK]", "i [MASK] this movie", "the [MASK] was [MASK] and [MASK] ."]
    fill = hf("fill-mask", model)
    for params in ({"top_k": 3}, {"top_k": 2, "targets": ["good", "bad", "movie"]}):
        ours = run("fill-mask", model, [{"text": t} for t in texts], **params)
        for record, text in zip(ours, texts, strict=True):
            theirs = fill(text, **params)
            assert_same(record["predictions"], theirs)
            first = theirs[0] if isinstance(theirs[0], dict) else theirs[0][0]
            assert_same({k: record[k] for k in first}, first)
        assert len(ours[0]["predictions"]) == 2 and len(ours[2]["predictions"]) == 3


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_matches_the_transformers_pipeline(
    tiny_models: Models, arch: str, multi_label: bool
) -> None:
    model = tiny_models(arch, "text-classification", tuple(NLI_LABELS))
    labels = ["movie", "battery", "city"]
    template = "it is about {} ."
    texts = [t for t in TEXTS if t]  # transformers refuses an empty text; see the test below
    ours = run(
        "zero-shot",
        model,
        [{"text": t} for t in texts],
        candidate_labels="movie, battery, city",
        hypothesis_template=template,
        multi_label=multi_label,
    )
    theirs = hf("zero-shot-classification", model)(
        texts, candidate_labels=labels, hypothesis_template=template, multi_label=multi_label
    )
    assert_same(ours, [{"id": i, **t} for i, t in enumerate(theirs)])


def test_zero_shot_labels_can_come_with_each_document(tiny_models: Models) -> None:
    model = tiny_models("bert", "text-classification", tuple(NLI_LABELS))
    docs = [
        {"text": "i love this movie", "candidate_labels": ["film", "food"]},
        {"text": "the battery broke", "candidate_labels": "phone"},
        {"text": "it is ok"},
    ]
    records = run("zero-shot", model, docs, candidate_labels=["good", "bad", "neutral"])
    assert sorted(records[0]["labels"]) == ["film", "food"]
    theirs = hf("zero-shot-classification", model)("the battery broke", candidate_labels=["phone"])
    assert_same(records[1], {"id": 1, **theirs})  # one label: entailment against contradiction
    assert sorted(records[2]["labels"]) == ["bad", "good", "neutral"]
    missing, empty = run(
        "zero-shot", model, [{"text": "no labels anywhere"}, {"text": "", "candidate_labels": "a"}]
    )
    assert "no candidate labels" in missing["error"]["message"]
    assert empty["error"] == {"type": "DocumentError", "message": "empty text: nothing to classify"}


def test_tokenize_gives_the_tokenizer_s_pieces_and_the_unknown_share(tiny_models: Models) -> None:
    from transformers import AutoTokenizer

    model = tiny_models("bert", "fill-mask")
    texts = ["the movie was great", "서울 😀 is a city", ""]
    records = run("tokenize", model, [{"text": t} for t in texts])
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    for record, text in zip(records, texts, strict=True):
        assert record["tokens"] == tokenizer.tokenize(text)
        assert record["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
        assert record["num_tokens"] == len(record["tokens"])
    assert records[0]["unk_share"] == 0.0
    assert records[1]["unk_share"] == pytest.approx(2 / 5)  # 서울 and 😀 are not in the vocabulary
    assert records[2] == {"id": 2, "tokens": [], "input_ids": [], "num_tokens": 0, "unk_share": 0.0}
    with_specials = run("tokenize", model, [{"text": texts[0]}], add_special_tokens=True)[0]
    assert with_specials["tokens"][0] == "[CLS]" and with_specials["tokens"][-1] == "[SEP]"


def test_the_packaged_minilm_as_a_bi_encoder_scores_related_pairs_above_unrelated(minilm: str) -> None:
    anchor = "A man is playing a guitar on stage."
    pairs = [
        {"text": anchor, "text_pair": "Someone performs music with a guitar in front of an audience."},
        {"text": anchor, "text_pair": "The quarterly tax report is due next Monday."},
    ]
    related, unrelated = (r["score"] for r in run("similarity", minilm, pairs))
    assert related > unrelated + 0.3
