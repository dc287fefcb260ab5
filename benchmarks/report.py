"""The text of RESULTS.md around its tables (`str.format` fields filled by results.write_results)."""

#: The int8 gate's documents in the model-time rows (the whole-process rows keep run's default).
MODEL_TIME_GATE_DOCS = 32

TEMPLATE = """## Throughput (`make bench`) on {cpu}

Command: `{command}` ({wall:.0f} s wall, everything included).

Machine: {machine}. {threads} model threads for every variant.

Corpus: deterministic review-like English, 10 to 300 words per document, written by
`benchmarks/corpus.py`; every variant runs the same first {args.docs} documents (fewer than
the corpus so that the PyTorch baselines fit the time budget: rates are per document and per
token). Model: DistilBERT-base for sequence classification from its default config, random
weights (the same compute as trained ones), uncased BERT WordPiece vocabulary; `embed` rows
use the packaged all-MiniLM-L6-v2. The variants run in this one run, each in its own process,
interleaved over {args.rounds} round(s) that each take their own slice of those documents (the
10x check runs once); times exclude model loading. nlpbatch's int8 rows run their accuracy
gate on the first {gate_docs} documents before the clock starts and reuse those records, so
the rows' documents and rates leave them out. Rows `4o`/`5o` run `nlpbatch run --backend
openvino` (the `openvino` extra; int8 there is NNCF static quantization calibrated on
nlpbatch's fixed calibration texts), rows `4p`/`5p` run `--processes {threads} --threads 1`
(one process per core, each with its own model) in chunks of {args.submit_chunk} documents,
so that every process has chunks to run. Padding for `transformers.pipeline` is
computed from its batches in input order. `submit`
variants run a real Redis and real `nlpbatch worker` processes started by the bench, chunks
of {args.submit_chunk} documents; their time runs from when a worker began the first chunk
to the last chunk done. GFLOP/s count useful model FLOPs only (no padding), against
onnxruntime's own fp32 MatMul on square matrices: {peaks} GFLOP/s (before and after the
variants; the higher is the peak). int8 rows do the same work in int8 arithmetic, so their
GFLOP/s are not set against the fp32 peak. Variant 2 (PyTorch pipeline, batch 32, padded in
input order) is no longer run: it was slower than variant 1 on every run and the slowest row.

Engine anchors (A rows, `benchmarks/anchors.py`): other CPU engines on the same documents,
cut into the same chunks and length-sorted batches as `nlpbatch run` (its own
`plan_batches`, its defaults: at most 512 padded tokens per call for ONNX Runtime, 2,048 for
OpenVINO, whose int8 runs faster with them), so what differs is the engine. Their time is model calls
only: the batches are tokenized and padded before the clock starts, where nlpbatch's own
rows also count tokenizing, batching and writing the output. A1 reads nlpbatch's fp32 ONNX
export; A2 is that model quantized by NNCF (static post-training quantization,
`ModelType.TRANSFORMER`, SmoothQuant alpha 0.95 on MatMuls) calibrated on the last
{args.calibration_docs} documents of the corpus, which no row measures; both run with
OpenVINO's f32 inference precision (no bf16 for the ops left in floating point). A3 is
CTranslate2's transformers converter with int8 weights: the converter maps DistilBERT to its
encoder (`DistilBertModel`) only, so the classification head (pre_classifier, ReLU,
classifier on the first token; about 0.01% of the compute) runs in numpy on its output.
A4 is the transformers model on PyTorch under `torch.inference_mode`.

### Results

{rows}

![throughput]({png})

### Whole process

Timed as a user feels it: the wall time of the whole process, from its start to its exit,
Python start-up, imports and model loading included, exports already cached in the bench's
`NLPBATCH_HOME`; peak RSS is what the kernel reports for that one process on `os.wait4`
(ru_maxrss, what GNU `time` reports). W rows run {args.wall_docs} documents of 10 to 120
words (`benchmarks/corpus.py`, seed 17): a `transformers.pipeline` script (PyTorch, default
batch, writing its records as JSONL) against `nlpbatch run` fp32 and int8 (int8 with its
accuracy gate, run but not enforced: random weights; `run`'s default gate of 256 documents,
whose records are reused): W4 on the OpenVINO backend, W5 with one process per core. C rows
run the first 10 of those documents with all-MiniLM-L6-v2 (`embed`), the median of three runs.

{walls}

### Targets

{targets}

{notes}
"""
