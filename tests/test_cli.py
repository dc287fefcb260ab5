"""The `nlpbatch` command: jobs run in-process, and bad jobs stop with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_run_writes_one_record_per_document_in_input_order(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "sentiment.jsonl"
    code, stdout, _ = invoke(
        "run",
        str(corpus),
        "--task",
        "sentiment",
        "--model",
        str(tiny_bert),
        "-o",
        str(out),
        "--chunk-size",
        "3",
    )
    assert code == 0, stdout
    assert "7 documents (0 errors)" in stdout and "docs/s" in stdout
    records = list(read_records(out))
    assert [r["id"] for r in records] == [f"d{i}" for i in range(7)]
    assert all(r["label"] in {"POSITIVE", "NEGATIVE"} and 0 <= r["score"] <= 1 for r in records)


def test_a_malformed_line_becomes_an_error_record_and_the_rest_is_processed(
    tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"id": 1, "text": "good"}\n{"id": 2, "text": oops}\n{"id": 3, "text": "bad"}\n{"id": 4}\n'
    )
    out = tmp_path / "o.jsonl"
    code, stdout, _ = invoke("run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out))
    assert code == 0 and "4 documents (2 errors)" in stdout
    records = list(read_records(out))
    assert [r.get("id") for r in records] == [1, f"{corpus}:2", 3, 4]
    assert "label" in records[0] and "label" in records[2]
    assert records[1]["error"]["type"] == "MalformedInput"
    assert records[3]["error"]["message"] == "missing field 'text'"


def test_embed_to_parquet_with_the_packaged_minilm(minilm: str, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.parquet"
    code, stdout, _ = invoke(
        "run", str(corpus), "--task", "feature-extraction", "--model", minilm, "-o", str(out)
    )
    assert code == 0, stdout
    table = pq.read_table(out)
    assert table.num_rows == 7 and str(table.schema.field("embedding").type) == "list<element: float>"
    assert len(table.column("embedding")[0].as_py()) == 384


def test_run_reports_as_json_for_scripts(corpus: Path, tiny_distilbert: Path, tmp_path: Path) -> None:
    code, stdout, _ = invoke(
        "run",
        str(corpus),
        "-t",
        "embed",
        "-m",
        str(tiny_distilbert),
        "-o",
        str(tmp_path / "e.jsonl"),
        "--json",
        "--threads",
        "1",
    )
    report = json.loads(stdout)
    assert code == 0 and report["docs"] == 7 and report["threads"] == 1 and report["backend"] == "onnx"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "sentimant"], "unknown task 'sentimant'; valid tasks:"),
        (["--model", "./nowhere"], "unknown model './nowhere'"),
        (["--param", "pooling=median", "--task", "embed"], "must be one of: mean, cls, max"),
        (["--param", "colour=red"], "unknown parameter(s) colour"),
        (["--param", "long=whole"], "'long' must be one of: truncate, window; got 'whole'"),
        (["--text-field", "body"], "field 'body' not found"),
        (["-o", "{tmp}/out.csv"], "unknown output extension '.csv'"),
        (["INPUT={tmp}/missing.jsonl"], "does not exist"),
    ],
)
def test_a_bad_job_stops_before_any_work_with_exit_code_2(
    args: list[str], message: str, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    options = {"--task": "sentiment", "--model": str(tiny_bert), "-o": str(tmp_path / "out.jsonl")}
    inputs = [str(corpus)]
    extra: list[str] = []
    it = iter(args)
    for arg in it:
        if arg.startswith("INPUT="):
            inputs = [arg.split("=", 1)[1].format(tmp=tmp_path)]
        elif arg in options:
            options[arg] = next(it).format(tmp=tmp_path)
        else:
            extra += [arg, next(it)]
    argv = ["run", *inputs, *[x for kv in options.items() for x in kv], *extra]
    code, _, stderr = invoke(*argv)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_params_come_from_a_file_and_flags_override_it(corpus: Path, tiny_bert: Path, tmp_path: Path) -> None:
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"pooling": "cls", "normalize": True}))
    out = tmp_path / "e.jsonl"
    code, _, stderr = invoke(
        "run",
        str(corpus),
        "-t",
        "embed",
        "-m",
        str(tiny_bert),
        "-o",
        str(out),
        "--params",
        str(params),
        "-p",
        "normalize=false",
    )
    assert code == 0, stderr
    vec = next(read_records(out))["embedding"]
    assert abs(sum(v * v for v in vec) - 1) > 1e-3  # not normalised: the flag won


def test_tasks_lists_every_task_with_inputs_and_parameters() -> None:
    code, stdout, _ = invoke("tasks")
    assert code == 0
    assert "sentiment  (aliases: text-classification" in stdout and "--param pooling=mean" in stdout


def test_models_export_prints_the_cached_folder(tiny_distilbert: Path) -> None:
    code, stdout, _ = invoke("models", "export", str(tiny_distilbert), "--task", "sentiment")
    assert code == 0 and (Path(stdout.strip()) / "model.onnx").is_file()


def test_stdin_corpus(tiny_bert: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(
        main,
        ["run", "-", "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out)],
        input="good movie\nbad film\n",
    )
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_records(out)] == ["<stdin>:1", "<stdin>:2"]


def test_korean_emoji_and_right_to_left_text_get_results(tiny_bert: Path, tmp_path: Path) -> None:
    rows = [
        {"id": 1, "text": "한국어 ELECTRA를 공유합니다."},
        {"id": 2, "text": "great 😀🎉"},
        {"id": 3, "text": "שלום עולם مرحبا"},
    ]
    corpus = write_jsonl(tmp_path / "x.jsonl", rows)
    out = tmp_path / "o.jsonl"
    code, _, stderr = invoke("run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out))
    assert code == 0, stderr
    assert [("label" in r) for r in read_records(out)] == [True, True, True]


def test_passage_flags_run_the_job_the_passage_params_do(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    job = ["run", str(corpus), "-t", "embed", "-m", str(tiny_bert), "--chunk-size", "3"]
    by_flags, by_params = tmp_path / "flags.jsonl", tmp_path / "params.jsonl"
    code, _, stderr = invoke(*job, "--passages", "8", "--overlap", "2", "--passage-text", "-o", str(by_flags))
    assert code == 0, stderr
    params = ["-p", "passages=8", "-p", "overlap=2", "-p", "passage_text=true"]
    code, _, stderr = invoke(*job, *params, "-o", str(by_params))
    assert code == 0, stderr
    flagged = list(read_records(by_flags))
    assert flagged == list(read_records(by_params))
    assert len(flagged) > 7 and all("text" in r for r in flagged)  # a record per passage, with its text


@pytest.mark.parametrize("command", ["run", "submit"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "sentiment", "--passages", "8"], "--passages works with task 'embed' only, not 'sentiment'"),
        (["-t", "ner", "--overlap", "2"], "--overlap works with task 'embed' only, not 'ner'"),
        (["-t", "embed", "--passages", "8", "-p", "passages=16"], "--passages 8 and parameter passages=16"),
        (
            ["-t", "feature-extraction", "--overlap", "2", "-p", "overlap=3"],
            "--overlap 2 and parameter overlap=3",
        ),
    ],
)
def test_passage_flags_on_another_task_or_against_a_param_stop_with_exit_code_2(
    command: str, args: list[str], message: str, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    code, _, stderr = invoke(command, str(corpus), "-m", str(tiny_bert), *args, "-o", str(out))
    assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert not out.exists()
