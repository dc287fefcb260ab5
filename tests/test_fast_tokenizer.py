"""The tokenizer and config the CPU encoder path reads without transformers equal transformers' own.

Each family's tokenizer is saved as an export saves it, then loaded both ways: the ids, type
ids, offsets, special-token masks and overflow windows of single texts and pairs (truncated
at max_length from either side, with a stride), the special tokens and decoding must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.family_tokenizers import LONG, TEXTS, tokenizer_for
from tests.helpers import write_vocab
from worker.models.fast_tokenizer import TOKENIZER_JSON, Config, Tokenizer, ensure_tokenizer_json

FAMILIES = [
    "bert",
    "distilbert",
    "roberta",
    "xlm-roberta",
    "mpnet",
    "electra",
    "albert",
    "deberta-v2",
    "bart",
    "t5",
    "gpt2",
    "llama",
    "minilm",
]
# Korean, emoji and accents are in TEXTS; these add out-of-vocabulary pieces and punctuation.
UNKNOWN = ["zebra quokka 漢字 ♞ ok", "isn't it , he 's here ?", "CAPS and MiXeD ça", ""]
PAIRS = [(t, TEXTS[(i + 1) % len(TEXTS)]) for i, t in enumerate(TEXTS)] + [(LONG, "is it about paris ?")]
CALLS: list[dict[str, Any]] = [
    {},
    {"add_special_tokens": False},
    {"truncation": True, "max_length": 12},
    {"truncation": True, "max_length": 12, "stride": 3, "return_overflowing_tokens": True},
    {"truncation": False},
]
PAIR_CALLS: list[dict[str, Any]] = [
    {"truncation": True, "max_length": 20},
    {"truncation": "only_first", "max_length": 24, "stride": 4, "return_overflowing_tokens": True},
]
RETURNS = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_token_type_ids": True}


def saved(family: str, folder: Path) -> Path:
    """The family's tokenizer saved as the export saves it (transformers' save_pretrained)."""
    import transformers as tf

    if family == "minilm":  # the packaged all-MiniLM-L6-v2, a real checkpoint's files
        from nlpbatch.modelref import resolve

        tok = tf.AutoTokenizer.from_pretrained(str(resolve("sentence-transformers/all-MiniLM-L6-v2").path))
    elif family in ("bert", "distilbert"):
        cls = tf.BertTokenizerFast if family == "bert" else tf.DistilBertTokenizerFast
        tok = cls(str(write_vocab(folder / "src")), model_max_length=128)
    else:
        tok = tokenizer_for(family, folder / "src")
    out = folder / "export"
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    folder = saved(request.param, tmp_path_factory.mktemp(f"tok-{request.param}"))
    return Tokenizer(folder), AutoTokenizer.from_pretrained(str(folder), use_fast=True)


def test_single_texts_encode_as_transformers_encodes_them(both: tuple[Any, Any]) -> None:
    ours, theirs = both
    texts = [*TEXTS, LONG, *UNKNOWN]
    for call in CALLS:
        mine, hf = ours(texts, **RETURNS, **call), theirs(texts, **RETURNS, **call)
        assert set(mine) == set(hf), call
        for key in hf:
            got = mine[key] if key != "offset_mapping" else [[tuple(o) for o in row] for row in mine[key]]
            assert got == hf[key], (call, key)
        if call.get("return_overflowing_tokens"):
            assert len(mine["input_ids"]) > len(texts)  # LONG is windowed
    one = ours(TEXTS[4], return_offsets_mapping=True)
    assert one["input_ids"] == theirs(TEXTS[4])["input_ids"]  # a single text: no batch axis
    assert one["offset_mapping"] == theirs(TEXTS[4], return_offsets_mapping=True)["offset_mapping"]


def outcome(tokenizer: Any, *args: Any, **kwargs: Any) -> Any:
    """The encoding, or the error's text where the backend refuses (a pair too short to truncate)."""
    try:
        return tokenizer(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also the backend's PanicException (a stride over the room left)
        return f"{type(exc).__name__}: {exc}"


def test_pairs_and_their_sequence_ids_encode_as_transformers_encodes_them(both: tuple[Any, Any]) -> None:
    ours, theirs = both
    first, second = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    encoded = 0
    for call in PAIR_CALLS:
        for side in ("right", "left"):
            ours.truncation_side = theirs.truncation_side = side
            for a, b in [(first, second), (first[-1:], second[-1:])]:
                mine, hf = outcome(ours, a, b, **RETURNS, **call), outcome(theirs, a, b, **RETURNS, **call)
                if isinstance(hf, str):
                    assert mine == hf
                    continue
                encoded += 1
                for key in hf:
                    got = mine[key]
                    if key == "offset_mapping":
                        got = [[tuple(o) for o in row] for row in got]
                    assert got == hf[key], (call, side, key)
                for row in range(len(hf["input_ids"])):
                    assert mine.sequence_ids(row) == hf.sequence_ids(row)
    ours.truncation_side = theirs.truncation_side = "right"
    assert encoded >= 4  # most calls encode: the comparison is of encodings, not of errors


def test_special_tokens_vocabulary_and_decoding_match_transformers(both: tuple[Any, Any]) -> None:
    ours, theirs = both
    for name in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        assert getattr(ours, f"{name}_token") == getattr(theirs, f"{name}_token"), name
        assert getattr(ours, f"{name}_token_id") == getattr(theirs, f"{name}_token_id"), name
    assert ours.model_max_length == theirs.model_max_length
    assert ours.padding_side == theirs.padding_side
    assert ours.get_vocab() == theirs.get_vocab() and len(ours) == len(theirs)
    for pair in (False, True):
        assert ours.num_special_tokens_to_add(pair=pair) == theirs.num_special_tokens_to_add(pair=pair)
    for text in [*TEXTS, *UNKNOWN]:
        ids = theirs(text)["input_ids"]
        tokens = theirs.convert_ids_to_tokens(ids)
        assert ours.convert_ids_to_tokens(ids) == tokens
        if ids:
            assert ours.convert_ids_to_tokens(ids[0]) == theirs.convert_ids_to_tokens(ids[0])
            assert ours.decode(ids[-1]) == theirs.decode(ids[-1])
        assert ours.convert_tokens_to_string(tokens) == theirs.convert_tokens_to_string(tokens)
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)


def test_a_slow_only_tokenizer_gets_a_tokenizer_json_written_once(tmp_path: Path) -> None:
    from transformers import AutoTokenizer, BertTokenizer

    out = tmp_path / "export"
    BertTokenizer(str(write_vocab(tmp_path / "src")), model_max_length=64).save_pretrained(str(out))
    assert not (out / TOKENIZER_JSON).exists()
    assert ensure_tokenizer_json(out, out)
    theirs = AutoTokenizer.from_pretrained(str(out), use_fast=False)
    texts = [*TEXTS, *UNKNOWN]
    assert (
        Tokenizer(out)(texts, truncation=True, max_length=10)["input_ids"]
        == theirs(texts, truncation=True, max_length=10)["input_ids"]
    )


def test_config_reads_labels_with_int_keys_and_transformers_defaults(tmp_path: Path) -> None:
    from transformers import AutoConfig, BertConfig

    labelled = tmp_path / "labelled"
    BertConfig(
        num_labels=3,
        id2label={0: "neg", 1: "mid", 2: "pos"},
        label2id={"neg": 0, "mid": 1, "pos": 2},
        problem_type="multi_label_classification",
    ).save_pretrained(str(labelled))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"model_type": "bert", "max_position_embeddings": 64}))
    for folder in (labelled, bare):
        ours, theirs = Config.from_folder(folder), AutoConfig.from_pretrained(str(folder))
        assert ours.id2label == theirs.id2label and ours.label2id == theirs.label2id
        assert ours.num_labels == theirs.num_labels
        assert ours.problem_type == theirs.problem_type
        assert (ours.model_type, ours.max_position_embeddings) == (
            theirs.model_type,
            theirs.max_position_embeddings,
        )
