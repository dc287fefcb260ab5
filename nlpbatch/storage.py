"""Where inputs and outputs live: local paths, or fsspec URLs (s3://, gs://, file://, memory://).

A plain path keeps to the local file system and its atomic rename. A URL goes through fsspec,
so workers on many servers can share one bucket. What "atomic" means there depends on the
store: on a file system that can rename (file://), a file is written under a temporary name
and moved into place; on an object store (s3://, gs://, ...) there is no rename, so the final
object is written once, whole, as the last step, and readers see either no object or all of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nlpbatch.errors import OutputError

# Stores with a rename that does not copy: a temporary name, then a move, is atomic there.
RENAMING_PROTOCOLS = frozenset({"file", "local"})


def is_url(target: str | Path) -> bool:
    """True for `scheme://...` targets, which go through fsspec."""
    return isinstance(target, str) and "://" in target and target.split("://", 1)[0].isidentifier()


def protocol(url: str) -> str:
    """The lower-cased scheme of a URL (`s3`, `file`, ...)."""
    return url.split("://", 1)[0].lower()


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system and the path inside it; OutputError if the protocol is unusable."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise OutputError(f"cannot open {url}: {exc}") from None
    return fs, path


def join(base: str | Path, name: str) -> str | Path:
    """`base/name`, for a local path or a URL."""
    if is_url(base):
        return str(base).rstrip("/") + "/" + name
    return Path(base) / name


def with_suffix_added(target: str | Path, suffix: str) -> str | Path:
    """`target` with `suffix` appended to its last name (`out.jsonl` -> `out.jsonl.parts`)."""
    if is_url(target):
        return str(target) + suffix
    path = Path(target)
    return path.with_name(path.name + suffix)


def name_of(target: str | Path) -> str:
    """The last name of a path or URL."""
    return str(target).rstrip("/").rsplit("/", 1)[-1]


def open_read(target: str | Path) -> IO[bytes]:
    """A binary reader on a local file or a URL."""
    if is_url(target):
        fs, path = filesystem(str(target))
        stream: IO[bytes] = fs.open(path, "rb")
        return stream
    return open(target, "rb")


def is_dir(target: str | Path) -> bool:
    """True for a local folder, or a URL naming a folder (a prefix, on object stores)."""
    if is_url(target):
        fs, path = filesystem(str(target))
        return bool(fs.isdir(path))
    return Path(target).is_dir()


def is_file(target: str | Path) -> bool:
    """True for a local file or a URL naming one object."""
    if is_url(target):
        fs, path = filesystem(str(target))
        return bool(fs.isfile(path))
    return Path(target).is_file()


def list_files(url: str) -> Iterator[tuple[str, str]]:
    """(URL, path relative to `url`) of every file under the folder `url`, or matching the glob."""
    fs, root = filesystem(url)
    scheme = protocol(url)
    found = fs.glob(root) if _has_magic(root) else fs.find(root)
    base = root.rstrip("/") + "/"
    for path in sorted(found):
        if not fs.isfile(path):
            continue
        rel = path[len(base) :] if path.startswith(base) else path.rsplit("/", 1)[-1]
        yield f"{scheme}://{path.lstrip('/') if scheme != 'file' else path}", rel


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write a whole file so that no reader ever sees it half-written."""
    if not is_url(target):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise
        return
    fs, key = filesystem(str(target))
    if protocol(str(target)) in RENAMING_PROTOCOLS:
        fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        tmp_key = _temporary_name(key)
        fs.pipe_file(tmp_key, data)
        fs.mv(tmp_key, key)
    else:
        fs.pipe_file(key, data)  # one PUT of the final object


def upload(local: Path, target: str) -> None:
    """Move a finished local file to `target` (a URL), atomically as the store allows."""
    fs, path = filesystem(target)
    if protocol(target) in RENAMING_PROTOCOLS:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = _temporary_name(path)
        fs.put_file(str(local), tmp)
        fs.mv(tmp, path)
    else:
        fs.put_file(str(local), path)


def remove_tree(target: str | Path) -> None:
    """Delete a folder and everything in it; a missing folder is fine."""
    if not is_url(target):
        import shutil

        shutil.rmtree(target, ignore_errors=True)
        return
    fs, path = filesystem(str(target))
    if fs.exists(path):
        fs.rm(path, recursive=True)


def check_writable(url: str) -> None:
    """OutputError if the URL's protocol has no fsspec implementation installed."""
    filesystem(url)


def _temporary_name(path: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
