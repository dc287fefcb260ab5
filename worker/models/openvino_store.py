"""OpenVINO IR entries in the export cache, made from nlpbatch's fp32 ONNX export.

`openvino-fp32` is that ONNX graph converted to OpenVINO IR once (`openvino_model.xml/.bin`):
reading IR skips the ONNX front end, which halves the start of a DistilBERT-base worker.
`openvino-int8` is NNCF's static post-training quantization of the same graph, calibrated
on worker.models.calibration's fixed texts. Both are cache entries of their own, beside the
ONNX ones, built under the same file lock into a temporary folder and renamed into place
(worker.models.store.cached_entry): a reader never sees a half-written entry, and `nlpbatch
models list` and `models rm` show and remove them like any export.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource
from worker.models.store import (
    EXPORT_RECIPE,
    MARKER,
    MODEL_PRECISIONS,
    cached_entry,
    entry_path,
    notice,
    onnx_model_dir,
    third_party_output_to_debug,
)

log = logging.getLogger("nlpbatch.models")

# Bump when the conversion or the quantization recipe changes.
OPENVINO_RECIPE = "1"
IR_NAME = "openvino_model.xml"


def openvino_model_dir(source: ModelSource, export_task: str, precision: str, cache: Path) -> Path:
    """The folder holding the OpenVINO IR, tokenizer and config; converted on first use."""
    if precision not in MODEL_PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; valid: {', '.join(MODEL_PRECISIONS)}")
    recipe = f"{EXPORT_RECIPE}.openvino{OPENVINO_RECIPE}"
    final = entry_path(cache, source, export_task, f"openvino-{precision}", recipe)

    def build(tmp: Path) -> dict[str, Any]:
        base = onnx_model_dir(source, export_task, "fp32", cache)
        started = time.perf_counter()
        if precision == "fp32":
            notice.info("converting %s to OpenVINO (first use)", source.ref)
        else:
            notice.info("quantizing %s to int8 with NNCF (first use)", source.ref)
        for item in base.iterdir():  # tokenizer and config
            if item.is_file() and item.suffix not in (".onnx", ".onnx_data") and item.name != MARKER:
                shutil.copy2(item, tmp / item.name)
        with third_party_output_to_debug():
            convert(base / "model.onnx", tmp / IR_NAME, export_task if precision == "int8" else None)
        seconds = round(time.perf_counter() - started, 2)
        notice.info("made %s for %s (openvino %s) in %.1f s", source.ref, export_task, precision, seconds)
        return {
            "ref": source.ref,
            "content_key": source.content_key,
            "export_task": export_task,
            "precision": f"openvino-{precision}",
            "seconds": seconds,
        }

    return cached_entry(final, build)


def convert(onnx_path: Path, out: Path, quantize_for: str | None) -> None:
    """Write `onnx_path` as OpenVINO IR at `out`; int8 (NNCF) when `quantize_for` names the task."""
    if quantize_for is not None:
        cmd = [sys.executable, "-m", "worker.models.openvino_quantize", str(onnx_path), str(out)]
        cmd.append(quantize_for)
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.is_file():
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            raise ModelLoadError(f"NNCF int8 quantization of {onnx_path.parent.name} failed: {lines[-1]}")
        log.debug("NNCF quantization of %s said: %s", onnx_path, done.stderr.strip())
        return
    import openvino as ov

    # Weights stay fp32: fp16 storage would change what `--precision fp32` computes.
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(out), compress_to_fp16=False)
