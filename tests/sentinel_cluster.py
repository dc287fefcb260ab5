"""A private Redis primary, one replica and three sentinels on free ports, for failover tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.helpers import RedisServer, free_port, redis_server_binary

MASTER = "nlpbatch-primary"


class Server(RedisServer):
    """A redis-server with extra command-line options."""

    def __init__(self, folder: Path, *extra: str) -> None:
        super().__init__(folder)
        self.extra = list(extra)

    def args(self) -> list[str]:
        return [*super().args(), *self.extra]


#: The ACL user the replica replicates as: turned off, it cuts the replica from the primary's writes.
REPLICATION_USER, REPLICATION_PASSWORD = "replication", "replication-secret"


class SentinelCluster:
    """Primary, replica and three sentinels with short timeouts: a dead primary is replaced in seconds."""

    def __init__(self, folder: Path, *, down_after_ms: int = 1000, failover_timeout_ms: int = 5000) -> None:
        self.folder = folder
        rights = ["on", f">{REPLICATION_PASSWORD}", "+psync", "+replconf", "+ping"]
        self.primary = Server(folder / "primary", "--user", REPLICATION_USER, *rights)
        self.replica: Server | None = None
        self.sentinel_ports: list[int] = []
        self.sentinels: list[subprocess.Popen[bytes]] = []
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def start(self) -> SentinelCluster:
        self.primary.start()
        self.replica = Server(
            self.folder / "replica", "--replicaof", "127.0.0.1", str(self.primary.port),
            "--masteruser", REPLICATION_USER, "--masterauth", REPLICATION_PASSWORD,
        ).start()  # fmt: skip
        link = redis.Redis(port=self.replica.port)
        wait(lambda: link.info("replication").get("master_link_status") == "up", "replica in sync")
        for n in range(3):
            self.sentinels.append(self._start_sentinel(n))
        sentinel = redis.Redis(port=self.sentinel_ports[0])

        def ready() -> bool:
            try:
                info = sentinel.sentinel_master(MASTER)
            except redis.RedisError:
                return False
            return int(info.get("num-other-sentinels", 0)) == 2 and int(info.get("num-slaves", 0)) == 1

        wait(ready, "sentinels that know each other and the replica", timeout=60)
        return self

    def _start_sentinel(self, n: int) -> subprocess.Popen[bytes]:
        folder = self.folder / f"sentinel{n}"
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = folder / "sentinel.conf"  # sentinels rewrite their config: one file each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}\n"
        )
        log = (folder / "sentinel.log").open("wb")
        proc = subprocess.Popen(
            [redis_server_binary(), str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )
        self.sentinel_ports.append(port)
        wait(lambda: _answers(port), f"sentinel on port {port}")
        return proc

    def primary_port(self) -> int:
        """The port of the server the sentinels call primary now."""
        _, port = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def cut_replication(self) -> None:
        """From now on the replica gets none of the primary's writes, as when the primary's machine
        dies with them still unsent: its replication user is turned off and its link dropped.

        (Stopping the replica would not do: the kernel keeps what the primary sent in the socket
        buffers, and the replica reads it all once it runs again.)
        """
        primary = redis.Redis(port=self.primary.port)
        primary.acl_setuser(REPLICATION_USER, enabled=False, reset_passwords=False)
        primary.client_kill_filter(_type="replica")

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
        for server in (self.primary, self.replica):
            if server is not None:
                server.stop()


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def wait(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout} s")
        time.sleep(0.1)
