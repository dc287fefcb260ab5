"""`python -m worker.models.export MODEL_DIR EXPORT_TASK OUT`: one ONNX export, in its own process.

The export needs PyTorch (optimum traces the transformers model); the processes that run the
exported graph do not. worker.models.store runs this module as a child process, under its
file lock, so PyTorch is loaded, and its memory given back, there and only there.
"""

from __future__ import annotations

import sys
from pathlib import Path


def export(model_dir: Path, export_task: str, out: Path) -> None:
    """Export the transformers model in `model_dir` for `export_task` into `out`."""
    from optimum.exporters.onnx import main_export

    from worker.models.fast_tokenizer import ensure_tokenizer_json

    main_export(
        str(model_dir),
        output=str(out),
        task=export_task,
        # Plain transformers export even for sentence-transformers folders: pooling is
        # done by nlpbatch, and the library itself need not be installed.
        library_name="transformers",
        do_validation=False,
        trust_remote_code=False,
        local_files_only=True,
    )
    # The encoder pipelines tokenize with `tokenizers` over tokenizer.json, without transformers.
    ensure_tokenizer_json(model_dir, out)


def main(argv: list[str]) -> int:
    """Run one export; on failure the reason is the last line of stderr, and the status is 1."""
    model_dir, export_task, out = argv
    try:
        export(Path(model_dir), export_task, Path(out))
    except Exception as exc:  # the parent reports it as a ModelLoadError
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
