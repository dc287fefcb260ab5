"""`--backend ctranslate2`: in fp32, the same texts as transformers, greedy and beam, on every family."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.errors import InvalidParameter
from nlpbatch.settings import Settings
from tests.engines import engine
from tests.families import TEXTS
from tests.helpers import run_texts

pytest.importorskip("ctranslate2")


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="ctranslate2")


CASES = [
    ("summarize", "summarization", "bart", {}),
    ("summarize", "summarization", "t5", {}),
    ("generate", "text-generation", "gpt2", {}),
    ("generate", "text-generation", "llama", {}),
]


@pytest.mark.parametrize(("task", "hf_task", "family", "langs"), CASES)
def test_ctranslate2_generates_what_transformers_generates(
    family_generators: Callable[..., Path], task: str, hf_task: str, family: str, langs: dict[str, str]
) -> None:
    from transformers import pipeline

    field = {"summarize": "summary_text", "generate": "generated_text"}[task]
    model = family_generators(family)
    pipe = pipeline(hf_task, model=str(model), device="cpu")
    for num_beams in (1, 3):
        ours = run_texts(task, model, TEXTS, max_new_tokens=8, num_beams=num_beams, batch_size=4, **langs)
        theirs = pipe(TEXTS, max_new_tokens=8, num_beams=num_beams, do_sample=False)
        theirs = [t[0] if isinstance(t, list) else t for t in theirs]
        assert [r[field] for r in ours] == [t[field] for t in theirs]
        assert len({r[field] for r in ours}) > 1


def test_mbart_translates_by_language_code_as_transformers(tmp_path: Path) -> None:
    from transformers import pipeline

    from tests.generative_models import build_tiny_mbart50

    mbart = build_tiny_mbart50(tmp_path / "mbart")
    for tgt in ("fr_XX", "de_DE"):
        ours = run_texts(
            "translate", mbart, TEXTS, max_new_tokens=8, num_beams=1, src_lang="en_XX", tgt_lang=tgt
        )
        theirs = pipeline("translation", model=str(mbart), device="cpu")(
            TEXTS, src_lang="en_XX", tgt_lang=tgt, max_new_tokens=8, num_beams=1
        )
        assert [r["translation_text"] for r in ours] == [t["translation_text"] for t in theirs]


def test_a_setting_ctranslate2_cannot_match_is_refused_by_name(
    family_generators: Callable[..., Path],
) -> None:
    model = family_generators("gpt2", repetition_penalty=1.3)
    with pytest.raises(InvalidParameter, match=r"repetition_penalty=1.3.*--backend onnx"):
        run_texts("generate", model, ["hello"], max_new_tokens=4)


def test_the_runtime_says_ctranslate2_and_its_precision(family_generators: Callable[..., Path]) -> None:
    model = family_generators("gpt2")
    runtime = engine.get_model("generate", str(model), "int8").runtime
    assert (runtime.backend, runtime.precision, runtime.compute_type) == ("ctranslate2", "int8", "int8")


def test_ctranslate2_batches_fill_to_the_batch_size_whatever_the_padding(
    family_generators: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CTranslate2 removes padding itself: texts of 3 to 80 words go in one call of batch_size
    rows (the encoders' padding limit would cut them into many), and give the records that
    calls of one text each give."""
    from worker.runtime.ctranslate2 import Ct2Runtime

    model = family_generators("bart")
    texts = [" ".join(["word"] * n) + " end" for n in (3, 10, 20, 40, 60, 80)]
    calls: list[int] = []
    real = Ct2Runtime.generate_rows

    def counted(self: Ct2Runtime, rows: list[list[int]], *args: object, **kw: object) -> list[list[int]]:
        calls.append(len(rows))
        return real(self, rows, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Ct2Runtime, "generate_rows", counted)
    together = run_texts("summarize", model, texts, max_new_tokens=8, batch_size=len(texts))
    assert calls == [len(texts)]
    alone = run_texts("summarize", model, texts, max_new_tokens=8, batch_size=1)
    assert [r["summary_text"] for r in together] == [r["summary_text"] for r in alone]
