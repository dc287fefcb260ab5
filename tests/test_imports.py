"""Imports go one way: submitting a job never loads the model runtimes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from nlpbatch.jobstore import JobState, JobStore
from tests.conftest import write_jsonl

HEAVY = ["torch", "onnxruntime", "transformers"]

SUBMIT = textwrap.dedent(
    """
    import json, sys
    import producer.client, producer.job
    from nlpbatch import Client

    broker, home, corpus, model, output = sys.argv[1:]
    job = Client(broker, home=home).submit(corpus, task="sentiment", model=model, output=output)
    heavy = sorted(name for name in {heavy} if name in sys.modules)
    print(json.dumps({{"job_id": job.id, "heavy": heavy}}))
    """
).format(heavy=HEAVY)


def test_submitting_a_job_imports_neither_torch_nor_onnxruntime_nor_transformers(
    broker_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": i, "text": f"review {i}"} for i in range(5)])
    args = [broker_url, str(tmp_path / "home"), str(corpus), str(tiny_bert), str(tmp_path / "out.jsonl")]
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    # The job really was queued: Redis knows it and holds its one chunk for the workers.
    status = JobStore.from_url(broker_url).status(result["job_id"])
    assert status is not None and status.state is JobState.RUNNING and status.chunks_total == 1


def test_nlpbatch_help_lists_the_worker_side_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "producer", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    commands = done.stdout.split("Commands:")[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"worker", "models", "submit", "run", "resume", "cancel", "schedule", "results"} <= listed
