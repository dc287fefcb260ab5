"""The Celery application: JSON-only messages and settings suited to long model tasks.

The producer uses it to send chunks by task name, without importing any worker code; the
worker registers the task bodies on the same app (see `worker.tasks`).
"""

from __future__ import annotations

from celery import Celery

from nlpbatch.settings import Settings

PROCESS_CHUNK = "nlpbatch.process_chunk"


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to the settings' broker, with nlpbatch's safety settings."""
    app = Celery("nlpbatch", broker=settings.broker_url, set_as_current=False)
    transport = {
        # Celery reads the visibility timeout under several names across versions and
        # components (kombu's transport, the result backend, the worker's unacked restore).
        "visibility_timeout": settings.visibility_timeout,
    }
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
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
    )
    return app
