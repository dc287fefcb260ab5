"""nlpbatch: batch NLP jobs over large corpora, embedded or across Celery workers.

This package holds the light pieces shared by the producer and the workers (errors, job
schema, task specs, settings, job state in Redis, outputs). It never imports torch or
onnxruntime, so submitting a job stays cheap.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`from nlpbatch import Client`, imported only when asked for (it brings in Celery)."""
    if name == "Client":
        from producer.api import Client

        return Client
    raise AttributeError(f"module 'nlpbatch' has no attribute {name!r}")
