"""The exceptions nlpbatch raises, in one tree.

NlpbatchError
├── PermanentError            never retried
│   ├── JobError              a job that cannot start: the CLI exits with code 2
│   │   ├── UnknownTask
│   │   ├── UnknownModel
│   │   ├── InvalidParameter
│   │   ├── InputError        missing file, empty folder, unknown format, missing field
│   │   └── OutputError       output path that cannot be written
│   ├── DocumentError         one document: becomes an error record, the job goes on
│   └── MessageError          a chunk message that does not decode
└── TransientError            retried with backoff
    ├── ModelLoadError
    ├── BrokerError
    ├── StorageError          a chunk's results could not be written this time
    └── RuntimeFault          the model runtime failed in a way no one document explains
"""

from __future__ import annotations


class NlpbatchError(Exception):
    """Base class of every error nlpbatch raises on purpose."""


class PermanentError(NlpbatchError):
    """An error that the same attempt would hit again: never retried."""


class JobError(PermanentError):
    """A job-level problem found before any work starts (CLI exit code 2)."""


class UnknownTask(JobError):
    """The task name is neither a task nor an alias."""


class UnknownModel(JobError):
    """The model is not a local folder, a packaged model, nor a reachable hub id."""


class InvalidParameter(JobError):
    """A task parameter is unknown or has the wrong type or value."""


class InputError(JobError):
    """The corpus cannot be read: missing file, empty folder, unknown format, missing field."""


class OutputError(JobError):
    """The output path cannot be written or has an unknown extension."""


class DocumentError(PermanentError):
    """A single document cannot be processed; it becomes an error record."""


class MessageError(PermanentError):
    """A chunk message is malformed or of an unknown schema version."""


class TooManyErrors(PermanentError):
    """More documents failed than the job's `--max-errors` allows."""


class TransientError(NlpbatchError):
    """An error that may pass on its own (load failure, lost connection): retried."""


class ModelLoadError(TransientError):
    """The model could not be loaded or exported this time."""


class BrokerError(TransientError):
    """Redis or the Celery broker could not be reached."""


class StorageError(TransientError):
    """A chunk's results could not be written: a full disk, a mount or a bucket not reachable."""


class RuntimeFault(TransientError):
    """The model runtime failed whatever the input: out of memory, a session or device error."""


def error_info(exc: BaseException) -> dict[str, str]:
    """The `error` field of an error record for an exception."""
    return {"type": type(exc).__name__, "message": str(exc)[:2000]}
