"""Layer-aware fan_in / fan_out (docs/reference.md#fans). Pure Python: nothing here imports Keras.

Keras computes fans from a kernel's shape alone (``shape_fans``). That is right for ``Dense`` and
ordinary convolutions but miscounts kernels whose axes mean something else:

- **depthwise kernels** ``(*kernel_size, in_channels, depth_multiplier)`` of ``DepthwiseConv*D``
  (named ``kernel`` in Keras 3; ``depthwise_kernel`` accepted too) and ``SeparableConv*D``
  (``depthwise_kernel``): each output channel sees one input channel, so
  ``fan_in = prod(kernel_size)`` and ``fan_out = prod(kernel_size) * depth_multiplier``;
- **grouped convolutions** (``groups > 1``): the kernel ``(*kernel_size, in/groups, filters)``
  already counts one group's inputs, and each input reaches only ``filters / groups`` outputs,
  so ``fan_out`` is divided by ``groups``;
- **transposed convolutions**: the kernel is ``(*kernel_size, filters, in_channels)``, so the
  roles of the last two axes swap;
- **EinsumDense** (and so ``MultiHeadAttention``'s projections): the equation says which kernel
  axes are contracted with the input (``fan_in``) and which reach the output (``fan_out``).

Everything else falls back to the shape rule.

>>> shape_fans((3, 3, 64, 128))
(576, 1152)
>>> layer_fans(("DepthwiseConv2D",), {}, "depthwise_kernel", (3, 3, 64, 1))
(9, 9)
>>> layer_fans(("EinsumDense",), {"equation": "abc,cde->abde"}, "kernel", (32, 4, 16))
(32, 64)
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

__all__ = ["layer_fans", "shape_fans", "einsum_fans", "fan_attributes", "FAN_MODES"]

FAN_MODES = ("layer", "shape")

_DEPTHWISE = {"BaseDepthwiseConv", "DepthwiseConv1D", "DepthwiseConv2D"}
_SEPARABLE = {"BaseSeparableConv", "SeparableConv1D", "SeparableConv2D"}
_TRANSPOSE = {"BaseConvTranspose", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}


def shape_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's shape-only rule (``keras.src.initializers.random_initializers.compute_fans``).

    >>> shape_fans(()), shape_fans((7,)), shape_fans((256, 512))
    ((1, 1), (7, 7), (256, 512))
    """
    return _shape_fans(_int_shape(shape))


def _int_shape(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of Python ints (returned as is when it already is one: the common,
    per-weight case)."""
    if type(shape) is tuple:
        for d in shape:
            if type(d) is not int:
                break
        else:
            return shape
    return tuple(int(d) for d in shape)


@lru_cache(maxsize=4096)  # called for every weight; models repeat a few shapes
def _shape_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def einsum_fans(equation: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """Fans of an EinsumDense kernel from its equation, or None if the equation does not fit.

    ``fan_in`` multiplies the kernel dims whose letter is contracted (in the input and the
    kernel, not in the output); ``fan_out`` those whose letter appears in the output.

    >>> einsum_fans("abcd,cde->abe", (4, 16, 32))
    (64, 32)
    >>> einsum_fans("...b,bc->...c", (8, 3))
    (8, 3)
    """
    if not isinstance(equation, str) or "->" not in equation:
        return None
    lhs, output = equation.replace(" ", "").split("->", 1)
    operands = lhs.split(",")
    if len(operands) != 2:
        return None
    inputs, kernel = (op.replace("...", "") for op in operands)
    output = output.replace("...", "")
    if len(kernel) != len(shape) or len(set(kernel)) != len(kernel):
        return None
    fan_in = prod(d for c, d in zip(kernel, shape, strict=True) if c in inputs and c not in output)
    fan_out = prod(d for c, d in zip(kernel, shape, strict=True) if c in output)
    return int(fan_in), int(fan_out)


def _config_int(config: dict, key: str, default: int = 1) -> int:
    value = config.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def layer_fans(
    class_names: tuple[str, ...],
    config: dict,
    weight_name: str,
    shape: tuple[int, ...],
    mode: str = "layer",
) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of one weight, from what its layer does with it.

    ``class_names`` is the layer's MRO (most derived first), ``config`` its ``get_config()``.
    ``mode="shape"`` gives Keras's shape-only rule.

    >>> layer_fans(("Conv2D",), {"groups": 4}, "kernel", (3, 3, 4, 64))
    (36, 144)
    >>> layer_fans(("Conv2DTranspose",), {}, "kernel", (3, 3, 8, 4))
    (36, 72)
    >>> layer_fans(("Conv2D",), {"groups": 4}, "kernel", (3, 3, 4, 64), mode="shape")
    (36, 576)
    """
    if mode not in FAN_MODES:
        raise ValueError(f"Argument `mode` must be one of layer, shape. Received: mode={mode!r}")
    shape = _int_shape(shape)
    fan_in, fan_out = _shape_fans(shape)
    if mode == "shape" or len(shape) < 2:
        return fan_in, fan_out
    kind = _weight_kind(class_names, weight_name)
    if kind == "depthwise" and len(shape) >= 3:
        receptive_field = prod(shape[:-2])
        return receptive_field, receptive_field * shape[-1]
    if kind in ("other", "depthwise"):
        return fan_in, fan_out
    config = config or {}
    if kind == "einsum":
        fans = einsum_fans(config.get("equation", ""), shape)
        return fans if fans is not None else (fan_in, fan_out)
    if kind == "transpose" and len(shape) >= 3:
        fan_in, fan_out = fan_out, fan_in
    groups = _config_int(config, "groups")
    if groups > 1 and len(shape) >= 3:
        fan_out = fan_out // groups if fan_out % groups == 0 else fan_out / groups
    return fan_in, fan_out


@lru_cache(maxsize=4096)
def fan_attributes(class_names: tuple[str, ...], weight_name: str) -> tuple[str, ...]:
    """The layer attributes ``layer_fans`` reads for this weight of a layer of these classes
    (what a cache of its results must key on).

    >>> fan_attributes(("Conv2D",), "kernel"), fan_attributes(("Dense",), "bias")
    (('groups',), ())
    """
    kind = _weight_kind(class_names, weight_name)
    if kind == "einsum":
        return ("equation",)
    return ("groups",) if kind in ("kernel", "transpose") else ()


@lru_cache(maxsize=4096)  # called for every weight; a model has a few layer classes
def _weight_kind(class_names: tuple[str, ...], weight_name: str) -> str:
    """How ``layer_fans`` treats a weight: ``depthwise``, ``einsum``, ``transpose``, ``kernel``
    (a plain kernel, maybe grouped) or ``other`` (the shape rule)."""
    names = set(class_names)
    # Keras 3 names DepthwiseConv*D's weight `kernel`, SeparableConv*D's `depthwise_kernel`.
    if (weight_name == "depthwise_kernel" and names & (_DEPTHWISE | _SEPARABLE)) or (
        weight_name == "kernel" and names & _DEPTHWISE
    ):
        return "depthwise"
    if weight_name != "kernel":
        return "other"
    if "EinsumDense" in names:
        return "einsum"
    return "transpose" if names & _TRANSPOSE else "kernel"
