"""ONNX exports for the suite from a fork server that has PyTorch and optimum imported already.

nlpbatch exports each model in a fresh child interpreter (worker.models.store._export_in_child),
so the processes that run a graph never import PyTorch. That child spends about 4 of its 5
seconds importing torch, transformers and optimum; the suite exports about a hundred tiny models.
Here, in the test processes only, each export still runs in a child process of its own (forked
from a server that imported those once), with the test's environment and working folder, runs
the same `worker.models.export.export` and answers as that child does: None, or why it failed,
which `_export` turns into its ModelLoadError. Processes a test starts (CLI runs, workers) keep
the real path, so it stays tested.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

PRELOAD = ["torch", "transformers", "optimum.exporters.onnx", "worker.models.export"]


def _child(conn: Connection, environ: dict[str, str], cwd: str, model_dir: str, task: str, out: str) -> None:
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    try:
        from worker.models.export import export

        export(Path(model_dir), task, Path(out))
        conn.send(None)
    except BaseException as exc:  # the parent raises it as a ModelLoadError, as for a child interpreter
        conn.send(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    finally:
        conn.close()


class ForkServerExports:
    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)

    def __call__(self, source: Any, export_task: str, out: Path) -> str | None:
        parent, child = self.ctx.Pipe(duplex=False)
        args = (child, dict(os.environ), os.getcwd(), str(source.path), export_task, str(out))
        proc = self.ctx.Process(target=_child, args=args)
        proc.start()
        child.close()
        try:
            failure = parent.recv() if parent.poll(600) else "no answer from the export process in 600 s"
        except EOFError:  # it died before answering
            proc.join(30)
            failure = f"exit status {proc.exitcode}"
        proc.join(30)
        return None if failure is None else str(failure).splitlines()[0]
