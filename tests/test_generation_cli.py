"""The generative tasks from the command line: discovery, Parquet output, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from producer.cli import main
from tests.conftest import write_jsonl


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_tasks_documents_the_generative_tasks_with_their_defaults() -> None:
    code, out, _ = invoke("tasks")
    assert code == 0
    for line in (
        "summarize  (aliases: summarization)",
        "translate  (aliases: translation)",
        "generate  (aliases: text-generation)",
        "default model: sshleifer/distilbart-cnn-12-6",
        "default model: google-t5/t5-base",
        "default model: openai-community/gpt2",
        "--param max_new_tokens=None",
        "--param src_lang=",
        "--param return_full_text=True",
    ):
        assert line in out
    listed = json.loads(invoke("tasks", "--json")[1])
    assert listed["translate"]["output_fields"] == {"translation_text": "string"}
    assert {"do_sample", "seed", "temperature", "top_k", "top_p", "num_beams"} <= set(
        listed["generate"]["params"]
    )


def test_summaries_go_to_parquet_with_an_error_record_for_a_bad_line(tiny_t5: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "news.jsonl"
    write_jsonl(corpus, [{"id": "a", "text": "the price was cheap"}, {"id": "b", "text": ""}])
    with corpus.open("a") as fh:
        fh.write("{not json\n")
    out = tmp_path / "summaries.parquet"
    code, stdout, _ = invoke(
        "run",
        str(corpus),
        "-t",
        "summarization",
        "-m",
        str(tiny_t5),
        "-o",
        str(out),
        "--param",
        "max_new_tokens=5",
    )
    assert code == 0, stdout
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows][:2] == ["a", "b"] and rows[2]["id"].endswith("news.jsonl:3")
    assert isinstance(rows[0]["summary_text"], str) and rows[0]["error"] is None
    assert rows[2]["error"]["type"] == "MalformedInput" and rows[2]["summary_text"] is None


def test_sampling_with_beams_is_refused_before_any_work(tiny_gpt2: Path, tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "p.jsonl", [{"text": "hello"}])
    code, _, err = invoke(
        "run",
        str(corpus),
        "-t",
        "generate",
        "-m",
        str(tiny_gpt2),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--param",
        "do_sample=true",
        "--param",
        "num_beams=3",
    )
    assert code == 2 and "do_sample takes num_beams=1" in err
    assert not (tmp_path / "o.jsonl").exists()
