"""Model runtimes behind one small interface: numpy arrays in, numpy arrays out."""

from worker.runtime.base import Runtime

__all__ = ["Runtime"]
