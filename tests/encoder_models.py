"""Tiny random BERT and DistilBERT models with every encoder head, for parity tests."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import write_vocab

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "MISC"]
NLI_LABELS = ["contradiction", "neutral", "entailment"]
# Each parity test compares every runtime with transformers, not one runtime with another.
BACKENDS = ("onnx", "openvino", "torch")

_HEADS = {
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "fill-mask": "ForMaskedLM",
    "text-classification": "ForSequenceClassification",
    "feature-extraction": "Model",
}


def build_tiny_model(
    folder: Path,
    arch: str,
    head: str,
    labels: list[str] | None = None,
    *,
    problem_type: str | None = None,
) -> Path:
    """A randomly initialised `arch` ("bert" or "distilbert") with `head`, saved with its tokenizer.

    Weights are drawn wider than usual (initializer_range 0.2) so that labels and tokens are
    ranked by clear margins, not by ties that float rounding could flip.
    """
    import torch
    import transformers

    torch.manual_seed(0)
    vocab = write_vocab(folder)
    n_vocab = len(vocab.read_text().split("\n")) - 1
    extra: dict[str, object] = {}
    if labels:
        extra = dict(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
    if problem_type:
        extra["problem_type"] = problem_type
    if arch == "bert":
        config = transformers.BertConfig(
            vocab_size=n_vocab,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=128,
            initializer_range=0.2,
            **extra,
        )
        prefix, tokenizer = "Bert", transformers.BertTokenizerFast(str(vocab), model_max_length=128)
    else:
        config = transformers.DistilBertConfig(
            vocab_size=n_vocab,
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=37,
            max_position_embeddings=128,
            initializer_range=0.2,
            **extra,
        )
        prefix, tokenizer = (
            "DistilBert",
            transformers.DistilBertTokenizerFast(str(vocab), model_max_length=128),
        )
    model = getattr(transformers, prefix + _HEADS[head])(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def assert_same(ours: object, theirs: object, path: str = "") -> None:
    """Equal labels, spans and tokens; scores (any float) within 1e-4."""
    import numpy as np

    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: {ours!r} is not a dict"
        assert set(ours) == set(theirs), f"{path}: fields {sorted(ours)} != {sorted(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list | tuple):
        assert isinstance(ours, list | tuple) and len(ours) == len(theirs), f"{path}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float | np.floating):
        assert abs(float(ours) - float(theirs)) < 1e-4, f"{path}: {ours} != {theirs}"  # type: ignore[arg-type]
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
