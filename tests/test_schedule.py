"""Schedule files are checked whole, and a run that fails marks nothing as processed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from nlpbatch.errors import BrokerError
from nlpbatch.settings import Settings
from producer.cli import main
from producer.cron import next_runs
from producer.processed import ProcessedStore, doc_key
from producer.schedule import check_entries, load_config, run_entry, state_path

GOOD = """
timezone = "Europe/Paris"

[[entry]]
name = "reviews"
cron = "30 2 * * 1-5"
input = "{folder}"
task = "sentiment-analysis"
model = "{model}"
output = "{out}/reviews-{{date}}.jsonl"
params = {{ function_to_apply = "softmax" }}
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.toml"
    path.write_text(text, encoding="utf-8")
    return path


def good_config(tmp_path: Path, model: Path, folder: Path | None = None) -> Path:
    folder = folder or tmp_path
    return write_config(tmp_path, GOOD.format(folder=folder, model=model, out=tmp_path / "out"))


def test_check_lists_each_entry_with_its_cron_and_output(tmp_path: Path, tiny_bert: Path) -> None:
    result = CliRunner().invoke(
        main, ["schedule", "--config", str(good_config(tmp_path, tiny_bert)), "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "reviews: cron '30 2 * * 1-5' (Europe/Paris), sentiment with" in result.stdout
    assert result.stdout.strip().endswith("reviews-{date}.jsonl")


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", ["2026-12-01 07:00", "2026-12-01 08:00", "2026-12-01 09:00"]),
        ("@daily", ["2026-12-02 00:00", "2026-12-03 00:00", "2026-12-04 00:00"]),
        ("@weekly", ["2026-12-06 00:00", "2026-12-13 00:00", "2026-12-20 00:00"]),
        ("@monthly", ["2027-01-01 00:00", "2027-02-01 00:00", "2027-03-01 00:00"]),
        ("@yearly", ["2027-01-01 00:00", "2028-01-01 00:00", "2029-01-01 00:00"]),
        ("30 2 * * 1-5", ["2026-12-02 02:30", "2026-12-03 02:30", "2026-12-04 02:30"]),
    ],
)
def test_cron_aliases_and_expressions_give_the_next_three_run_times(alias: str, expected: list[str]) -> None:
    now = datetime(2026, 12, 1, 6, 44, tzinfo=ZoneInfo("Europe/Paris"))  # a Tuesday
    assert [r.strftime("%Y-%m-%d %H:%M") for r in next_runs(alias, now)] == expected


def test_check_shows_each_entry_s_next_runs_in_the_schedule_s_timezone(
    tmp_path: Path, tiny_bert: Path
) -> None:
    text = good_config(tmp_path, tiny_bert).read_text().replace("30 2 * * 1-5", "@daily")
    config = load_config(write_config(tmp_path, text))
    now = datetime(2026, 12, 1, 23, 59, tzinfo=ZoneInfo("Europe/Paris"))
    lines = check_entries(config, now=now)
    assert lines[0] == "reviews: next runs 2026-12-02 00:00 CET, 2026-12-03 00:00 CET, 2026-12-04 00:00 CET"
    assert lines[1].startswith("reviews: cron '@daily' (Europe/Paris)")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('cron = "30 2 * * 1-5"', 'cron = "30 2 * *"'), "must have 5 fields"),
        (('cron = "30 2 * * 1-5"', 'cron = "61 2 * * *"'), "cron '61 2 * * *'"),
        (("reviews-{{date}}", "reviews"), "must name each run by {date}"),
        (("reviews-{{date}}", "reviews-{{when}}"), "fields: {date}, {name}, {time}"),
        (('task = "sentiment-analysis"', 'task = "summarise"'), "unknown task 'summarise'"),
        (("function_to_apply", "temperature"), "unknown parameter(s) temperature"),
        (('name = "reviews"', 'name = "reviews"\nretries = 3'), "unknown key(s) retries"),
        (('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'), "unknown timezone 'Mars/Olympus'"),
        (('name = "reviews"', 'name = "reviews"\nchunk_size = "big"'), "chunk_size must be a whole number"),
        (
            ('name = "reviews"', 'name = "reviews"\nprecision = "fp8"'),
            "unknown precision 'fp8'; valid: fp32, int8",
        ),
        (("[[entry]]", "[entry]"), "has no [[entry]] tables"),
    ],
)
def test_a_bad_schedule_file_is_refused_with_a_usage_error(
    tmp_path: Path, tiny_bert: Path, change: tuple[str, str], message: str
) -> None:
    text = GOOD.replace(*change).format(folder=tmp_path, model=tiny_bert, out=tmp_path)
    result = CliRunner().invoke(main, ["schedule", "--config", str(write_config(tmp_path, text)), "--check"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_the_processed_key_follows_content_task_model_and_output_shaping_parameters() -> None:
    params = {"function_to_apply": "softmax", "batch_size": 32}
    key = doc_key({"id": 1, "text": "good"}, task="sentiment", model="m", params=params)
    assert key == doc_key({"id": "other", "text": "good"}, task="sentiment", model="m", params=params)
    assert key == doc_key(
        {"id": 1, "text": "good"}, task="sentiment", model="m", params={**params, "batch_size": 4}
    )
    for different in (
        doc_key({"id": 1, "text": "good!"}, task="sentiment", model="m", params=params),
        doc_key({"id": 1, "text": "good"}, task="embed", model="m", params=params),
        doc_key({"id": 1, "text": "good"}, task="sentiment", model="m2", params=params),
        doc_key({"id": 1, "text": "good"}, task="sentiment", model="m", params={"function_to_apply": "none"}),
    ):
        assert different != key


def test_processed_marks_survive_reopening_the_state_file(tmp_path: Path) -> None:
    store = ProcessedStore(tmp_path / "state.sqlite")
    store.mark(["k1", "k2"], entry="e", job_id="j")
    store.close()
    reopened = ProcessedStore(tmp_path / "state.sqlite")
    assert reopened.known(["k1", "k3", "k2"]) == {"k1", "k2"} and reopened.count("e") == 2


def test_a_run_that_cannot_queue_its_job_marks_nothing_and_leaves_no_staging_file(
    tmp_path: Path, tiny_bert: Path, corpus: Path
) -> None:
    settings = Settings.from_env(home=tmp_path / "home", broker_url="redis://127.0.0.1:1/0")
    entry = load_config(good_config(tmp_path, tiny_bert, corpus.parent)).entries["reviews"]
    with pytest.raises(BrokerError):
        run_entry(entry, settings, now=datetime(2026, 11, 21, 2, 30, tzinfo=UTC))
    assert ProcessedStore(state_path(settings)).count() == 0
    assert list((settings.home / "schedule" / "staging").iterdir()) == []


def test_a_run_waits_its_entry_timeout_else_a_multiple_of_its_last_run_with_a_floor(tmp_path: Path) -> None:
    from nlpbatch import defaults
    from producer.deadline import record_duration, run_timeout

    settings = Settings.from_env(home=tmp_path / "home")
    assert run_timeout(settings, "e", None) == defaults.SCHEDULE_TIMEOUT == 6 * 3600
    assert run_timeout(settings, "e", 90) == 90
    record_duration(settings, "e", 10)
    assert run_timeout(settings, "e", None) == defaults.SCHEDULE_TIMEOUT_FLOOR
    record_duration(settings, "e", 2000)
    assert run_timeout(settings, "e", None) == defaults.SCHEDULE_TIMEOUT_FACTOR * 2000
    assert run_timeout(settings, "other", None) == defaults.SCHEDULE_TIMEOUT


@pytest.mark.parametrize("bad", ["0", "-5", '"soon"', "true"])
def test_an_entry_timeout_that_is_not_a_positive_number_is_refused(
    tmp_path: Path, tiny_bert: Path, bad: str
) -> None:
    from nlpbatch.errors import InvalidParameter

    path = write_config(
        tmp_path, GOOD.format(folder=tmp_path, model=tiny_bert, out=tmp_path) + f"timeout = {bad}\n"
    )
    with pytest.raises(InvalidParameter, match="timeout must be a number of seconds"):
        load_config(path)
    ok = write_config(
        tmp_path, GOOD.format(folder=tmp_path, model=tiny_bert, out=tmp_path) + "timeout = 60\n"
    )
    assert load_config(ok).entries["reviews"].timeout == 60
