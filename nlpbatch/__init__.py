"""nlpbatch: batch NLP jobs over large corpora, embedded or across Celery workers.

This package holds the light pieces shared by the producer and the workers (errors, job
schema, task specs, settings, job state in Redis, output sinks). It never imports torch or
onnxruntime, so submitting a job stays cheap.
"""

__version__ = "0.1.0"
