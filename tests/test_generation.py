"""summarize, translate and generate give what transformers.pipeline gives, greedy to greedy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpbatch.errors import InvalidParameter
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from tests.engines import engine
from tests.helpers import run_texts

TEXTS = [
    "i love this movie",
    "the battery broke after a week , very bad and the sound was awful",
    "",
    "한국어 문장 😀 🚀",
    "مرحبا بالعالم",
    "what is the capital of france ?",
    "paris",
]


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


run = run_texts


@pytest.mark.parametrize("num_beams", [1, 3])
def test_summaries_match_the_transformers_pipeline(tiny_t5: Path, num_beams: int) -> None:
    from transformers import pipeline

    ours = run("summarize", tiny_t5, TEXTS, max_new_tokens=10, num_beams=num_beams, batch_size=4)
    theirs = pipeline("summarization", model=str(tiny_t5), device="cpu")(
        TEXTS, max_new_tokens=10, num_beams=num_beams
    )
    assert [r["id"] for r in ours] == list(range(len(TEXTS)))
    assert [r["summary_text"] for r in ours] == [t["summary_text"] for t in theirs]
    assert len({r["summary_text"] for r in ours}) > 1  # the tiny model says different things


def test_translations_follow_the_t5_prefix_for_the_asked_direction(tiny_t5: Path) -> None:
    from transformers import pipeline

    for src, tgt in (("en", "fr"), ("en", "de")):
        ours = run("translate", tiny_t5, TEXTS, max_new_tokens=10, num_beams=1, src_lang=src, tgt_lang=tgt)
        theirs = pipeline(f"translation_{src}_to_{tgt}", model=str(tiny_t5), device="cpu")(
            TEXTS, max_new_tokens=10, num_beams=1
        )
        assert [r["translation_text"] for r in ours] == [t["translation_text"] for t in theirs]
    # With no languages, the model's first direction, as transformers.pipeline("translation").
    default = run("translation", tiny_t5, TEXTS, max_new_tokens=10, num_beams=1)
    theirs = pipeline("translation", model=str(tiny_t5), device="cpu")(TEXTS, max_new_tokens=10, num_beams=1)
    assert [r["translation_text"] for r in default] == [t["translation_text"] for t in theirs]


def test_multilingual_models_translate_by_language_code(tmp_path: Path) -> None:
    from transformers import pipeline

    from tests.generative_models import build_tiny_mbart50

    mbart = build_tiny_mbart50(tmp_path / "mbart")
    for tgt in ("fr_XX", "de_DE"):
        ours = run("translate", mbart, TEXTS, max_new_tokens=8, num_beams=1, src_lang="en_XX", tgt_lang=tgt)
        theirs = pipeline("translation", model=str(mbart), device="cpu")(
            TEXTS, src_lang="en_XX", tgt_lang=tgt, max_new_tokens=8, num_beams=1
        )
        assert [r["translation_text"] for r in ours] == [t["translation_text"] for t in theirs]
    with pytest.raises(InvalidParameter, match="needs both src_lang and tgt_lang"):
        run("translate", mbart, ["hello"], src_lang="en_XX")


def test_a_direction_the_model_does_not_know_is_refused_with_the_known_ones(tiny_t5: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"does not translate en->ko; it knows: en->de, en->fr"):
        run("translate", tiny_t5, ["hello"], src_lang="en", tgt_lang="ko")


@pytest.mark.parametrize("return_full_text", [True, False])
def test_generated_text_matches_the_transformers_pipeline(tiny_gpt2: Path, return_full_text: bool) -> None:
    from transformers import pipeline

    ours = run(
        "generate", tiny_gpt2, TEXTS, max_new_tokens=8, batch_size=4, return_full_text=return_full_text
    )
    # transformers' text-generation samples by default; nlpbatch is greedy unless asked.
    theirs = pipeline("text-generation", model=str(tiny_gpt2), device="cpu")(
        TEXTS, max_new_tokens=8, return_full_text=return_full_text, do_sample=False
    )
    assert [r["generated_text"] for r in ours] == [t[0]["generated_text"] for t in theirs]
    if return_full_text:
        assert all(r["generated_text"].startswith(t) for r, t in zip(ours, TEXTS, strict=True))


def test_left_padded_batches_generate_what_each_prompt_generates_alone(tiny_gpt2: Path) -> None:
    batched = run("generate", tiny_gpt2, TEXTS, max_new_tokens=8, batch_size=6, max_batch_tokens=10_000)
    alone = [run("generate", tiny_gpt2, [t], max_new_tokens=8)[0] for t in TEXTS]
    assert [r["generated_text"] for r in batched] == [r["generated_text"] for r in alone]


@pytest.mark.parametrize(("task", "model"), [("generate", "tiny_gpt2"), ("summarize", "tiny_t5")])
def test_sampling_with_a_seed_gives_each_document_the_same_text_whatever_the_batching(
    task: str, model: str, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(model)
    field = "generated_text" if task == "generate" else "summary_text"
    sample = {"do_sample": True, "seed": 7, "temperature": 1.5, "max_new_tokens": 10}
    one_batch = [r[field] for r in run(task, path, TEXTS, batch_size=8, **sample)]
    pairs = [r[field] for r in run(task, path, list(reversed(TEXTS)), batch_size=2, **sample)]
    assert one_batch == list(reversed(pairs))
    greedy = [r[field] for r in run(task, path, TEXTS, max_new_tokens=10, num_beams=1)]
    other_seed = [r[field] for r in run(task, path, TEXTS, batch_size=8, **{**sample, "seed": 8})]
    assert one_batch != greedy and one_batch != other_seed


def test_top_k_of_one_samples_the_greedy_text(tiny_gpt2: Path) -> None:
    greedy = run("generate", tiny_gpt2, TEXTS, max_new_tokens=8)
    assert run("generate", tiny_gpt2, TEXTS, max_new_tokens=8, do_sample=True, top_k=1) == greedy


def test_a_batch_failing_in_generation_is_bisected_to_the_poison_document(
    tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = engine.get_pipeline("generate", str(tiny_gpt2), "fp32", {"max_new_tokens": 4})
    real = pipe.runtime.generate
    poison = pipe.tokenizer("the poison apple")["input_ids"]

    def flaky(ids: np.ndarray, mask: np.ndarray, **kwargs: object) -> np.ndarray:
        for row in ids:
            if list(row[-len(poison) :]) == poison:
                raise RuntimeError("decoder blew up")
        return real(ids, mask, **kwargs)

    monkeypatch.setattr(pipe.runtime, "generate", flaky)
    texts = ["good", "the poison apple", "bad", "ok", "fine"]
    records = pipe([{"id": i, "text": t} for i, t in enumerate(texts)])
    assert [("error" in r) for r in records] == [False, True, False, False, False]
    assert records[1]["error"] == {"type": "RuntimeError", "message": "decoder blew up"}
    assert records[0]["generated_text"].startswith("good")


def test_the_pytorch_fallback_generates_what_onnx_runtime_generates(
    tiny_gpt2: Path, tiny_t5: Path, settings: Settings
) -> None:
    onnx = (
        run("generate", tiny_gpt2, TEXTS, max_new_tokens=6),
        run("summarize", tiny_t5, TEXTS, max_new_tokens=6),
    )
    engine.configure(settings, threads=1, backend="torch")
    torch = (
        run("generate", tiny_gpt2, TEXTS, max_new_tokens=6),
        run("summarize", tiny_t5, TEXTS, max_new_tokens=6),
    )
    assert torch == onnx


def test_documents_longer_than_the_model_limit_are_truncated_not_failed(
    tiny_gpt2: Path, tiny_t5: Path
) -> None:
    long = "the price was cheap but the sound quality is awful " * 60  # far over 128 positions
    [generated] = run("generate", tiny_gpt2, [long], max_new_tokens=5)
    [summary] = run("summarize", tiny_t5, [long], max_new_tokens=5, num_beams=1)
    assert generated["generated_text"].startswith(long) and len(generated["generated_text"]) > len(long)
    assert summary["summary_text"]


def test_a_generative_task_refuses_a_model_of_the_other_kind(tiny_gpt2: Path) -> None:
    from nlpbatch.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        run("summarize", tiny_gpt2, ["hello"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"do_sample": "true", "num_beams": "4"}, "do_sample takes num_beams=1"),
        ({"temperature": "0"}, "'temperature' must be above 0"),
        ({"top_p": "1.5"}, r"'top_p' must be in \(0, 1\]"),
        ({"max_new_tokens": "0"}, "'max_new_tokens' must be positive"),
        ({"max_new_token": "5"}, r"unknown parameter\(s\) max_new_token"),
    ],
)
def test_bad_decoding_parameters_are_refused_before_any_work(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        get_task("text-generation").validate_params(raw)


@pytest.mark.parametrize(("task", "model"), [("summarization", "tiny_t5"), ("text-generation", "tiny_gpt2")])
def test_default_decoding_settings_are_the_transformers_pipeline_defaults(
    task: str, model: str, request: pytest.FixtureRequest
) -> None:
    from transformers import pipeline

    path = request.getfixturevalue(model)
    ours = engine.get_pipeline(task, str(path), "fp32", {}).gen_config
    theirs = pipeline(task, model=str(path), device="cpu").generation_config
    for name in (
        "max_new_tokens",
        "max_length",
        "num_beams",
        "temperature",
        "top_k",
        "top_p",
        "eos_token_id",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.do_sample is False  # greedy unless the job asks to sample


def test_a_forward_pass_scores_the_token_greedy_decoding_picks(tiny_gpt2: Path) -> None:
    pipe = engine.get_pipeline("generate", str(tiny_gpt2), "fp32", {"max_new_tokens": 1})
    ids = np.asarray([pipe.tokenizer("i love this movie")["input_ids"]], dtype=np.int64)
    logits = pipe.runtime.run({"input_ids": ids, "attention_mask": np.ones_like(ids)})["logits"]
    assert logits.shape == (1, ids.shape[1], len(pipe.tokenizer))
    [next_token] = pipe.runtime.generate(ids, np.ones_like(ids), max_new_tokens=1, do_sample=False)[0, -1:]
    assert int(logits[0, -1].argmax()) == int(next_token)
