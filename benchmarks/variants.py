"""Baseline variants, each run in its own process: `python -m benchmarks.variants KIND ...`.

It prints one JSON line: documents, seconds of inference (model loading excluded, as in
nlpbatch's report) and this process's peak RSS. `script` is a user's whole script, timed
from outside; the MatMul peak is measured here too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from nlpbatch.report import peak_rss_mb


def read_texts(corpus: Path) -> list[str]:
    with corpus.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def pipeline_run(args: argparse.Namespace) -> dict[str, Any]:
    """transformers.pipeline on PyTorch, or on optimum's ONNX Runtime model (`--onnx DIR`)."""
    import torch
    from transformers import AutoTokenizer, pipeline

    torch.set_num_threads(args.threads)
    task: Any = "feature-extraction" if args.task == "embed" else "text-classification"
    if args.onnx:
        from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTModelForSequenceClassification

        ort_class = (
            ORTModelForFeatureExtraction if args.task == "embed" else ORTModelForSequenceClassification
        )
        model: Any = ort_class.from_pretrained(args.onnx)  # optimum's own session settings
        pipe = pipeline(task, model=model, tokenizer=AutoTokenizer.from_pretrained(args.onnx))
    else:
        pipe = pipeline(task, model=args.model, device="cpu")
    texts = read_texts(args.corpus)
    kwargs: dict[str, Any] = {"truncation": True}
    if args.batch_size:
        kwargs["batch_size"] = args.batch_size
    pipe(texts[:2], **kwargs)  # warm up, as nlpbatch's timer starts after loading too
    started = time.perf_counter()
    out = pipe(texts, **kwargs)
    seconds = time.perf_counter() - started
    assert len(out) == len(texts)
    return {"docs": len(texts), "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def script_run(args: argparse.Namespace) -> dict[str, Any]:
    """What a user's own script does: build the pipeline, run every document, write the records.

    No warm-up and no timer: the bench times this whole process from outside.
    """
    import torch
    from transformers import pipeline

    torch.set_num_threads(args.threads)
    task: Any = "feature-extraction" if args.task == "embed" else "text-classification"
    pipe = pipeline(task, model=args.model, device="cpu")
    texts = read_texts(args.corpus)
    out = pipe(texts, truncation=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for record in out:
            fh.write(json.dumps(record) + "\n")
    return {"docs": len(texts)}


def matmul_peak(args: argparse.Namespace) -> dict[str, Any]:
    """fp32 GFLOP/s of onnxruntime's own MatMul on two n x n matrices, best of a few runs."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = args.n
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {x: rng.standard_normal((n, n), dtype=np.float32) for x in ("a", "b")}
    session.run(None, feeds)
    best = min(_timed(session, feeds) for _ in range(args.repeats))
    return {"gflops": 2 * n**3 / best / 1e9, "seconds": best, "n": n, "threads": args.threads}


def _timed(session: Any, feeds: dict[str, Any]) -> float:
    started = time.perf_counter()
    session.run(None, feeds)
    return time.perf_counter() - started


KINDS = {"pipeline": pipeline_run, "script": script_run, "matmul": matmul_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=list(KINDS))
    parser.add_argument("--model", default="")
    parser.add_argument("--onnx", default="", help="folder of an ONNX export: run it through optimum")
    parser.add_argument("--task", default="sentiment", choices=["sentiment", "embed"])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the pipeline's default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="", help="where `script` writes its records")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(KINDS[args.kind](args)))


if __name__ == "__main__":
    main()
