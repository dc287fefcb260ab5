"""Engine anchors: other CPU engines on nlpbatch's own batches, `python -m benchmarks.anchors KIND ...`.

Each anchor runs DistilBERT-base sequence classification in its own process over the same
documents `nlpbatch run` reads, cut into the same chunks and the same length-sorted batches
(`worker.pipelines.batching.plan_batches` with `run`'s defaults), so what differs is the
engine. The batches are tokenized and padded before the clock starts: the time is model
time only. It prints one JSON line: documents, seconds, tokens, padded tokens, peak RSS
and the logits of every document (to compare an int8 engine with fp32).

Kinds: `openvino` (an ONNX file or an OpenVINO IR), `ctranslate2`, `torch`; and the two
one-off preparations, `ov-quantize` (NNCF static quantization of the fp32 ONNX export, with
SmoothQuant) and `ct2-convert` (CTranslate2's transformers converter, int8).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.variants import read_texts
from nlpbatch import defaults
from nlpbatch.report import peak_rss_mb
from nlpbatch.tasks.params import COMMON_PARAMS
from worker.pipelines.batching import CPU_MAX_BATCH_TOKENS, WINDOW_BATCHES, plan_batches

#: One model call: token ids per document (unpadded) and where those documents sit in the input.
Batch = tuple[list[list[int]], list[int]]


def run_batches(tokenizer_dir: Path, texts: list[str], max_tokens: int = CPU_MAX_BATCH_TOKENS) -> list[Batch]:
    """The batches `nlpbatch run` forms: chunks of CHUNK_SIZE, each sorted and packed by length."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    limit = min(tok.model_max_length, 512)
    batch_size = int(COMMON_PARAMS["batch_size"].default)
    out: list[Batch] = []
    for start in range(0, len(texts), defaults.CHUNK_SIZE):
        chunk = texts[start : start + defaults.CHUNK_SIZE]
        ids = tok(chunk, truncation=True, max_length=limit)["input_ids"]
        for batch in plan_batches(
            [len(x) for x in ids],
            batch_size=batch_size,
            max_tokens=max_tokens,
            window=WINDOW_BATCHES * batch_size,
        ):
            out.append(([ids[i] for i in batch], [start + i for i in batch]))
    return out


def padded(ids: list[list[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask, right-padded to the longest row, as nlpbatch pads."""
    width = max(len(x) for x in ids)
    out = np.full((len(ids), width), pad, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        out[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return out, mask


def timed(batches: list[Batch], prepared: list[Any], call: Callable[[Any], np.ndarray]) -> dict[str, Any]:
    """Run `call` on every prepared batch after one warm-up call; logits in input order."""
    call(prepared[0])
    rows: list[list[float]] = [[] for _ in range(sum(len(ids) for ids, _ in batches))]
    started = time.perf_counter()
    logits = [call(p) for p in prepared]
    seconds = time.perf_counter() - started
    for (_, where), out in zip(batches, logits, strict=True):
        for row, i in enumerate(where):
            rows[i] = [round(float(v), 5) for v in out[row]]
    return {
        "docs": len(rows),
        "seconds": seconds,
        "tokens": sum(len(x) for ids, _ in batches for x in ids),
        "padded_tokens": sum(len(ids) * max(len(x) for x in ids) for ids, _ in batches),
        "peak_rss_mb": peak_rss_mb(),
        "logits": rows,
    }


def openvino_run(args: argparse.Namespace, batches: list[Batch]) -> dict[str, Any]:
    """OpenVINO's CPU plugin; f32 inference precision, so a bf16-capable CPU still computes fp32."""
    import openvino as ov

    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": args.threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = core.compile_model(core.read_model(args.model), "CPU", config)
    names = {port.get_any_name() for port in compiled.inputs}
    request = compiled.create_infer_request()

    def feeds(ids: list[list[int]]) -> dict[str, np.ndarray]:
        input_ids, mask = padded(ids)
        both = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
        return {k: v for k, v in both.items() if k in names}

    return timed(batches, [feeds(ids) for ids, _ in batches], lambda f: request.infer(f)[0].copy())


def torch_run(args: argparse.Namespace, batches: list[Batch]) -> dict[str, Any]:
    """The transformers model on PyTorch, under torch.inference_mode."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()

    def call(feeds: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
        with torch.inference_mode():
            return model(input_ids=feeds[0], attention_mask=feeds[1]).logits.numpy()

    prepared = [tuple(torch.from_numpy(a) for a in padded(ids)) for ids, _ in batches]
    return timed(batches, prepared, call)


def ctranslate2_run(args: argparse.Namespace, batches: list[Batch]) -> dict[str, Any]:
    """CTranslate2's Encoder, int8; DistilBERT's classification head in numpy.

    The converter maps DistilBERT to its encoder only (`DistilBertModel`), so the head that
    DistilBertForSequenceClassification puts on the first token (pre_classifier, ReLU,
    classifier: 0.6 M multiply-adds per document, about 0.01% of the model) is applied here,
    with the weights read from the transformers folder.
    """
    import ctranslate2
    from safetensors.numpy import load_file

    weights = load_file(str(Path(args.head) / "model.safetensors"))
    w1, b1 = weights["pre_classifier.weight"].T, weights["pre_classifier.bias"]
    w2, b2 = weights["classifier.weight"].T, weights["classifier.bias"]
    encoder = ctranslate2.Encoder(
        args.model, device="cpu", compute_type="int8", intra_threads=args.threads, inter_threads=1
    )

    def call(ids: list[list[int]]) -> np.ndarray:
        hidden = np.asarray(encoder.forward_batch(ids).last_hidden_state)[:, 0]
        return np.maximum(hidden @ w1 + b1, 0) @ w2 + b2

    return timed(batches, [ids for ids, _ in batches], call)


def ov_quantize(args: argparse.Namespace) -> dict[str, Any]:
    """NNCF static post-training quantization of the ONNX model, SmoothQuant on, to an IR."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters

    model = ov.Core().read_model(args.model)
    names = {port.get_any_name() for port in model.inputs}
    texts = read_texts(args.corpus)

    def items() -> Iterator[dict[str, np.ndarray]]:
        for ids, _ in run_batches(Path(args.head), texts):
            for one in ids:  # one document per sample: NNCF's subset_size counts samples
                input_ids, mask = padded([one])
                both = {"input_ids": input_ids, "attention_mask": mask}
                yield {k: v for k, v in both.items() if k in names}

    samples = list(items())
    quantized = nncf.quantize(
        model,
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=0.95)
        ),
    )
    ov.save_model(quantized, args.out)
    return {"out": args.out, "calibration_docs": len(samples)}


def ct2_convert(args: argparse.Namespace) -> dict[str, Any]:
    """CTranslate2's transformers converter, weights quantized to int8."""
    import ctranslate2

    converter = ctranslate2.converters.TransformersConverter(args.model)
    return {"out": converter.convert(args.out, quantization="int8", force=True)}


RUNS = {"openvino": openvino_run, "torch": torch_run, "ctranslate2": ctranslate2_run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=[*RUNS, "ov-quantize", "ct2-convert"])
    parser.add_argument("--model", required=True, help="the model file or folder the engine reads")
    parser.add_argument("--head", default="", help="the transformers folder: tokenizer, classifier head")
    parser.add_argument("--corpus", type=Path, help="documents to run, or to calibrate on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="", help="where a preparation writes the model")
    parser.add_argument(
        "--max-batch-tokens", type=int, default=CPU_MAX_BATCH_TOKENS, help="padded tokens per model call"
    )
    args = parser.parse_args()
    if args.kind == "ov-quantize":
        result = ov_quantize(args)
    elif args.kind == "ct2-convert":
        result = ct2_convert(args)
    else:
        batches = run_batches(Path(args.head), read_texts(args.corpus), args.max_batch_tokens)
        result = RUNS[args.kind](args, batches)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
