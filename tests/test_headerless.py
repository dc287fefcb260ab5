"""CSV/TSV files without a header row: --no-header, fields by column number, no row lost."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch.errors import InputError, InvalidParameter
from nlpbatch.outputs.records import read_records
from producer import api
from producer.cli import main
from producer.job import JobSpec, prepare_job
from producer.readers import FieldMap, check_fields, expand_inputs, iter_documents
from producer.schedule import load_config

TWEETS = (
    '2401,Borderlands,Positive,"im getting on borderlands and i will murder you all ,"\n'
    '2401,Borderlands,Positive,"I am coming to the borders and I will kill you all,"\n'
    "2402,Borderlands,Negative,so bad\n"
)


@pytest.fixture
def tweets(tmp_path: Path) -> Path:
    path = tmp_path / "tweets.csv"
    path.write_text(TWEETS)
    return path


def test_a_headerless_csv_yields_its_first_row_as_a_document_named_by_column_numbers(tweets: Path) -> None:
    docs = list(iter_documents(expand_inputs([str(tweets)]), FieldMap("4", "1", no_header=True)))
    assert [d["id"] for d in docs] == ["2401", "2401", "2402"]
    assert docs[0]["text"] == "im getting on borderlands and i will murder you all ,"
    assert docs[2]["text"] == "so bad"


def test_a_headerless_tsv_reads_every_row_too(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("a\tfirst text\nb\tsecond text\n")
    docs = list(iter_documents(expand_inputs([str(path)]), FieldMap("2", "1", no_header=True)))
    assert docs == [{"id": "a", "text": "first text"}, {"id": "b", "text": "second text"}]


def test_id_field_none_names_every_document_by_file_and_line_even_when_ids_exist(tweets: Path) -> None:
    docs = list(iter_documents(expand_inputs([str(tweets)]), FieldMap("4", "none", no_header=True)))
    assert [d["id"] for d in docs] == [f"{tweets}:1", f"{tweets}:2", f"{tweets}:3"]


def test_a_missing_field_in_a_csv_whose_first_row_is_data_points_to_no_header(tweets: Path) -> None:
    with pytest.raises(InputError) as caught:
        check_fields(expand_inputs([str(tweets)]), FieldMap(), ["text"])
    message = str(caught.value)
    assert "looks like data" in message and "--no-header" in message
    assert "--text-field 4 --id-field 1" in message  # the longest cell is the likely text


def test_a_missing_field_in_a_csv_with_a_real_header_does_not_mention_no_header(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,body\n1,hello there\n2,more words\n3,again\n")
    with pytest.raises(InputError) as caught:
        check_fields(expand_inputs([str(path)]), FieldMap(), ["text"])
    assert "--no-header" not in str(caught.value) and "fields there: body, id" in str(caught.value)


def test_a_column_number_without_no_header_is_refused_with_the_flag_named(tweets: Path) -> None:
    with pytest.raises(InputError, match="column numbers name fields only with --no-header"):
        check_fields(expand_inputs([str(tweets)]), FieldMap(text_field="4"), ["text"])


def test_a_column_number_past_the_last_column_names_the_range(tweets: Path) -> None:
    with pytest.raises(InputError, match="column numbers 1 to 4"):
        check_fields(expand_inputs([str(tweets)]), FieldMap(text_field="5", no_header=True), ["text"])


def test_naming_a_line_of_text_as_the_column_warns_that_the_first_row_is_lost(
    tweets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first_text = "im getting on borderlands and i will murder you all ,"
    with caplog.at_level(logging.WARNING, logger="nlpbatch.readers"):
        check_fields(expand_inputs([str(tweets)]), FieldMap(first_text, "2401"), ["text"])
    assert "--no-header" in caplog.text and "looks like data" in caplog.text


def test_no_header_travels_in_the_job_manifest(tweets: Path, tiny_bert: Path, tmp_path: Path) -> None:
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tweets)],
        output=str(tmp_path / "o.jsonl"),
        text_field="4",
        id_field="1",
        no_header=True,
    )
    again = JobSpec.from_manifest(json.loads(json.dumps(job.manifest("j1"))))
    assert again.no_header is True and again.fields.no_header is True
    docs = [d for m in again.messages("j1") for d in m.docs]
    assert len(docs) == 3 and docs[0]["text"].startswith("im getting")


def test_run_with_no_header_writes_a_record_for_the_first_row(
    tweets: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(
        main,
        ["run", str(tweets), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out),
         "--no-header", "--text-field", "4", "--id-field", "1"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_records(out)] == ["2401", "2401", "2402"]


def test_run_refuses_a_headerless_csv_without_the_flag_and_shows_it(
    tweets: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["run", str(tweets), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2 and "--no-header" in result.stderr


def test_a_schedule_entry_can_read_a_headerless_file(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        '[[entry]]\nname = "tweets"\ncron = "0 2 * * *"\ninput = "/data/t.csv"\ntask = "sentiment"\n'
        'output = "/out/t-{date}.jsonl"\ntext_field = "4"\nid_field = "1"\nno_header = true\n'
    )
    assert load_config(path).entries["tweets"].no_header is True
    path.write_text(path.read_text().replace("no_header = true", 'no_header = "yes"'))
    with pytest.raises(InvalidParameter, match="no_header must be true or false"):
        load_config(path)


def test_client_submit_passes_no_header_to_the_job(
    tweets: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[JobSpec] = []

    def fake_submit(job: JobSpec, settings: object, **kwargs: object) -> object:
        queued.append(job)
        return type("Submission", (), {"job_id": "j1"})()

    monkeypatch.setattr(api, "submit_job", fake_submit)
    api.Client(home=tmp_path).submit(
        tweets, task="sentiment", model=str(tiny_bert), output=tmp_path / "o.jsonl",
        text_field="4", id_field="1", no_header=True,
    )  # fmt: skip
    assert queued[0].no_header is True and queued[0].manifest("j1")["no_header"] is True
