"""A job its checkpoint cannot do (no head for the task, an unknown language) is refused up front."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch.errors import InvalidParameter, UnknownModel
from producer.cli import main
from producer.job import prepare_job
from tests.conftest import write_jsonl

HEADLESS = [
    ("sentiment", "ForSequenceClassification", []),
    ("zero-shot", "ForSequenceClassification", ["-p", "candidate_labels=movie,city"]),
    ("ner", "ForTokenClassification", []),
    ("qa", "ForQuestionAnswering", []),
]


@pytest.mark.parametrize(("task", "head", "params"), HEADLESS)
@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_bare_encoder_is_refused_for_a_task_that_needs_a_head(
    tiny_models: Callable[..., Path], tmp_path: Path, task: str, head: str, params: list[str], command: str
) -> None:
    bare = tiny_models("bert", "feature-extraction")  # a BertModel: no head at all
    corpus = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": 1, "text": "john lives in paris", "question": "who ?", "context": "paris"}],
    )
    out = tmp_path / "out.jsonl"
    argv = [command, str(corpus), "-t", task, "-m", str(bare), "-o", str(out), *params]
    if command == "submit":  # refused before any broker is reached
        argv += ["--broker", "redis://127.0.0.1:1/0"]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "BertModel" in result.stderr and head in result.stderr
    assert not out.exists()


def test_a_checkpoint_with_the_task_s_head_is_accepted(
    tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "john lives in paris"}])
    for task, head in (("ner", "token-classification"), ("sentiment", "text-classification")):
        model = tiny_models("bert", head)
        job = prepare_job(task=task, model=str(model), inputs=[str(corpus)], output=str(tmp_path / "o.jsonl"))
        assert job.model == str(model)
    with pytest.raises(
        UnknownModel, match=r"needs a model with a \*ForTokenClassification head.*BertForSequence"
    ):
        prepare_job(
            task="ner",
            model=str(tiny_models("bert", "text-classification")),
            inputs=[str(corpus)],
            output=str(tmp_path / "o.jsonl"),
        )


@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_language_model_of_the_wrong_kind_exits_2_before_any_work(
    tiny_t5: Path, tiny_gpt2: Path, tmp_path: Path, command: str
) -> None:
    corpus = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "hello"}])
    out = tmp_path / "out.jsonl"
    broker = ["--broker", "redis://127.0.0.1:1/0"] if command == "submit" else []
    for task, model, says in (
        ("summarize", tiny_gpt2, "needs a seq2seq model"),
        ("generate", tiny_t5, "needs a causal language model"),
    ):
        argv = [command, str(corpus), "-t", task, "-m", str(model), "-o", str(out), *broker]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert says in result.stderr
        assert not out.exists()


def test_a_direction_a_t5_checkpoint_does_not_know_exits_2_before_any_work(
    tiny_t5: Path, tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "hello"}])
    out = tmp_path / "out.jsonl"
    argv = ["run", str(corpus), "-t", "translate", "-m", str(tiny_t5), "-o", str(out)]
    result = CliRunner().invoke(
        main, [*argv, "-p", "src_lang=en", "-p", "tgt_lang=ko"], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    assert "does not translate en->ko; it knows: en->de, en->fr" in result.stderr
    assert not out.exists()


def test_language_codes_of_a_multilingual_checkpoint_are_checked_before_any_work(tmp_path: Path) -> None:
    from tests.generative_models import build_tiny_mbart50

    mbart = str(build_tiny_mbart50(tmp_path / "mbart"))
    corpus = str(write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "hello"}]))

    def prepare(**params: str) -> object:
        return prepare_job(
            task="translation", model=mbart, inputs=[corpus], output=str(tmp_path / "o.jsonl"), params=params
        )

    assert prepare(src_lang="en_XX", tgt_lang="fr_XX")
    # transformers would force the unknown token as the first token of every translation.
    with pytest.raises(InvalidParameter, match=r"no language code 'xx_YY'; it knows: af_ZA, ar_AR, .*en_XX"):
        prepare(src_lang="en_XX", tgt_lang="xx_YY")
    with pytest.raises(InvalidParameter, match="no language code 'english'"):
        prepare(src_lang="english", tgt_lang="fr_XX")
    with pytest.raises(InvalidParameter, match="needs both src_lang and tgt_lang"):
        prepare(src_lang="en_XX")


def test_the_producer_s_head_table_names_the_head_each_worker_pipeline_loads() -> None:
    from nlpbatch.checkpoint import HEADS
    from worker.pipelines import PIPELINES

    for task, cls in PIPELINES.items():
        head = cls.head
        auto = head.auto_class if head else ""
        expected = next((h for h in set(HEADS.values()) if auto.endswith(h)), None)
        assert HEADS.get(task) == expected, task
