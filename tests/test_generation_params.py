"""A job's decoding settings win over the checkpoint's generation_config.json defaults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.engines import engine
from tests.families import TEXTS
from tests.helpers import run_texts

Models = Callable[..., Path]
LANGS = {"translate": {"src_lang": "en", "tgt_lang": "fr"}}
FIELD = {"summarize": "summary_text", "translate": "translation_text", "generate": "generated_text"}
HF_TASK = {"summarize": "summarization", "translate": "translation_en_to_fr", "generate": "text-generation"}


@pytest.fixture(autouse=True, params=["onnx", "torch"])
def _engine(settings: Settings, request: pytest.FixtureRequest) -> None:
    """Both backends: ONNX Runtime on CPU, PyTorch on GPUs."""
    engine.configure(settings, threads=1, backend=request.param)


def texts_of(task: str, records: list[dict]) -> list[str]:
    return [r[FIELD[task]] for r in records]


def hf_texts(task: str, model: Path, **kwargs: object) -> list[str]:
    from transformers import pipeline

    out = pipeline(HF_TASK[task], model=str(model), device="cpu")(TEXTS, **kwargs)
    return [(o[0] if isinstance(o, list) else o)[FIELD[task]] for o in out]


@pytest.mark.parametrize(("task", "family"), [("summarize", "bart"), ("translate", "t5")])
def test_num_beams_1_is_greedy_on_a_checkpoint_whose_generation_config_sets_four_beams(
    family_generators: Models, task: str, family: str
) -> None:
    model = family_generators(family, num_beams=4)
    langs = LANGS.get(task, {})
    greedy = texts_of(task, run_texts(task, model, TEXTS, max_new_tokens=10, num_beams=1, **langs))
    assert greedy == hf_texts(task, model, max_new_tokens=10, num_beams=1)
    beams = texts_of(task, run_texts(task, model, TEXTS, max_new_tokens=10, **langs))
    assert beams == hf_texts(task, model, max_new_tokens=10)  # the checkpoint's 4 beams
    assert greedy != beams  # the tiny model tells greedy from beam search


def test_generation_is_greedy_and_repeatable_on_a_checkpoint_whose_generation_config_samples(
    family_generators: Models,
) -> None:
    model = family_generators("llama", do_sample=True)
    first = texts_of("generate", run_texts("generate", model, TEXTS, max_new_tokens=10))
    second = texts_of("generate", run_texts("generate", model, TEXTS, max_new_tokens=10, batch_size=2))
    assert first == second
    assert first == hf_texts("generate", model, max_new_tokens=10, do_sample=False)
    assert len(set(first)) > 1
