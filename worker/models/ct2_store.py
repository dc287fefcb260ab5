"""CTranslate2 models converted once into the export cache, and loaded for generation.

A checkpoint is converted to a float32 CTranslate2 model in a child process
(worker.models.ct2_convert) under the same file lock, key scheme and marker as the ONNX
exports (worker.models.store), with its tokenizer and config files copied beside the
model's `ct2/` folder. Both precisions load that one entry: `--precision int8` asks
CTranslate2 for compute type int8, which quantizes the weights as they load.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nlpbatch.errors import ModelLoadError
from nlpbatch.modelref import ModelSource
from worker.models.store import MARKER, MODEL_PRECISIONS, cached_entry, entry_path, notice

# Bump when the conversion recipe changes, so old cache entries are not reused.
CT2_RECIPE = "ct2-1"
#: CTranslate2's compute type for each precision nlpbatch takes. This CPU build offers float32,
#: int8 and int8_float32 (the same int8 GEMMs on CPU); no bfloat16.
COMPUTE_TYPES = {"fp32": "float32", "int8": "int8"}
#: The converted model's folder inside the entry: its config.json is CTranslate2's, and the
#: entry's own is the transformers config, beside the tokenizer.
CT2_FOLDER = "ct2"
_WEIGHTS = (".bin", ".safetensors", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".onnx_data")


def ct2_model_dir(source: ModelSource, export_task: str, cache: Path) -> Path:
    """The folder of the converted model, its tokenizer and its transformers config; built on first use."""
    final = entry_path(cache, source, export_task, "ct2", recipe=CT2_RECIPE)

    def build(tmp: Path) -> dict[str, Any]:
        notice.info("converting %s to CTranslate2 (first use)", source.ref)
        started = time.perf_counter()
        out = tmp / CT2_FOLDER
        cmd = [sys.executable, "-m", "worker.models.ct2_convert", str(source.path), str(out)]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            raise ModelLoadError(f"CTranslate2 conversion of {source.ref} failed: {lines[-1]}")
        for item in source.path.iterdir():  # tokenizer, transformers and generation configs
            if item.is_file() and not item.name.endswith(_WEIGHTS) and item.name != MARKER:
                shutil.copy2(item, tmp / item.name)
        seconds = round(time.perf_counter() - started, 2)
        notice.info("converted %s in %.1f s to %s", source.ref, seconds, final)
        return {"ref": source.ref, "content_key": source.content_key, "export_task": export_task,
                "engine": "ctranslate2", "seconds": seconds}  # fmt: skip

    return cached_entry(final, build)


def check_precision(precision: str) -> str:
    """The compute type of `precision`; ModelLoadError for one nlpbatch does not know."""
    if precision not in MODEL_PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; valid: {', '.join(MODEL_PRECISIONS)}")
    return COMPUTE_TYPES[precision]
