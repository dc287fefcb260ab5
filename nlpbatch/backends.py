"""The model runtimes a job can ask for with `--backend`, and what each needs to run.

Light on purpose: the producer checks a job's backend before anything heavy is imported.
"""

from __future__ import annotations

import importlib.util

from nlpbatch.errors import JobError

BACKENDS = ("auto", "onnx", "openvino", "torch", "ctranslate2")
#: The packages `--backend openvino` needs: the `openvino` extra.
OPENVINO_PACKAGES = ("openvino", "nncf")
#: The backends that run only some tasks: the extra each needs, and whether it generates.
EXTRAS = {"openvino": (OPENVINO_PACKAGES, False), "ctranslate2": (("ctranslate2",), True)}


def check_backend(backend: str, task: str | None = None) -> None:
    """Raise JobError when `backend` cannot run here, or cannot run `task` (None: any task).

    `openvino` needs the `openvino` extra, and runs the encoder tasks only; `ctranslate2`
    needs the `ctranslate2` extra, and runs the generative ones only (summarize, translate,
    generate). ONNX Runtime and PyTorch run every task.
    """
    if backend not in BACKENDS:
        raise JobError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend not in EXTRAS:
        return
    packages, generative = EXTRAS[backend]
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise JobError(f"--backend {backend} needs {' and '.join(missing)}: install nlpbatch[{backend}]")
    if task is not None:
        from nlpbatch.tasks import get_task
        from nlpbatch.tasks.spec import GenerationSpec

        spec = get_task(task)
        if isinstance(spec, GenerationSpec) != generative:
            raise JobError(
                f"task {spec.name!r} generates text, which --backend {backend} does not support "
                "(it runs the encoder tasks); use --backend onnx or torch"
                if not generative
                else f"task {spec.name!r} does not generate text, and --backend {backend} runs only "
                "summarize, translate and generate; use --backend onnx or torch"
            )
