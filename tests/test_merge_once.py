"""The merge runs once, holds its lock for as long as it runs, and streams part by part."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from nlpbatch import jobs
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.outputs import Output, open_output
from nlpbatch.outputs.records import RecordWriter, read_records
from nlpbatch.settings import Settings
from nlpbatch.tasks import TaskSpec, get_task
from producer.client import wait_job

CHUNKS = 12


def finished_job(store: JobStore, job_id: str, out: Path, chunks: int = CHUNKS, size: int = 5) -> None:
    """A job whose every chunk is written and counted, waiting for its merge."""
    manifest = {"job_id": job_id, "task": "sentiment", "model": "m", "output": str(out), "inputs": []}
    store.create(job_id, manifest)
    output = open_output(out)
    for index in range(chunks):
        records = [{"id": f"{index}-{n}", "label": "POSITIVE", "score": 0.5} for n in range(size)]
        output.write_part(index, records)
        store.mark_done(job_id, index, size, 0)
    store.set_total(job_id, chunks)


def test_a_merge_slower_than_its_lock_runs_once_while_wait_waits_for_it(
    broker_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JobStore.from_url(broker_url)
    out = tmp_path / "out.parquet"
    finished_job(store, "slow", out)
    monkeypatch.setattr(jobs, "LOCK_TTL", 2)
    writes: list[int] = []
    closes: list[int] = []
    merging = threading.Event()
    real_write, real_close = RecordWriter.write, RecordWriter.close

    def slow_write(self: RecordWriter, records: object) -> None:
        merging.set()
        writes.append(1)
        time.sleep(0.4)  # twelve parts: about 5 s, well past the 2 s lock
        real_write(self, records)  # type: ignore[arg-type]

    def counted_close(self: RecordWriter) -> Path | str:
        closes.append(1)
        return real_close(self)

    monkeypatch.setattr(RecordWriter, "write", slow_write)
    monkeypatch.setattr(RecordWriter, "close", counted_close)

    results: dict[str, object] = {}
    worker = threading.Thread(target=lambda: results.update(worker=jobs.finalize(store, "slow")))
    worker.start()
    assert merging.wait(10)
    time.sleep(2.5)  # the lock would have expired by now without being renewed
    assert store.r.ttl("nlpbatch:job:slow:finalize") > 0
    waited = wait_job(dataclass_replace(settings, broker_url), "slow", timeout=60, poll=0.1)
    results["waited_state"] = waited.state
    results["waited_at"] = len(writes)
    worker.join(30)

    assert results["worker"] is True
    assert results["waited_state"] is JobState.DONE
    assert results["waited_at"] == CHUNKS  # `wait` returned only once the merge was over
    assert len(writes) == CHUNKS and len(closes) == 1  # one merge, one rename
    ids = [r["id"] for r in read_records(out)]
    assert ids == [f"{i}-{n}" for i in range(CHUNKS) for n in range(5)]


def dataclass_replace(settings: Settings, broker_url: str) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, broker_url=broker_url)


def test_a_second_finalize_waits_for_the_running_merge_instead_of_merging_too(
    broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JobStore.from_url(broker_url)
    out = tmp_path / "out.jsonl"
    finished_job(store, "twice", out, chunks=4)
    monkeypatch.setattr(jobs, "LOCK_TTL", 1)
    real_write = RecordWriter.write
    writes: list[int] = []

    def slow_write(self: RecordWriter, records: object) -> None:
        writes.append(1)
        time.sleep(0.6)
        real_write(self, records)  # type: ignore[arg-type]

    monkeypatch.setattr(RecordWriter, "write", slow_write)
    first = threading.Thread(target=jobs.finalize, args=(store, "twice"))
    first.start()
    while not writes:
        time.sleep(0.01)
    assert jobs.finalize(store, "twice", wait=30) is False  # it did not merge ...
    assert len(writes) == 4  # ... and came back only once the merge was over
    status = store.status("twice")
    assert status is not None and status.state is JobState.DONE
    first.join(10)
    assert len(writes) == 4


def merge_peaks(output: Output, spec: TaskSpec, chunks: int) -> tuple[int, int]:
    """The merge's peak bytes on the Python heap (tracemalloc) and in pyarrow's memory pool.

    tracemalloc sees no Arrow buffer, so the merge runs with a pool of its own as pyarrow's
    default: one that counts its own allocations (and their peak) and hands them to the usual one.
    """
    import pyarrow as pa

    before = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(before)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        output.merge(spec, chunks)
        heap = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(before)
    return heap, pool.max_memory()


def measured_merges(folder: Path) -> dict[int, tuple[int, int]]:
    """Merges of 1, 10 and 80 parts of 400 records: their peaks by number of parts.

    The first merge imports what merges need; it is not compared."""
    spec = get_task("sentiment")
    peaks = {}
    for chunks in (1, 10, 80):
        out = folder / f"out{chunks}.parquet"
        output = open_output(out)
        for index in range(chunks):
            rows = [{"id": f"{index}-{n}", "label": "NEGATIVE", "score": 0.1} for n in range(400)]
            output.write_part(index, rows)
        peaks[chunks] = merge_peaks(output, spec, chunks)
        assert sum(1 for _ in read_records(out)) == chunks * 400
    return peaks


def test_the_merge_reads_one_part_at_a_time_with_memory_that_does_not_grow_with_the_output(
    tmp_path: Path,
) -> None:
    # In a process of its own: tracemalloc counts every thread's allocations, and threads an
    # earlier test left running (a lock renewal, a client's pool) would be counted too.
    code = "import json, sys; from pathlib import Path; from tests.test_merge_once import measured_merges; "
    code += "print(json.dumps(measured_merges(Path(sys.argv[1]))))"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    peaks = {int(k): v for k, v in json.loads(done.stdout.splitlines()[-1]).items()}
    (heap10, arrow10), (heap80, arrow80) = peaks[10], peaks[80]
    # Eight times the output, about the same peaks: nothing holds the whole of it, as Python
    # records or as Arrow tables (the 80-chunk output's columns alone are about 1 MB).
    assert arrow10 > 0, "no Arrow allocation was counted"
    assert heap80 < 1.5 * heap10, peaks
    assert arrow80 < 1.5 * arrow10, peaks
