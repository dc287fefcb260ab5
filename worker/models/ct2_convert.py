"""`python -m worker.models.ct2_convert MODEL_DIR OUT`: one CTranslate2 conversion, in its own process.

CTranslate2's transformers converter loads the checkpoint with PyTorch; the processes that
run the converted model do not need it. worker.models.ct2_store runs this module as a child
process under the cache entry's file lock, as worker.models.store runs the ONNX export.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

#: Attributes CTranslate2's BART loader reads that transformers no longer writes into a BART
#: config: transformers' BART runs post-norm with no final layer norm, mBART pre-norm with one;
#: both learn their positions.
LAYOUT_DEFAULTS = {
    "bart": {"normalize_before": False, "add_final_layer_norm": False, "static_position_embeddings": False},
    "mbart": {"normalize_before": True, "add_final_layer_norm": True, "static_position_embeddings": False},
}


def convert(model_dir: Path, out: Path) -> None:
    """Convert the transformers checkpoint in `model_dir` to a float32 CTranslate2 model in `out`.

    One float32 conversion serves both precisions: CTranslate2 quantizes the weights to int8
    as it loads them (compute_type int8), the same quantization the converter would apply.
    """
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):  # type: ignore[misc]
        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            # In memory only: the user's files stay as they are.
            for name, value in LAYOUT_DEFAULTS.get(model.config.model_type, {}).items():
                if not hasattr(model.config, name):
                    setattr(model.config, name, value)
            return model

    Converter(str(model_dir)).convert(str(out), force=True)
    start_as_transformers(model_dir, out)


def start_as_transformers(model_dir: Path, out: Path) -> None:
    """Start decoding from the token transformers' `generate` starts from.

    The converter guesses it for some families (mBART without a tokenizer_class in its config
    starts from the language code); transformers reads the generation config's
    decoder_start_token_id, and so does this, so both decode the same sequence.
    """
    import json

    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    config = AutoConfig.from_pretrained(str(model_dir))
    if not getattr(config, "is_encoder_decoder", False):
        return
    try:
        generation = GenerationConfig.from_pretrained(str(model_dir))
    except OSError:  # no generation_config.json: transformers derives it from the model config
        generation = GenerationConfig.from_model_config(config)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    path = out / "config.json"
    meta = json.loads(path.read_text())
    if generation.decoder_start_token_id is not None:
        meta["decoder_start_token"] = tokenizer.convert_ids_to_tokens(int(generation.decoder_start_token_id))
    # A token the tokenizer leaves unset (mBART-50's bos) is written as null, which CTranslate2
    # refuses to load: the generation config's id for it, else the end token, stands in.
    ids = {"bos_token": generation.bos_token_id, "unk_token": generation.eos_token_id}
    for name, token_id in ids.items():
        if meta.get(name, "") is None:
            token_id = token_id[0] if isinstance(token_id, list) else token_id
            meta[name] = (
                tokenizer.convert_ids_to_tokens(int(token_id)) if token_id is not None else meta["eos_token"]
            )
    path.write_text(json.dumps(meta, indent=2))


def main(argv: list[str]) -> int:
    """Run one conversion; on failure the reason is the last line of stderr, and the status is 1."""
    model_dir, out = argv
    try:
        convert(Path(model_dir), Path(out))
    except Exception as exc:  # the parent reports it as a ModelLoadError
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
