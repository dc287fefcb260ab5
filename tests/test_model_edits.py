"""A local model edited after its first export is exported again: `run` follows the edit, as
PyTorch does, instead of reusing the export of the model as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from producer.cli import main
from tests.conftest import write_jsonl

PROMPTS = ["i love this movie", "the battery broke after a week", "what is the capital of france ?"]


def run_cli(corpus: Path, task: str, model: Path, out: Path, *params: str) -> list[dict]:
    args = ["run", str(corpus), "-t", task, "-m", str(model), "-o", str(out), "--quiet"]
    result = CliRunner().invoke(main, [*args, *(a for p in params for a in ("--param", p))])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_an_edited_generation_config_is_followed_after_the_first_export(
    tiny_gpt2: Path, tmp_path: Path
) -> None:
    from transformers import pipeline

    model = shutil.copytree(tiny_gpt2, tmp_path / "gpt2")
    config = model / "generation_config.json"
    ids = {"bos_token_id": 0, "eos_token_id": 0}
    config.write_text(json.dumps(ids))
    corpus = write_jsonl(
        tmp_path / "prompts.jsonl", [{"id": f"p{i}", "text": t} for i, t in enumerate(PROMPTS)]
    )
    first = run_cli(corpus, "generate", model, tmp_path / "first.jsonl", "max_new_tokens=8")

    config.write_text(json.dumps({**ids, "no_repeat_ngram_size": 1}))
    second = run_cli(corpus, "generate", model, tmp_path / "second.jsonl", "max_new_tokens=8")

    # Greedy: GPT-2's config asks the pipeline to sample, which nlpbatch does only when told to.
    theirs = pipeline("text-generation", model=str(model), device="cpu")(
        PROMPTS, do_sample=False, max_new_tokens=8
    )
    assert [r["id"] for r in second] == ["p0", "p1", "p2"]
    assert [r["generated_text"] for r in second] == [t[0]["generated_text"] for t in theirs]
    # The tiny model repeats tokens; no_repeat_ngram_size=1 forbids it, so every text changed.
    assert all(a["generated_text"] != b["generated_text"] for a, b in zip(first, second, strict=True))


def test_an_edited_vocabulary_is_followed_after_the_first_export(tmp_path: Path) -> None:
    """A checkpoint shipping vocab.json and merges.txt but no tokenizer.json, as many do."""
    from transformers import pipeline

    from tests.families import TEXTS, build_encoder

    model = build_encoder(tmp_path / "roberta", "roberta", "text-classification", ["NEGATIVE", "POSITIVE"])
    (model / "tokenizer.json").unlink()
    corpus = write_jsonl(tmp_path / "texts.jsonl", [{"id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)])
    first = run_cli(corpus, "sentiment", model, tmp_path / "first.jsonl")

    merges = model / "merges.txt"
    merges.write_text(merges.read_text().splitlines()[0] + "\n")  # no merges left: byte-level tokens
    second = run_cli(corpus, "sentiment", model, tmp_path / "second.jsonl")

    theirs = pipeline("text-classification", model=str(model), device="cpu")(TEXTS)
    assert [r["id"] for r in second] == [f"t{i}" for i in range(len(TEXTS))]
    assert [r["label"] for r in second] == [t["label"] for t in theirs]
    assert [r["score"] for r in second] == pytest.approx([t["score"] for t in theirs], abs=1e-4)
    assert [r["score"] for r in second] != pytest.approx([r["score"] for r in first], abs=1e-4)
