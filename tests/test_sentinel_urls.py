"""`redis+sentinel://` URLs: one form, read the same by the broker, the job store and the logs."""

from __future__ import annotations

import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpbatch import redisurl
from nlpbatch.broker import make_celery
from nlpbatch.jobstore import JobStore
from nlpbatch.settings import Settings, redact_url
from tests.sentinel_cluster import MASTER, SentinelCluster, wait

URL = "redis+sentinel://app:s3cret@s1:26379,s2:26380,s3/mymaster/2"


def test_a_sentinel_url_names_every_sentinel_the_master_and_the_database() -> None:
    s = redisurl.parse(URL)
    assert s.sentinels == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (s.master, s.db, s.username, s.password, s.tls) == ("mymaster", 2, "app", "s3cret", False)


def test_a_sentinel_url_without_a_master_name_is_refused_with_the_form_to_write() -> None:
    with pytest.raises(ValueError, match="MASTER_NAME"):
        redisurl.parse("redis+sentinel://s1:26379,s2:26379")


def test_celery_gets_one_sentinel_url_per_sentinel_and_the_master_name_as_a_transport_option() -> None:
    app = make_celery(Settings(broker_url=URL))
    assert app.conf.broker_url == (
        "sentinel://app:s3cret@s1:26379/2;sentinel://app:s3cret@s2:26380/2;sentinel://app:s3cret@s3:26379/2"
    )
    assert app.conf.broker_transport_options["master_name"] == "mymaster"
    assert app.conf.broker_transport_options["visibility_timeout"] == 3600  # nlpbatch's own stay


def test_a_tls_sentinel_url_verifies_certificates_unless_told_otherwise() -> None:
    url = "rediss+sentinel://s1:26379/m?ssl_ca_certs=/etc/ca.pem"
    _, options, use_ssl = redisurl.celery_broker(url)
    assert use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/etc/ca.pem"}
    assert options["sentinel_kwargs"]["ssl"] is True


def test_passwords_in_a_sentinel_url_are_hidden_in_logs() -> None:
    shown = redact_url(URL + "?sentinel_password=other")
    assert "s3cret" not in shown and "other" not in shown
    assert shown == "redis+sentinel://app:***@s1:26379,s2:26380,s3/mymaster/2?sentinel_password=***"
    assert redact_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    c = SentinelCluster(tmp_path / "cluster").start()
    yield c
    c.stop()


def test_the_job_store_follows_sentinel_to_the_promoted_replica(cluster: SentinelCluster) -> None:
    store = JobStore.from_url(cluster.url)
    store.create("j1", {"output": "/tmp/x.jsonl"})
    assert cluster.replica is not None
    wait(lambda: cluster.replica is not None and _replica_has(cluster.replica.port), "the job on the replica")
    cluster.primary.stop(signal.SIGKILL)
    wait(lambda: cluster.primary_port() == cluster.replica.port, f"{MASTER} failed over", timeout=60)
    from nlpbatch.retry import patiently

    status = patiently(lambda: store.status("j1"), what="test", patience=60)
    assert status is not None and status.manifest == {"output": "/tmp/x.jsonl"}
    store.set_state("j1", status.state)  # writes go to the new primary


def _replica_has(port: int) -> bool:
    import redis

    return bool(redis.Redis(port=port).exists(JobStore.key("j1")))
