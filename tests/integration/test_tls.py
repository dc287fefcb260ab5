"""rediss://: a whole job over TLS with the server's certificate verified, and an untrusted one refused."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import free_port, redis_server_binary, start_worker, stop_process, wait_for_log
from tests.integration.jobs import assert_one_record_each, cli, job_env, make_corpus

pytestmark = pytest.mark.integration


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server that speaks TLS only, with a certificate signed by a private CA."""
    folder = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", "/CN=nlpbatch-test-ca", cwd=folder)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf", cwd=folder)  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem",
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={folder / 'ca.pem'}"
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and proc.poll() is None, "TLS redis-server did not start"
            time.sleep(0.1)
    try:
        yield port, folder / "ca.pem"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_job_runs_over_rediss_with_the_server_certificate_verified(
    tls_redis: tuple[int, Path], session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    env = job_env(url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 12)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        args = ["submit", str(tmp_path / "corpus.jsonl"), "-t", "sentiment", "-m", str(tiny_bert)]
        result = cli(env, *args, "-o", str(tmp_path / "out.jsonl"), "--chunk-size", "5", "--wait")
        assert result.returncode == 0, result.stdout + result.stderr
        assert_one_record_each(tmp_path / "out.jsonl", ids)
    finally:
        stop_process(worker)


def test_a_rediss_server_whose_certificate_is_not_trusted_is_refused(
    tls_redis: tuple[int, Path], session_home: Path
) -> None:
    port, _ = tls_redis
    env = job_env(f"rediss://:pw@127.0.0.1:{port}/0", session_home)  # verified against the system CAs
    result = cli(env, "status", "somejob")
    assert result.returncode == 1
    assert "cannot reach Redis at rediss://:***@127.0.0.1" in result.stderr
    assert "certificate verify failed" in result.stderr.lower()
