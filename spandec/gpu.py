"""Where inference runs: device and autocast dtype chosen once, and the ZeroGPU decorator.

On a Hugging Face ZeroGPU Space (the ``spaces`` package importable and ``SPACES_ZERO_GPU`` set),
functions that run a model must be decorated with ``spaces.GPU``; :func:`on_gpu` does that there
and returns the function unchanged everywhere else.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

import torch

__all__ = ["zero_gpu", "on_gpu", "select_device", "autocast_dtype", "describe"]

F = TypeVar("F", bound=Callable)
DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space (``spaces`` importable and ZeroGPU switched on)."""
    try:
        import spaces.config
    except ImportError:
        return False
    return bool(spaces.config.Config.zero_gpu) or os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def on_gpu(fn: F) -> F:
    """``spaces.GPU(fn)`` on ZeroGPU (a GPU is attached for each call), ``fn`` itself elsewhere."""
    if not zero_gpu():
        return fn
    import spaces

    return spaces.GPU(fn)


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """The device asked for; else CUDA on ZeroGPU or when available; else CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not (torch.cuda.is_available() or zero_gpu()):
            raise ValueError(f"device {requested!r} asked for, but CUDA is not available here")
        return device
    return torch.device("cuda") if zero_gpu() or torch.cuda.is_available() else torch.device("cpu")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype on CUDA (bf16 where the GPU supports it, else fp16); None (fp32) elsewhere."""
    if device.type != "cuda":
        return None
    try:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    except (RuntimeError, AssertionError):  # no GPU attached yet (ZeroGPU at start-up)
        return torch.float16


def describe(device: torch.device) -> str:
    """One line for the UI: ``running on cpu, fp32`` or ``running on cuda:0 (NVIDIA ...), bf16 autocast``."""
    dtype = autocast_dtype(device)
    if device.type != "cuda":
        return f"running on {device.type}, fp32 ({torch.get_num_threads()} threads)"
    if zero_gpu():
        where = "ZeroGPU (a GPU attached per request)"
    else:
        index = device.index if device.index is not None else torch.cuda.current_device()
        where = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"running on {where}, {DTYPE_NAMES[dtype]} autocast"
