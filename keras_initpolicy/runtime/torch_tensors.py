"""Temporary torch tensors for draws, in memory that costs less to fill.

Filling a new tensor costs a page fault per 4 KiB page it touches. NumPy asks Linux for
transparent huge pages (``madvise``) on every allocation of 4 MiB or more, so a large CPU
tensor made from a NumPy array faults in 2 MiB at a time; torch's own allocator does so only
when the process starts with ``THP_MEM_ALLOC_ENABLE=1``. That pays for a buffer a draw fills,
reads and frees (the pages a freed buffer gave back are there for the next one): Keras's
truncated normal on torch draws four candidates per value into one. It does not pay for a
weight's own storage: a model keeps every weight, each needs new huge pages, and the kernel
zeroes and compacts memory to find them: a 200 M-parameter Llama built 25-40 % slower with its
weights there (benchmarks/README.md, "Drawing").
"""

from __future__ import annotations

import math

import numpy as np

from . import hooks

__all__ = ["scratch"]

#: NumPy's threshold for asking for huge pages: smaller buffers gain nothing.
_HUGE = 4 << 20
_NUMPY_DTYPES = {"float16", "float32", "float64"}


def scratch(shape, dtype: str):
    """An uninitialized tensor of ``shape`` and ``dtype`` (a Keras dtype name) for a draw to
    fill, read and drop: NumPy-backed when large, on the CPU and in a dtype NumPy has; else
    torch's own ``empty``."""
    import torch

    shape = tuple(int(d) for d in shape)
    device = hooks.torch_device()
    if (
        dtype in _NUMPY_DTYPES
        and str(device) == "cpu"
        and math.prod(shape) * np.dtype(dtype).itemsize >= _HUGE
    ):
        return torch.from_numpy(np.empty(shape, dtype))
    return torch.empty(shape, dtype=getattr(torch, dtype), device=device)
