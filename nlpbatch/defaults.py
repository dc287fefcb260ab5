"""nlpbatch's default values, in one place: settings, job options and Redis keys.

Environment variables (`NLPBATCH_*`, read by `nlpbatch.settings.Settings`) and command-line
flags override the ones that are settings.
"""

BROKER_URL = "redis://localhost:6379/0"
"""The Redis that serves as Celery broker and job store."""

HOME = "~/.cache/nlpbatch"
"""The folder of the model cache (`onnx/`) and of the job manifests (`jobs/`)."""

QUEUE = "nlpbatch"
"""The Celery queue the chunks are sent to and the workers read."""

VISIBILITY_TIMEOUT = 3600
"""Seconds Redis waits before handing an unacknowledged chunk to another worker."""

CHUNK_SIZE = 256
"""Documents per chunk, the unit a worker takes and a retry repeats."""

MAX_IN_FLIGHT = 64
"""Most chunks a producer leaves waiting in Redis at once, which bounds the broker's memory."""

GATE_DOCS = 256
"""The job's first documents the int8 accuracy gate compares with fp32."""

GATE_MAX_DOCS = 2048
"""The most documents the gate reads while its agreement's 95% interval holds the threshold."""

PRODUCER_REDIS_PATIENCE = 300.0
"""Seconds a producer (`submit`, `wait`, `resume`) keeps trying while Redis is unreachable."""

WORKER_REDIS_PATIENCE = 120.0
"""Seconds a worker holds a chunk while Redis is unreachable, before the chunk is retried later."""

SHUTDOWN_TIMEOUT = 20.0
"""Seconds after SIGTERM a worker finishes its chunks before returning them to the queue."""

POOL = "prefork"
"""The Celery pool of a worker; `solo` runs a single-process worker in the worker's own process."""

LOG_FORMAT = "text"
"""How logs are written: `text` or `json` (one object per line)."""

JOB_KEY_PREFIX = "nlpbatch:job:"
"""The prefix of every Redis key that holds a job's state or results."""

FINISHED_JOB_TTL = 7 * 24 * 3600
"""Seconds a finished job's state stays in Redis, so `status` still answers the next morning."""

RESULTS_TTL = 24 * 3600
"""Seconds the results of a job with output `redis://` stay in Redis unless `?ttl=` says otherwise."""

DRY_RUN_SAMPLE = 200
"""Documents whose tokens `--dry-run` counts, to estimate the tokens of the whole input."""

DRY_RUN_TOKENS_PER_SECOND = 10_000
"""The speed `--dry-run` assumes to turn tokens into time: a rough figure for a base-size
encoder on a few CPU cores. Measure a real one with `--limit`."""
SCHEDULE_TIMEOUT = 6 * 3600
"""Seconds a scheduled run waits for its job when the entry has no `timeout` and has never finished."""

SCHEDULE_TIMEOUT_FACTOR = 4
"""Without an entry `timeout`, a scheduled run waits this many times its last finished run's time."""

SCHEDULE_TIMEOUT_FLOOR = 1800
"""The shortest wait that `SCHEDULE_TIMEOUT_FACTOR` gives: a fast last run must not doom a slower one."""
