"""A model folder's tokenizer and config read without transformers, for the encoder tasks on CPU.

Importing transformers costs about 0.9 s of start-up and tens of MB, though the encoder
pipelines use only a thin layer of it: `PreTrainedTokenizerFast` sets truncation and padding on
the `tokenizers` backend loaded from tokenizer.json, reads its special tokens from
tokenizer_config.json and special_tokens_map.json, and flattens the backend's encodings into
lists; `PretrainedConfig` reads config.json. `Tokenizer` and `Config` here do the same, for
the attributes and calls the pipelines make, so that a chunk tokenizes exactly as it would with
transformers (the parity tests compare them family by family).

An export folder always holds tokenizer.json: optimum saves the transformers tokenizer there,
after its class has set the backend's normalizer and pre-tokenizer from tokenizer_config.json,
and `ensure_tokenizer_json` converts a slow-only one once, with transformers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tokenizers import Encoding
from tokenizers import Tokenizer as Backend

log = logging.getLogger("nlpbatch.models")

TOKENIZER_JSON = "tokenizer.json"
#: transformers' model_max_length where a tokenizer states none (VERY_LARGE_INTEGER).
NO_LIMIT = int(1e30)
#: Tokenizer classes whose padding side is the left one (a class attribute in transformers).
LEFT_PADDING = frozenset({"XLNetTokenizer", "XLNetTokenizerFast"})
_STRATEGIES = frozenset({"longest_first", "only_first", "only_second"})
# transformers' clean_up_tokenization: the spaces its decoders leave before punctuation.
_CLEAN_UP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't")]
_CLEAN_UP += [(" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class Encoded(dict[str, Any]):
    """What `Tokenizer.__call__` returns: lists by key, and the backend encodings behind them."""

    def __init__(self, data: dict[str, Any], encodings: list[Encoding]) -> None:
        super().__init__(data)
        self.encodings = encodings

    def sequence_ids(self, index: int = 0) -> list[int | None]:
        """Which sequence (0, 1, or None for a special token) each token of row `index` came from."""
        return list(self.encodings[index].sequence_ids)


class Tokenizer:
    """The surface of transformers' PreTrainedTokenizerFast that the encoder pipelines use."""

    def __init__(self, folder: Path) -> None:
        self._tokenizer = Backend.from_file(str(folder / TOKENIZER_JSON))
        settings = _json(folder / "tokenizer_config.json")
        specials = {**settings, **_json(folder / "special_tokens_map.json")}
        limit = settings.get("model_max_length")
        self.model_max_length = int(limit) if isinstance(limit, (int, float)) else NO_LIMIT
        default_side = "left" if settings.get("tokenizer_class") in LEFT_PADDING else "right"
        self.padding_side = str(settings.get("padding_side") or default_side)
        self.truncation_side = str(settings.get("truncation_side") or "right")
        self.clean_up_tokenization_spaces = bool(settings.get("clean_up_tokenization_spaces", False))
        names = settings.get("model_input_names")
        self.model_input_names = list(names) if isinstance(names, list) else ["input_ids", "token_type_ids"]
        self.bos_token = _content(specials.get("bos_token"))
        self.eos_token = _content(specials.get("eos_token"))
        self.unk_token = _content(specials.get("unk_token"))
        self.sep_token = _content(specials.get("sep_token"))
        self.pad_token = _content(specials.get("pad_token"))
        self.cls_token = _content(specials.get("cls_token"))
        self.mask_token = _content(specials.get("mask_token"))

    @property
    def backend_tokenizer(self) -> Backend:
        return self._tokenizer

    def _special_id(self, token: str | None) -> int | None:
        return None if token is None else self.convert_tokens_to_ids(token)

    @property
    def bos_token_id(self) -> int | None:
        return self._special_id(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        return self._special_id(self.eos_token)

    @property
    def unk_token_id(self) -> int | None:
        return self._special_id(self.unk_token)

    @property
    def sep_token_id(self) -> int | None:
        return self._special_id(self.sep_token)

    @property
    def pad_token_id(self) -> int | None:
        return self._special_id(self.pad_token)

    @property
    def cls_token_id(self) -> int | None:
        return self._special_id(self.cls_token)

    @property
    def mask_token_id(self) -> int | None:
        return self._special_id(self.mask_token)

    def __len__(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def get_vocab(self) -> dict[str, int]:
        return dict(self._tokenizer.get_vocab(with_added_tokens=True))

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return int(self._tokenizer.num_special_tokens_to_add(pair))

    def convert_tokens_to_ids(self, token: str) -> int | None:
        """A token's id; a token outside the vocabulary stands for the unknown token, as in transformers."""
        found = self._tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
        unk = self.unk_token
        return None if unk is None or unk == token else self._tokenizer.token_to_id(unk)

    def convert_ids_to_tokens(self, ids: int | list[int]) -> Any:
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return str(decoder.decode(tokens)) if decoder is not None else " ".join(tokens)

    def decode(self, ids: int | list[int], skip_special_tokens: bool = False) -> str:
        text = str(self._tokenizer.decode([ids] if isinstance(ids, int) else list(ids), skip_special_tokens))
        if self.clean_up_tokenization_spaces:
            for old, new in _CLEAN_UP:
                text = text.replace(old, new)
        return text

    def _strategy(self, truncation: bool | str | None, max_length: int | None) -> str | None:
        """The backend truncation strategy transformers would choose (None: no truncation)."""
        if truncation is None:
            truncation = max_length is not None  # transformers: a max_length alone truncates
        if truncation is False or truncation == "do_not_truncate":
            return None
        strategy = "longest_first" if truncation is True else str(truncation)
        if strategy not in _STRATEGIES:
            raise ValueError(f"unknown truncation strategy {truncation!r}")
        return strategy

    def __call__(
        self,
        text: str | list[str],
        text_pair: str | list[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
    ) -> Encoded:
        """Encode a text (or pair) or a batch of them, as PreTrainedTokenizerFast.__call__ does."""
        single = isinstance(text, str)
        texts = [text] if isinstance(text, str) else list(text)
        pairs = None if text_pair is None else [text_pair] if isinstance(text_pair, str) else list(text_pair)
        strategy = self._strategy(truncation, max_length)
        if strategy is not None and max_length is None:
            if self.model_max_length >= NO_LIMIT:
                strategy = None  # transformers warns and does not truncate
            else:
                max_length = self.model_max_length
        backend = self._tokenizer
        backend.no_padding()
        if strategy is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(
                int(max_length or 0), stride=stride, strategy=strategy, direction=self.truncation_side
            )
        inputs: list[Any] = texts if pairs is None else list(zip(texts, pairs, strict=True))
        encoded = backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        types = return_token_type_ids
        if types is None:
            types = "token_type_ids" in self.model_input_names
        mask = True if return_attention_mask is None else return_attention_mask
        rows: list[Encoding] = []
        owners: list[int] = []
        for i, encoding in enumerate(encoded):
            windows = [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]
            rows += windows
            owners += [i] * len(windows)
        data: dict[str, Any] = {"input_ids": [e.ids for e in rows]}
        if types:
            data["token_type_ids"] = [e.type_ids for e in rows]
        if mask:
            data["attention_mask"] = [e.attention_mask for e in rows]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [e.offsets for e in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = owners
        elif single:  # one text: one row, without the batch axis
            data = {k: v[0] for k, v in data.items()}
        return Encoded(data, rows)


class Config:
    """The fields of a transformers config.json the encoder pipelines read, with its defaults."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        raw = values.get("id2label")
        count = values.get("num_labels")
        if isinstance(raw, dict) and raw:
            self.id2label = {int(k): str(v) for k, v in raw.items()}
        else:  # transformers names them LABEL_0.. (two when the config says nothing)
            self.id2label = {i: f"LABEL_{i}" for i in range(int(count) if isinstance(count, int) else 2)}
        raw = values.get("label2id")
        if isinstance(raw, dict) and raw:
            self.label2id = {str(k): int(v) for k, v in raw.items()}
        else:
            self.label2id = {v: k for k, v in self.id2label.items()}
        self.problem_type = values.get("problem_type")
        self.architectures = values.get("architectures")
        self.model_type = values.get("model_type")

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @classmethod
    def from_folder(cls, folder: Path) -> Config:
        path = folder / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json in {folder}")
        return cls(_json(path))


def ensure_tokenizer_json(model_dir: Path, out: Path) -> bool:
    """Write `out`/tokenizer.json from `model_dir`'s tokenizer if missing; False where none can be made.

    transformers converts a slow (SentencePiece or vocabulary-file) tokenizer into a fast one
    where its library has a converter; `save_pretrained` then writes tokenizer.json beside the
    files it already wrote. Needs transformers, so it runs in the export process.
    """
    if (out / TOKENIZER_JSON).is_file():
        return True
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True, trust_remote_code=False)
    except Exception as exc:  # no tokenizer at all: the loader reports it
        log.debug("no tokenizer in %s: %s", model_dir, exc)
        return False
    if not tokenizer.is_fast:
        return False
    tokenizer.save_pretrained(str(out))
    return (out / TOKENIZER_JSON).is_file()

