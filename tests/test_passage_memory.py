"""A 1M-character document through `embed --passages`: cut whole, in order, in bounded memory."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from tests.family_tokenizers import tokenizer_for
from worker.pipelines import passages as passages_module
from worker.pipelines.passages import token_offsets

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = (
    "the a of and to in is was for on that with as it at by from this be are or an have not "
    "report market city council water energy school students year years people government "
    "plan data model results study new first last local public price prices service team game "
    "said says reported announced expected increase decrease during after before because while "
    "however although morning evening week month café résumé naïve crème brûlée Seoul Paris "
    'well-known state-of-the-art e-mail 2024 3.5% $12.40 U.S. Dr. (see above) [note] "quoted"'
).split()
EXTRAS = ["서울에 갔어요", "감사합니다", "😀", "🚀✨", "👍🏽", "naïve—café", "…", "東京"]


def document(chars: int, seed: int = 0) -> str:
    """Prose-like text: sentences of 4-30 words in paragraphs, with Korean, emoji and odd spacing."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(4, 30)))
        if rng.random() < 0.2:
            sentence += " " + rng.choice(EXTRAS)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice(".!?.")
        sep = rng.choice([" ", " ", " ", "  ", "\n\n", "\n", " \t "])
        parts.append(sentence + sep)
        size += len(sentence) + len(sep)
    return "".join(parts)[:chars]


# The child process: loads the model, embeds a short warm-up document (so the runtime has
# allocated for batches of full passages), resets its peak RSS to the current RSS (Linux
# /proc/self/clear_refs "5"), then embeds the 1M-character document and reports the growth.
CHILD = """
import gc, json, re, sys
from nlpbatch.settings import Settings
from tests.engines import engine
from tests.helpers import run_texts
from tests.test_passage_memory import document

def kib(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

model, chars, n, overlap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
engine.configure(Settings.from_env(), threads=1, backend="onnx")
params = dict(passages=n, overlap=overlap)
run_texts("embed", model, [document(20_000, seed=1)], **params)
text = document(chars)
gc.collect()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
base = kib("VmHWM")
entries = run_texts("embed", model, [text], **params)  # a record per passage
peak = kib("VmHWM")
print(json.dumps({
    "base_kib": base, "peak_kib": peak, "chars": len(text),
    "spans": [[e["start"], e["end"]] for e in entries],
    "passages": [e["passage"] for e in entries], "dim": len(entries[0]["embedding"]),
    "dims": sorted({len(e["embedding"]) for e in entries}),
}))
"""


def test_a_million_character_document_is_embedded_in_its_passages_memory(tiny_bert: Path) -> None:
    """The RSS growth of embedding one 1M-character document stays within its passages' worth.

    What the job must hold at the end is its record: per passage a dict with its offsets and
    an embedding list of Python floats (8-byte pointer + 24-byte float object per value), and
    each passage's token ids until its batch has run. The bound is that output at
    `passages x (dim x 32 + 1,024) bytes`, plus the passages' token ids at 40 bytes a token
    (a list pointer and an int object, with slack), plus a constant 48 MiB for the text's own
    copies (4 bytes a character once emoji are in it), one batch's activations and the
    allocator's slack. Tokenizing the whole document at once with offsets, or holding every
    passage's last hidden state until the record is built, grows far past it.
    """
    chars, n, overlap = 1_000_000, 128, 16  # the tiny model's limit is 128 tokens
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny_bert), str(chars), str(n), str(overlap)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    spans = out["spans"]
    text = document(chars)
    assert out["chars"] == chars and out["dims"] == [out["dim"]]
    assert out["passages"] == list(range(len(spans)))  # one record per passage, in order
    # Exactly the cuts the splitter gives, covering the text in order, each overlapping the next.
    from transformers import AutoTokenizer

    from worker.pipelines.passages import spans as cut

    assert [tuple(s) for s in spans] == cut(AutoTokenizer.from_pretrained(str(tiny_bert)), text, n, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == chars
    for (a, b), (c, d) in pairwise(spans):
        assert a < c < b < d, ((a, b), (c, d))
    passages = len(spans)
    assert passages > chars // (n * 8)  # about 4 characters a token: thousands of passages
    growth = (out["peak_kib"] - out["base_kib"]) * 1024
    output = passages * (out["dim"] * 32 + 1024)
    token_ids = passages * n * 40
    bound = output + token_ids + (48 << 20)
    print(f"{passages} passages, peak RSS growth {growth / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB")
    assert growth <= bound, f"peak RSS grew {growth / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB"


TRICKY = (
    document(30_000, seed=3)
    + "   x" * 50
    + " "
    + "😀" * 300
    + " a"
    + "b" * 300
    + " end  \n\n 서울에갔어요서울에갔어요 .\t\t👍🏽👍🏽 naïve  "
    + document(8_000, seed=4)
)


@pytest.mark.parametrize(
    "family", ["roberta", "xlm-roberta", "deberta-v2", "albert", "electra", "gpt2", "t5"]
)
def test_sliced_tokenization_equals_the_whole_text_on_every_tokenizer(
    family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Token offsets from slices of 2,000 characters are those of tokenizing the text whole."""
    check_sliced(tokenizer_for(family, tmp_path / family), monkeypatch)


def test_sliced_tokenization_equals_the_whole_text_on_minilm(
    minilm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoTokenizer

    from nlpbatch.modelref import resolve

    check_sliced(AutoTokenizer.from_pretrained(str(resolve(minilm).path)), monkeypatch)


def check_sliced(tok: object, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = passages_module._whole(tok, TRICKY)
    tokenized: list[int] = []
    original = passages_module._whole
    monkeypatch.setattr(passages_module, "_whole", lambda t, x: (tokenized.append(len(x)), original(t, x))[1])
    assert token_offsets(tok, TRICKY, slice_chars=2_000, margin=64) == whole
    assert tokenized == []  # cut in slices, never fell back to the whole text
    # A text with no whitespace to cut at is tokenized whole, with the same result.
    blob = "x" * 5_000
    assert token_offsets(tok, blob, slice_chars=2_000, margin=64) == original(tok, blob)
