"""Redis URLs, plain or through Sentinel: one parser for the broker, the job store and the results.

`redis+sentinel://[user:password@]host1:26379,host2:26379/MASTER_NAME[/DB]` (`rediss+sentinel://`
for TLS) names the sentinels that watch a primary and its replicas. Celery's broker gets it as
kombu's Sentinel transport (`sentinel://` URLs joined by `;`, `master_name` in the transport
options), the job store as redis-py's `Sentinel(...).master_for(...)`. Both ask the sentinels
where the primary is on every new connection, so a promoted replica is found by itself.

The user and password are those of the Redis servers; sentinels that want a password of their
own take `?sentinel_password=...`. TLS options (`ssl_cert_reqs`, `ssl_ca_certs`, ...) go in the
query string, as for `rediss://`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_SENTINEL_PORT = 26379
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


@dataclass(frozen=True)
class SentinelURL:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    sentinel_password: str | None = None
    #: TLS options from the query string (ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile).
    ssl_options: dict[str, Any] = field(default_factory=dict)

    def sentinel_kwargs(self) -> dict[str, Any]:
        """What redis-py needs to talk to the sentinels themselves."""
        kwargs: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5}
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        if self.tls:
            kwargs.update(ssl=True, **self.ssl_options)
        return kwargs


def is_sentinel(url: str) -> bool:
    """Whether `url` names its Redis through Sentinel."""
    return url.split("://", 1)[0].lower() in SCHEMES


def parse(url: str) -> SentinelURL:
    """The parts of a `redis+sentinel://` URL; ValueError, saying what is wrong, if malformed."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SCHEMES:
        raise ValueError(f"not a Sentinel URL (redis+sentinel://...): {redact(url)}")
    parts = urlsplit("x://" + rest)
    auth, _, hosts = parts.netloc.rpartition("@")
    username, password = None, None
    if auth:
        user, _, secret = auth.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = tuple(_host_port(h, url) for h in hosts.split(",") if h)
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path or len(path) > 2:
        raise ValueError(
            f"Sentinel URL {redact(url)}: write redis+sentinel://host1:26379,host2:26379/MASTER_NAME[/DB]"
        )
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"Sentinel URL {redact(url)}: the database {path[1]!r} is not a number")
    query = dict(parse_qsl(parts.query))
    tls = SCHEMES[scheme.lower()]
    ssl_options: dict[str, Any] = {k: v for k, v in query.items() if k.startswith("ssl_")}
    if tls:
        reqs = str(ssl_options.get("ssl_cert_reqs", "required")).lower().removeprefix("cert_")
        ssl_options["ssl_cert_reqs"] = _CERT_REQS.get(reqs, ssl.CERT_REQUIRED)
    return SentinelURL(
        sentinels=sentinels,
        master=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=username,
        password=password,
        tls=tls,
        sentinel_password=query.get("sentinel_password"),
        ssl_options=ssl_options if tls else {},
    )


def _host_port(text: str, url: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if text.rpartition(":")[2].isdigit() else (text, "", "")
    if not host:
        raise ValueError(f"Sentinel URL {redact(url)}: {text!r} is not host:port")
    return host.strip("[]"), int(port) if port else DEFAULT_SENTINEL_PORT


def celery_broker(url: str) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The broker URL, extra transport options and `broker_use_ssl` Celery needs for `url`.

    A plain `redis://` or `rediss://` URL passes through unchanged.
    """
    if not is_sentinel(url):
        return url, {}, None
    s = parse(url)
    auth = ""
    if s.password or s.username:
        auth = f"{quote(s.username or '', safe='')}:{quote(s.password or '', safe='')}@"
    # kombu takes the first URL's credentials and database, the others' addresses.
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{s.db}" for host, port in s.sentinels)
    options: dict[str, Any] = {"master_name": s.master, "sentinel_kwargs": s.sentinel_kwargs()}
    return broker, options, (dict(s.ssl_options) if s.tls else None)


def client(url: str, **kwargs: Any) -> Any:
    """A redis-py client on `url`'s Redis; for a Sentinel URL, on whichever server is primary now."""
    import redis
    from redis.sentinel import Sentinel

    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    s = parse(url)
    server = {"db": s.db, "username": s.username, "password": s.password, **kwargs}
    if s.tls:
        server.update(ssl=True, **s.ssl_options)
    sentinel = Sentinel(list(s.sentinels), sentinel_kwargs=s.sentinel_kwargs(), **server)
    return sentinel.master_for(s.master, redis_class=redis.Redis, **server)


def redact(url: str) -> str:
    """The URL with its passwords replaced by `***`, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    auth, at, hosts = netloc.rpartition("@")
    body = rest
    if at and ":" in auth:
        body = f"{auth.split(':', 1)[0]}:***@{hosts}{tail}"
    head, q, query = body.partition("?")
    if q:
        pairs = [p.split("=", 1) for p in query.split("&")]
        hidden = [[p[0], "***"] if p[0].endswith("password") and len(p) == 2 else p for p in pairs]
        query = "&".join("=".join(p) for p in hidden)
    return f"{scheme}://{head}{q}{query}"
