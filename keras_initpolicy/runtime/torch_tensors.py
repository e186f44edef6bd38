"""New torch tensors for draws and placeholders, in memory that costs less to fill.

Filling a new tensor costs a page fault per 4 KiB page it touches: about a quarter of a
normal draw's time, and more than a uniform's arithmetic (benchmarks/README.md, "Drawing").
NumPy asks Linux for transparent huge pages (``madvise``) on every allocation of 4 MiB or
more, so a large CPU tensor made from a NumPy array faults in 2 MiB at a time; torch's own
allocator does so only when the process starts with ``THP_MEM_ALLOC_ENABLE=1``. The tensor owns
the array (``torch.from_numpy``): same dtype, device, layout and values as ``torch.empty`` or
``torch.zeros`` would give. Anything else (another device, a dtype NumPy lacks, a small
tensor) is torch's own.
"""

from __future__ import annotations

import math

import numpy as np

from . import hooks

__all__ = ["empty", "zeros"]

#: NumPy's threshold for asking for huge pages: smaller tensors gain nothing.
_HUGE = 4 << 20
_NUMPY_DTYPES = {"float16", "float32", "float64"}


def empty(shape, dtype: str):
    """An uninitialized tensor of ``shape`` and ``dtype`` (a Keras dtype name), to be filled."""
    return _new(shape, dtype, np.empty)


def zeros(shape, dtype: str):
    """A tensor of zeros. Large ones come from ``calloc``: the pages are zeroed by the kernel
    when first touched, so a placeholder that is drawn into later is written once."""
    return _new(shape, dtype, np.zeros)


def _new(shape, dtype: str, numpy_new):
    import torch

    shape = tuple(int(d) for d in shape)
    device = hooks.torch_device()
    if (
        dtype in _NUMPY_DTYPES
        and str(device) == "cpu"
        and math.prod(shape) * np.dtype(dtype).itemsize >= _HUGE
    ):
        return torch.from_numpy(numpy_new(shape, dtype))
    make = torch.empty if numpy_new is np.empty else torch.zeros
    return make(shape, dtype=getattr(torch, dtype), device=device)
