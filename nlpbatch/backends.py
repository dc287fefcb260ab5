"""The model runtimes a job can ask for with `--backend`, and what each needs to run.

Light on purpose: the producer checks a job's backend before anything heavy is imported.
"""

from __future__ import annotations

import importlib.util

from nlpbatch.errors import JobError

BACKENDS = ("auto", "onnx", "openvino", "torch")
#: The packages `--backend openvino` needs: the `openvino` extra.
OPENVINO_PACKAGES = ("openvino", "nncf")


def check_backend(backend: str, task: str | None = None) -> None:
    """Raise JobError when `backend` cannot run here, or cannot run `task` (None: any task).

    `openvino` needs the `openvino` extra, and runs the encoder tasks only: the generative
    ones (summarize, translate, generate) run on ONNX Runtime or PyTorch.
    """
    if backend not in BACKENDS:
        raise JobError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend != "openvino":
        return
    missing = [name for name in OPENVINO_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise JobError(f"--backend openvino needs {' and '.join(missing)}: install nlpbatch[openvino]")
    if task is not None:
        from nlpbatch.tasks import get_task
        from nlpbatch.tasks.spec import GenerationSpec

        spec = get_task(task)
        if isinstance(spec, GenerationSpec):
            raise JobError(
                f"task {spec.name!r} generates text, which --backend openvino does not support "
                "(it runs the encoder tasks); use --backend onnx or torch"
            )
