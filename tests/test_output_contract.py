"""Every output store keeps the same promises: parts in any order, merged and read back in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nlpbatch import storage
from nlpbatch.columns import output_fields
from nlpbatch.errors import OutputError
from nlpbatch.jobstore import JobStore
from nlpbatch.outputs import Output, open_output
from nlpbatch.outputs.dataset import DatasetOutput
from nlpbatch.outputs.files import LocalOutput, UrlOutput
from nlpbatch.outputs.records import to_row
from nlpbatch.outputs.redis_results import RedisOutput
from nlpbatch.tasks import get_task

EMBED = get_task("embed")
CHUNKS = {
    0: [{"id": "a", "embedding": [0.5]}, {"id": "b", "error": {"type": "X", "message": "m"}}],
    1: [{"id": "c", "embedding": [0.25]}],
    2: [{"id": "d", "embedding": [1.0]}],
}
IN_ORDER = [r for index in sorted(CHUNKS) for r in CHUNKS[index]]


@dataclass
class Case:
    """One store under test: its output, and what it says of itself."""

    output: Output
    kind: type[Output]
    recorded_as: str
    report: str | None
    #: The parts are gone once merged (files), or they are the results (Redis, datasets).
    parts_merged_away: bool
    #: `merged()` after the merge: a file or a finished dataset, not results in Redis.
    merged: bool | None = None
    #: Records as the store gives them back: Parquet rows carry every column.
    rows: Callable[[list[dict]], list[dict]] = field(default=lambda records: records)

    def __post_init__(self) -> None:
        if self.merged is None:
            self.merged = self.parts_merged_away


def parquet_rows(records: list[dict]) -> list[dict]:
    return [to_row(output_fields(EMBED, None), r) for r in records]


DATASETS = ["dataset folder", "jsonl dataset folder", "memory:// dataset"]


@pytest.fixture(params=["local path", "file:// URL", "memory:// URL", "redis://", *DATASETS])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    kind = request.param
    if kind in DATASETS:
        folder = {
            "dataset folder": f"{tmp_path}/out/",
            "jsonl dataset folder": f"{tmp_path}/out.jsonl/",
            "memory:// dataset": "memory://contract-dataset/out/",
        }[kind]
        output = open_output(folder)
        assert isinstance(output, DatasetOutput)
        output.with_task(EMBED)
        rows = (lambda r: r) if kind == "jsonl dataset folder" else parquet_rows
        yield Case(output, DatasetOutput, folder, f"{folder}_report.json", False, True, rows)
        storage.remove_tree("memory://contract-dataset")
        return
    if kind == "redis://":
        # The broker's Redis, only for this case, so the file cases need no redis-server.
        store = JobStore.from_url(request.getfixturevalue("broker_url"))
        output = open_output("redis://?ttl=600", job_id="contract", redis=lambda: store.r)
        yield Case(output, RedisOutput, "redis://?ttl=600", None, False)
        return
    if kind == "memory:// URL":
        target = "memory://contract/out.jsonl"
        yield Case(open_output(target), UrlOutput, target, f"{target}.report.json", True)
        storage.remove_tree("memory://contract")  # the memory store lives as long as the process
        return
    if kind == "file:// URL":
        target = f"file://{tmp_path}/out.jsonl"
        yield Case(open_output(target), UrlOutput, target, f"{target}.report.json", True)
        return
    target = str(tmp_path / "out.jsonl")
    yield Case(open_output(target), LocalOutput, target, f"{target}.report.json", True)


def write_out_of_order(output: Output) -> None:
    for index in (2, 0, 1, 0):  # chunk 0 redelivered: its records are kept once
        output.write_part(index, CHUNKS[index])


def test_the_factory_picks_the_store_and_the_checked_output_is_what_the_job_records(case: Case) -> None:
    assert type(case.output) is case.kind
    assert str(case.output.check()) == case.recorded_as
    case.output.check_safe()  # a worker accepts the checked output


def test_parts_written_in_any_order_are_listed_once_each_with_their_records(case: Case) -> None:
    output = case.output
    assert output.done_parts() == set() and list(output.written_parts()) == []
    write_out_of_order(output)
    assert output.done_parts() == {0, 1, 2}
    assert dict(output.written_parts()) == {i: case.rows(r) for i, r in CHUNKS.items()}
    assert output.read_part(1) == case.rows(CHUNKS[1])


def test_merged_parts_read_back_in_chunk_order(case: Case) -> None:
    output = case.output
    write_out_of_order(output)
    assert not output.merged()
    output.merge(EMBED, len(CHUNKS))
    assert list(output.read(len(CHUNKS))) == case.rows(IN_ORDER)
    assert output.merged() is case.merged
    assert output.done_parts() == (set() if case.parts_merged_away else set(CHUNKS))


def test_a_job_with_a_chunk_missing_cannot_be_read_whole(case: Case) -> None:
    output = case.output
    output.write_part(0, CHUNKS[0])
    output.write_part(2, CHUNKS[2])
    with pytest.raises(OutputError, match="chunk"):
        output.merge(EMBED, len(CHUNKS))
        list(output.read(len(CHUNKS)))


def test_the_report_goes_beside_a_file_output_and_nowhere_for_results_in_redis(case: Case) -> None:
    location = case.output.report_location
    assert (None if location is None else str(location)) == case.report


def test_only_outputs_that_hold_a_whole_file_can_be_written_by_run(case: Case) -> None:
    output = case.output
    if not output.runnable:
        with pytest.raises(OutputError):
            output.writer(EMBED)
        return
    with output.writer(EMBED) as writer:
        writer.write(IN_ORDER)
    assert list(output.read(1 if output.partitioned else len(CHUNKS))) == case.rows(IN_ORDER)


def test_draining_drops_results_kept_apart_and_leaves_a_file_alone(case: Case) -> None:
    output = case.output
    write_out_of_order(output)
    output.merge(EMBED, len(CHUNKS))
    output.drain()
    if output.drainable:
        with pytest.raises(OutputError, match="expired or were already drained"):
            list(output.read(len(CHUNKS)))
    else:
        assert list(output.read(len(CHUNKS))) == case.rows(IN_ORDER)


def test_the_manifest_copy_and_the_cancelled_note_go_beside_the_parts_where_there_are_any(
    case: Case,
) -> None:
    output = case.output
    output.write_manifest(b'{"job_id": "contract"}')
    output.note_cancelled("cancelled\n")
    if isinstance(output, RedisOutput):
        assert output.done_parts() == set()  # nothing written among the results
        return
    if isinstance(output, DatasetOutput):
        # Beside the parts under names that readers of the folder skip.
        assert storage.is_file(storage.join(output.folder, "_job.json"))
        is_local = not storage.is_url(output.folder)
        assert storage.is_file(storage.join(output.folder, "_CANCELLED")) is is_local
        output.note_cancelled(None)
        assert not storage.is_file(storage.join(output.folder, "_CANCELLED"))
        assert output.done_parts() == set()
        return
    assert isinstance(output, LocalOutput | UrlOutput)
    assert storage.is_file(storage.join(output.parts, "job.json"))
    # Only a local folder gets the note; on URLs the job's state in Redis is the mark.
    assert storage.is_file(storage.join(output.parts, "CANCELLED")) is isinstance(output, LocalOutput)
    output.note_cancelled(None)
    assert not storage.is_file(storage.join(output.parts, "CANCELLED"))
    assert output.done_parts() == set()  # neither is taken for a part
