"""NNCF static int8 quantization of an ONNX encoder graph into OpenVINO IR, in a child process.

`import nncf` loads PyTorch, which nlpbatch keeps out of its CPU workers, so
worker.models.openvino_store runs this module as `python -m worker.models.openvino_quantize
ONNX OUT_XML EXPORT_TASK` (as the ONNX export runs in worker.models.export). NNCF's
SmoothQuant and fast bias correction run as its TRANSFORMER preset sets them: SmoothQuant
kept all-MiniLM-L6-v2's mean cosine to fp32 at 0.996 (lowest 0.992) on 64 benchmark-corpus
documents, against 0.993 (lowest 0.987) without it. Calibration uses
worker.models.calibration's fixed texts, so the same model gives the same int8 graph.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from worker.models.calibration import calibration_samples

#: Longest calibration input, in tokens (also capped by the tokenizer's own limit).
CALIBRATION_MAX_TOKENS = 512


def calibration_inputs(model: Any, tokenizer_dir: Path, export_task: str) -> list[dict[str, np.ndarray]]:
    """The calibration samples tokenized as the model's inputs, one sample per call."""
    from worker.models.hf import light

    tokenizer = light().AutoTokenizer.from_pretrained(str(tokenizer_dir), use_fast=True)
    names = [i.get_any_name() for i in model.inputs]
    limit = min(int(tokenizer.model_max_length), CALIBRATION_MAX_TOKENS)
    items = []
    for n, (text, pair) in enumerate(calibration_samples()):
        encoded = tokenizer(text, pair, truncation=True, max_length=limit, return_tensors="np")
        ids = encoded["input_ids"].astype(np.int64)
        if export_task == "fill-mask" and tokenizer.mask_token_id is not None and ids.shape[1] > 2:
            ids[0, 1 + n % (ids.shape[1] - 2)] = tokenizer.mask_token_id  # what fill-mask jobs hold
        feeds = {"input_ids": ids}
        for name in names:
            if name != "input_ids":
                value = encoded.get(name)
                feeds[name] = np.zeros_like(ids) if value is None else value.astype(np.int64)
        items.append({name: feeds[name] for name in names})
    return items


def quantize(model: Any, folder: Path, export_task: str) -> Any:
    """NNCF static int8 for a transformer, calibrated on worker.models.calibration's texts."""
    import nncf

    items = calibration_inputs(model, folder, export_task)
    return nncf.quantize(
        model,
        nncf.Dataset(items),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(items),
    )


def main(argv: list[str]) -> int:
    import openvino as ov

    onnx_path, out, export_task = Path(argv[0]), Path(argv[1]), argv[2]
    model = quantize(ov.Core().read_model(str(onnx_path)), onnx_path.parent, export_task)
    ov.save_model(model, str(out), compress_to_fp16=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
