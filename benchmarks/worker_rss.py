"""Memory of a worker by model size: RSS of the parent and of one child after a job.

    .venv/bin/python benchmarks/worker_rss.py

For all-MiniLM-L6-v2 (22M parameters, packaged) and a DistilBERT-base from its default config
(66M parameters, random weights: the same size as distilbert-base-uncased), it exports the
model ahead of time, starts `nlpbatch worker --concurrency 1 --threads 1` on a private Redis,
runs one 256-document job through it, and prints the resident memory (current and peak) of
the worker's parent process and of its child, which holds the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import RedisServer, nlpbatch_cmd, start_worker, stop_process, wait_for_log, write_vocab  # noqa: E402


def distilbert_base(folder: Path) -> Path:
    """A DistilBERT-base sequence classifier from the default config, saved with a small vocabulary."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    vocab = write_vocab(folder)
    labels = {0: "NEGATIVE", 1: "POSITIVE"}
    config = DistilBertConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    DistilBertForSequenceClassification(config).eval().save_pretrained(folder)
    DistilBertTokenizerFast(str(vocab), model_max_length=512).save_pretrained(folder)
    return folder


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def measure(name: str, model: str, task: str, home: Path, work: Path) -> dict[str, object]:
    env = {**os.environ, "NLPBATCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    subprocess.run([*nlpbatch_cmd(), "models", "export", model, "-t", task], env=env, check=True)
    redis = RedisServer(work / f"redis-{name}").start()
    env["NLPBATCH_BROKER_URL"] = redis.url
    log = work / f"worker-{name}.log"
    worker = start_worker(env, log, concurrency=1, threads=1)
    try:
        wait_for_log(log, "ready.", timeout=120)
        corpus = work / "corpus.jsonl"
        texts = ["the product arrived late but the sound quality is very good and the price was fine"] * 256
        corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
        job = ["-t", task, "-m", model, "-o", str(work / f"{name}.jsonl"), "--chunk-size", "64", "--wait"]
        done = subprocess.run(
            [*nlpbatch_cmd(), "submit", str(corpus), *job],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        time.sleep(1)
        [child] = children(worker.pid)
        parent_rss, parent_peak = rss_kib(worker.pid)
        child_rss, child_peak = rss_kib(child)
    finally:
        stop_process(worker)
        redis.stop()
    return {
        "model": name,
        "parent_rss_mib": round(parent_rss / 1024),
        "child_rss_mib": round(child_rss / 1024),
        "child_peak_mib": round(child_peak / 1024),
        "parent_peak_mib": round(parent_peak / 1024),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "home"
        rows = [
            measure("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "embed", home, work),
            measure("DistilBERT-base", str(distilbert_base(work / "distilbert")), "sentiment", home, work),
        ]
    print("| model | parent RSS (MiB) | child RSS (MiB) | child peak (MiB) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parent_rss_mib']} | {r['child_rss_mib']} | {r['child_peak_mib']} |")


if __name__ == "__main__":
    main()
