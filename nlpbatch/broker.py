"""The Celery application: JSON-only messages and settings suited to long model tasks.

The producer uses it to send chunks by task name, without importing any worker code; the
worker registers the task bodies on the same app (see `worker.tasks`).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from celery import Celery

from nlpbatch import redisurl
from nlpbatch.retry import PUBLISH_RETRY_POLICY
from nlpbatch.settings import Settings

PROCESS_CHUNK = "nlpbatch.process_chunk"


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to the settings' broker, with nlpbatch's safety settings."""
    broker, sentinel_options, sentinel_ssl = redisurl.celery_broker(settings.broker_url)
    app = Celery("nlpbatch", broker=broker, set_as_current=False)
    transport = {**transport_options(settings), **sentinel_options}
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_create_missing_queues=True,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=settings.visibility_timeout,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # A chunk sent (or a retry scheduled) while Redis restarts waits for it, up to a minute.
        task_publish_retry=True,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
    )
    if urlsplit(settings.broker_url).scheme == "rediss" and "ssl_cert_reqs" not in settings.broker_url:
        # Celery refuses a rediss:// broker without a certificate policy; verify by default.
        app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if sentinel_ssl is not None:  # rediss+sentinel://: kombu takes TLS for the servers from here
        app.conf.broker_use_ssl = sentinel_ssl
    return app


def transport_options(settings: Settings) -> dict[str, Any]:
    """kombu's Redis transport options: the visibility timeout and how often it is enforced.

    Celery reads the visibility timeout under several names across versions and components
    (kombu's transport, the result backend, the worker's unacked restore), so it is set
    under each. kombu looks for expired unacknowledged chunks every `unacked_restore_interval`
    seconds, and by default only on every tenth look; checking about ten times per timeout
    keeps the redelivery delay close to the timeout itself.
    """
    timeout = settings.visibility_timeout
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1, min(60, timeout // 10)),
        "unacked_restore_throttle": 1,
    }
