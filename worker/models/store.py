"""ONNX exports cached under `NLPBATCH_HOME/onnx`, keyed by model content, task and precision.

Several workers may ask for the same export at once. One takes a file lock and exports into
a temporary folder beside the cache entry, then renames it into place; the others wait on
the lock and find the finished entry. A reader never sees a half-written export.

An entry is complete when its marker, `nlpbatch.json`, is there: encoder models export one
`model.onnx`, while seq2seq models export several graphs (encoder, decoder, decoder with past).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource

log = logging.getLogger("nlpbatch.models")
# Exports take a while on first use; `nlpbatch run` shows this logger's lines without -v.
notice = logging.getLogger("nlpbatch.models.export")

# Bump when the export recipe changes, so old cache entries are not reused.
EXPORT_RECIPE = "2"
MODEL_PRECISIONS = ("fp32", "int8")
MARKER = "nlpbatch.json"
#: The graphs of a finished entry: ONNX, OpenVINO IR, or a CTranslate2 model (worker.models.ct2_store).
GRAPHS = ("*.onnx", "*.xml", "ct2/model.bin")


def cache_key(source: ModelSource, export_task: str, precision: str, recipe: str = EXPORT_RECIPE) -> str:
    """The cache folder name: readable prefix, then a hash of what defines the export."""
    digest = hashlib.sha256(f"{source.content_key}|{export_task}|{precision}|{recipe}".encode()).hexdigest()[
        :16
    ]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.ref.strip("/").split("/")[-1])[:40]
    return f"{slug}-{export_task}-{precision}-{digest}"


def entry_path(
    cache: Path, source: ModelSource, export_task: str, precision: str, recipe: str = EXPORT_RECIPE
) -> Path:
    """Where this export is: a finished one of the same files under another folder's name, if any.

    The name starts with the model folder's name for people reading the cache, but the hash
    at its end covers all that defines the export: a copy of a model in another folder (or a
    snapshot of the same weights) reuses the export instead of making a second one.
    """
    final = cache / cache_key(source, export_task, precision, recipe)
    if not is_complete(final) and cache.is_dir():
        digest = final.name.rsplit("-", 1)[1]
        for other in sorted(cache.glob(f"*-{digest}")):
            if is_complete(other):
                return other
    return final


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the span of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def is_complete(entry: Path) -> bool:
    """Whether a cache entry holds a finished export: its marker is written last.

    Its graphs are ONNX (`*.onnx`), OpenVINO IR (`*.xml`) for `--backend openvino`, or a
    CTranslate2 model (`ct2/model.bin`) for `--backend ctranslate2`.
    """
    return (entry / MARKER).is_file() and any(True for pattern in GRAPHS for _ in entry.glob(pattern))


def cached_entry(final: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    """`final`, built on first use by `build(tmp)` (which returns the marker's content).

    One process builds under the entry's file lock into a temporary folder beside it, writes
    the marker last and renames the folder into place; the others wait and find it finished.
    """
    if is_complete(final):
        return final
    with file_lock(final.parent / f"{final.name}.lock"):
        if is_complete(final):  # built by another process while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            meta = build(tmp)
            (tmp / MARKER).write_text(json.dumps(meta, indent=2))
            follow_umask(tmp)
            if final.exists():  # an entry without its marker is torn: replace it
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def follow_umask(folder: Path) -> None:
    """Give `folder` and all in it the modes the umask gives (0755 and 0644 under 022).

    `tempfile.mkdtemp` makes the folder 0700, ONNX writes `model.onnx_data` 0600, and files
    copied from the model keep the model's own modes, whatever the umask: workers of other users
    sharing the cache (a group, under umask 002) could not read an export one of them made.
    """
    mask = current_umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def current_umask() -> int:
    """This process's umask, read without changing it where Linux shows it (threads may be creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def onnx_model_dir(source: ModelSource, export_task: str, precision: str, cache: Path) -> Path:
    """The folder holding the ONNX graph(s), tokenizer and config; exported on first use."""
    if precision not in MODEL_PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; valid: {', '.join(MODEL_PRECISIONS)}")
    final = entry_path(cache, source, export_task, precision)

    def build(tmp: Path) -> dict[str, Any]:
        if precision == "fp32":
            notice.info("exporting %s to ONNX (first use)", source.ref)
        else:
            base = onnx_model_dir(source, export_task, "fp32", cache)
            notice.info("quantizing %s to int8 (first use)", source.ref)
        started = time.perf_counter()
        with third_party_output_to_debug():
            if precision == "fp32":
                _export(source, export_task, tmp)
            else:
                _quantize(base, tmp)
            weights_beside_graph(tmp)
        seconds = round(time.perf_counter() - started, 2)
        notice.info(
            "exported %s for %s (%s) in %.1f s to %s", source.ref, export_task, precision, seconds, final
        )
        return {
            "ref": source.ref,
            "content_key": source.content_key,
            "export_task": export_task,
            "precision": precision,
            "seconds": seconds,
        }

    return cached_entry(final, build)


class _ToDebug(logging.Handler):
    """Re-log a library's records as nlpbatch debug records."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())


@contextmanager
def third_party_output_to_debug() -> Iterator[None]:
    """Send the exporters' warnings to the debug log instead of the terminal.

    Exporting warns of things a user cannot act on ("`torch_dtype` is deprecated", torch's
    TracerWarning, "Weight deduplication check ... requires accelerate"). transformers and
    optimum log through handlers of their own that do not propagate, so those are swapped
    for the span of the export; Python warnings are caught and logged one by one.
    """
    import warnings

    loggers = [logging.getLogger(name) for name in ("transformers", "optimum", "torch")]
    saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers[:] = [_ToDebug()]
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for lg, (handlers, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:] = handlers
            lg.propagate = propagate
    for warning in caught:
        log.debug("%s: %s", warning.category.__name__, warning.message)


def _export(source: ModelSource, export_task: str, out: Path) -> None:
    """Export in a child process (worker.models.export): only the export needs PyTorch."""
    failure = _export_in_child(source, export_task, out)
    if failure is not None:
        raise ModelLoadError(f"ONNX export of {source.ref} for {export_task} failed: {failure}")
    if not any(out.glob("*.onnx")):
        raise ModelLoadError(f"ONNX export of {source.ref} produced no ONNX graph")


def _export_in_child(source: ModelSource, export_task: str, out: Path) -> str | None:
    """Run worker.models.export in a fresh interpreter; why it failed (its last line), or None."""
    cmd = [sys.executable, "-m", "worker.models.export", str(source.path), export_task, str(out)]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return lines[-1]
    log.debug("export of %s for %s said: %s", source.ref, export_task, done.stderr.strip())
    return None


def _quantize(base: Path, out: Path) -> None:
    """Dynamic int8, per channel: per-tensor scales cost embedding models most of their accuracy."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for item in base.iterdir():
        if item.suffix not in (".onnx", ".onnx_data") and item.is_file() and item.name != MARKER:
            shutil.copy2(item, out / item.name)
    for graph in sorted(base.glob("*.onnx")):  # seq2seq exports hold several graphs
        if graph.name == "decoder_model_merged.onnx" and (base / "decoder_with_past_model.onnx").is_file():
            # Its weights sit behind an If node, which dynamic quantization leaves in fp32;
            # without it, optimum loads the decoder and decoder-with-past pair, which quantize.
            continue
        quantize_dynamic(str(graph), str(out / graph.name), per_channel=True, weight_type=QuantType.QInt8)


def weights_beside_graph(folder: Path) -> None:
    """Move an encoder graph's weights out of `model.onnx` into `model.onnx_data` beside it.

    ONNX Runtime maps external weights from the file instead of parsing them out of the graph's
    protobuf and copying them: for all-MiniLM-L6-v2 in fp32 that takes a process's peak memory
    from 225 to 160 MiB, and the worker processes of one server share those pages. Seq2seq
    exports (several graphs loaded through optimum) are left as exported.
    """
    import onnx

    graph = folder / "model.onnx"
    if not graph.is_file() or (folder / "model.onnx_data").exists():
        return
    model = onnx.load(str(graph))
    onnx.save_model(
        model,
        str(graph),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=1024,
    )
