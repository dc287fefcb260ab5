"""The tests' private redis-server survives a port taken between choosing it and binding it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from tests import helpers
from tests.helpers import RedisServer


def test_a_redis_server_whose_port_was_taken_meanwhile_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        taken = thief.getsockname()[1]
        ports = iter([taken])
        real = helpers.free_port
        monkeypatch.setattr(helpers, "free_port", lambda: next(ports, None) or real())
        server = RedisServer(tmp_path / "redis").start()
        try:
            assert server.port != taken
            info = redis.Redis.from_url(server.url).info("server")
            assert server.proc is not None and int(info["process_id"]) == server.proc.pid
        finally:
            server.stop()
