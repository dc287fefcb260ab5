"""Greedy summarization throughput on a BART-base-shaped random model: transformers, nlpbatch, CTranslate2.

    python -m benchmarks.generation [--folder DIR]

Every engine writes exactly 32 new tokens per document (min = max length, no forced EOS), on
32 documents of 30-95 words, with 2 threads; loading and export/conversion are excluded
(each engine runs the documents once to warm up, then once timed). One run, side by side.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NEW_TOKENS, DOCS, THREADS, BATCH = 32, 32, 2, 16


def cpu() -> str:
    from worker.tuning import describe_cpu

    return describe_cpu()


def documents() -> list[str]:
    from tests.helpers import WORDS

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 95))) for _ in range(DOCS)]


def build(folder: Path) -> Path:
    """BART-base shapes (d_model 768, 6+6 layers, ffn 3072), random weights, a BPE vocabulary built here."""
    import torch
    import transformers as tf

    from tests.family_tokenizers import tokenizer_for

    torch.manual_seed(0)
    tok = tokenizer_for("bart", folder / "tokenizer")
    config = tf.BartConfig(
        vocab_size=len(tok), d_model=768, encoder_layers=6, decoder_layers=6,
        encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072,
        decoder_ffn_dim=3072, max_position_embeddings=1024, forced_bos_token_id=None,
        forced_eos_token_id=None, normalize_before=False, add_final_layer_norm=False,
        static_position_embeddings=False,
    )  # fmt: skip
    model = tf.BartForConditionalGeneration(config).eval()
    # min_length counts the decoder's start token: exactly NEW_TOKENS new ones, EOS or not.
    model.generation_config.update(
        max_new_tokens=NEW_TOKENS, min_length=NEW_TOKENS + 1, num_beams=1, do_sample=False,
        forced_eos_token_id=None, forced_bos_token_id=None, early_stopping=False,
    )  # fmt: skip
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    fn()  # warm-up: loading, export, conversion
    began = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - began, tokens


def rows(model: Path, docs: list[str], cache: Path) -> list[tuple[str, float, int]]:
    import torch
    from transformers import pipeline

    torch.set_num_threads(THREADS)
    out: list[tuple[str, float, int]] = []
    pipe = pipeline("summarization", model=str(model), device="cpu")
    kw = {"max_new_tokens": NEW_TOKENS, "min_length": NEW_TOKENS + 1, "do_sample": False, "num_beams": 1}

    def one_at_a_time() -> int:
        for d in docs:
            pipe(d, **kw)
        return NEW_TOKENS * len(docs)

    def batched() -> int:
        pipe(docs, batch_size=BATCH, **kw)
        return NEW_TOKENS * len(docs)

    out.append(("transformers.pipeline, one at a time", *timed(one_at_a_time)))
    out.append((f"transformers.pipeline, batch_size={BATCH}", *timed(batched)))
    print(out[:2], flush=True)

    from nlpbatch.schema import ChunkMessage
    from worker.engine import Engine

    for backend in ("onnx", "ctranslate2"):
        engine = Engine(cache, threads=THREADS, backend=backend)
        for precision in ("fp32", "int8"):
            msg = ChunkMessage(
                job_id="bench", index=0, task="summarize", model=str(model), precision=precision,
                docs=[{"id": i, "text": d} for i, d in enumerate(docs)],
                # The same decoding as the pipeline calls: without them the summarize task's
                # defaults apply (4 beams, 256 new tokens), as in transformers' pipeline.
                params={"batch_size": BATCH, "max_new_tokens": NEW_TOKENS, "num_beams": 1},
            )  # fmt: skip

            def job(msg: ChunkMessage = msg, engine: Engine = engine) -> int:
                records = engine.run_chunk(msg).records
                assert all("error" not in r for r in records), records[0]
                return NEW_TOKENS * len(records)

            out.append((f"nlpbatch {backend} {precision}", *timed(job)))
            print(out[-1], flush=True)
        engine.unload_all()

    out += ct2_direct(model, docs, cache)
    return out


def ct2_direct(model: Path, docs: list[str], cache: Path) -> list[tuple[str, float, int]]:
    import ctranslate2
    from transformers import AutoTokenizer

    from worker.models.ct2_store import CT2_FOLDER

    found = sorted(cache.rglob(f"{CT2_FOLDER}/model.bin"))
    assert found, "no CTranslate2 conversion in the cache"
    tok = AutoTokenizer.from_pretrained(str(model))
    source = [tok.convert_ids_to_tokens(tok(d)["input_ids"]) for d in docs]
    out: list[tuple[str, float, int]] = []
    for compute_type in ("float32", "int8"):
        translator = ctranslate2.Translator(
            str(found[0].parent), device="cpu", compute_type=compute_type, intra_threads=THREADS
        )

        def run(translator: Any = translator) -> int:
            results = translator.translate_batch(
                source, max_batch_size=BATCH, beam_size=1, max_decoding_length=NEW_TOKENS,
                min_decoding_length=NEW_TOKENS, end_token=[],
            )  # fmt: skip
            return sum(len(r.hypotheses[0]) for r in results)

        out.append((f"ctranslate2.Translator {compute_type} (direct)", *timed(run)))
    return out


def table(results: list[tuple[str, float, int]]) -> str:
    base = results[0][2] / results[0][1]
    ct2_int8 = next(t / s for name, s, t in results if name.startswith("ctranslate2.Translator int8"))
    lines = [
        "| engine | new tokens | seconds | new tokens/s | vs pipeline one at a time | vs CT2 int8 direct |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, seconds, tokens in results:
        rate = tokens / seconds
        ratios = f"{rate / base:.2f}x | {rate / ct2_int8:.2f}x"
        lines.append(f"| {name} | {tokens} | {seconds:.2f} | {rate:.1f} | {ratios} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--folder", type=Path, default=None, help="where to build the model and cache")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).parent / "results" / "RESULTS.md",
        help="the RESULTS.md whose section for this CPU kind the table replaces",
    )  # fmt: skip
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-generation-"))
    print(f"CPU: {cpu()}", flush=True)
    built = folder / "bart-base-random"
    model = built if (built / "config.json").exists() else build(built)
    results = rows(model, documents(), folder / "cache")
    print(table(results))
    sys.stdout.flush()
    from benchmarks.results import put_section

    text = (
        f"## Generation (greedy summarize, BART-base-shaped random model) on {cpu()}\n\n"
        f"Command: `python -m benchmarks.generation`. {DOCS} documents of 30-95 words, "
        f"{NEW_TOKENS} new tokens each (EOS disabled), {THREADS} threads, model load excluded.\n\n"
        f"{table(results)}\n"
    )
    put_section(args.results, "generation", text)


if __name__ == "__main__":
    main()
