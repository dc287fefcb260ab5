"""A disk that fills up during the merge leaves the parts and no output; the merge is tried again."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nlpbatch.errors import StorageError
from nlpbatch.jobs import finalize, new_job_id
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.outputs import open_output
from nlpbatch.outputs import records as records_module
from nlpbatch.outputs.records import RecordWriter, read_records
from producer.job import prepare_job
from tests.conftest import write_jsonl


def full_disk(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_merge_on_a_full_disk_keeps_the_parts_writes_nothing_and_succeeds_once_space_is_back(
    broker_url: str, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    rows = [{"id": f"d{i}", "text": f"text {i}"} for i in range(4)]
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    out = tmp_path / "out" / "result.jsonl"
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(out),
        chunk_size=2,
    )
    job_id = new_job_id()
    store = JobStore.from_url(broker_url)
    store.create(job_id, job.manifest(job_id))
    output = open_output(out)
    for msg in job.messages(job_id):
        output.write_part(msg.index, [{"id": d["id"], "label": "POSITIVE", "score": 0.9} for d in msg.docs])
        store.mark_done(job_id, msg.index, len(msg.docs), 0)
    store.set_total(job_id, 2)

    with monkeypatch.context() as patch:
        if where == "write":
            patch.setattr(RecordWriter, "write", full_disk)
        else:
            patch.setattr(records_module.os, "fsync", full_disk)
        with pytest.raises(StorageError, match="No space left on device"):
            finalize(store, job_id)
    assert not out.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.jsonl.parts"]  # no temporary left
    assert output.done_parts() == {0, 1}
    status = store.status(job_id)
    assert status is not None and status.state is JobState.RUNNING

    assert finalize(store, job_id)
    assert [r["id"] for r in read_records(out)] == [r["id"] for r in rows]
    assert not (tmp_path / "out" / "result.jsonl.parts").exists()
