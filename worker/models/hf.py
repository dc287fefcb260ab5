"""transformers with PyTorch only where a model runs in PyTorch, and GPU detection without it.

transformers imports PyTorch from its own package `__init__` whenever PyTorch is installed
(transformers/utils/generic.py), and it decides so once, at its first import, from the
USE_TORCH environment variable (transformers/utils/import_utils.py). Tokenizers and configs,
all the ONNX Runtime path needs, use none of it, and PyTorch costs about 250 MB and seconds of
start-up. So the first import here is torch-free unless PyTorch is already loaded or wanted;
the variable is set only for the duration of that import and restored, so neither this
process's later imports nor its child processes see it.

A process that then needs PyTorch after all (a worker given a generative job after an ONNX
one) gets transformers imported afresh with it: the tokenizers and configs already loaded keep
working with the classes they were made from.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _with_torch(module: ModuleType) -> bool:
    return bool(module.utils.import_utils.is_torch_available())


def light() -> ModuleType:
    """transformers for tokenizers and configs: imported without PyTorch unless it is loaded already."""
    module = sys.modules.get("transformers")
    if module is not None:
        return module
    if "torch" in sys.modules:
        return full()
    # The advisory says models are unavailable; here that is the point, not a problem.
    with _environ(USE_TORCH="0", TRANSFORMERS_NO_ADVISORY_WARNINGS="1"):
        import transformers
    return transformers


def full() -> ModuleType:
    """transformers with PyTorch, for models that run in PyTorch (on a GPU, or to generate)."""
    module = sys.modules.get("transformers")
    if module is not None and _with_torch(module):
        return module
    if module is not None:  # imported without PyTorch: import it again, with it
        for name in [n for n in sys.modules if n == "transformers" or n.startswith("transformers.")]:
            del sys.modules[name]
    import transformers

    return transformers


@functools.cache
def gpu_device_present() -> bool:
    """Whether this machine shows a GPU device, read from the driver without loading PyTorch."""
    nvidia = Path("/proc/driver/nvidia/gpus")
    if nvidia.is_dir() and any(nvidia.iterdir()):
        return True
    devices = Path("/dev")
    if any(devices.glob("nvidia[0-9]*")) or (devices / "kfd").exists():  # kfd: ROCm
        return True
    return shutil.which("nvidia-smi") is not None


@functools.cache
def cuda_available() -> bool:
    """Whether PyTorch can use a GPU; PyTorch is imported only where a GPU device is present."""
    if not gpu_device_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
