"""Seeds: one derived seed per weight, and reseeded copies of random initializers.

What seeds promise: docs/reference.md#seeds.

Under ``@seed N`` every random weight built in a scope gets its own seed derived from ``N``, the
layer's order of creation, the weight's name and its occurrence — rule-decided weights, an
initializer written in code and kept (``@explicit keep``), and Keras defaults alike. An
initializer written in code keeps its class and parameters; only its seed changes, and a seed
the code set itself is kept. Under any policy, model code that hands one initializer instance to
several weights (Keras initializers draw the same values on every call) still gives each weight
its own stream.
"""

from __future__ import annotations

import hashlib

__all__ = ["derive_seed", "seed_in_code", "with_seed", "is_random", "stream_key"]

_MAX_SEED = 2**31 - 1


def derive_seed(
    policy_seed: int | None, rule_base: int | None, ordinal: int, weight: str, occurrence: int
) -> int | None:
    """A per-weight integer seed, stable across processes and backends (never Python's hash)."""
    if policy_seed is None and rule_base is None:
        return None
    text = f"{policy_seed}/{rule_base}/{ordinal}/{weight}/{occurrence}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") % _MAX_SEED


def _config(initializer) -> dict | None:
    try:
        config = initializer.get_config()
    except Exception:  # noqa: BLE001 - a user initializer's get_config may fail or be missing
        return None
    return config if isinstance(config, dict) else None


def is_random(initializer) -> bool:
    """True for initializers that draw from a seed (their config has a ``seed`` entry)."""
    config = _config(initializer)
    return config is not None and "seed" in config


def seed_in_code(initializer) -> bool:
    """True when the code that made ``initializer`` set its seed explicitly."""
    config = _config(initializer)
    return config is not None and config.get("seed") is not None


def with_seed(initializer, seed: int | None):
    """A copy of random ``initializer`` with ``seed`` (None: a fresh default seed, which follows
    ``keras.utils.set_random_seed``); same class and parameters. None when ``initializer`` is not
    random or cannot be rebuilt from its config (it is then left as it is)."""
    config = _config(initializer)
    if config is None or "seed" not in config:
        return None
    try:
        return type(initializer).from_config({**config, "seed": seed})
    except Exception:  # noqa: BLE001 - a user initializer that cannot round-trip its config
        return None


def stream_key(initializer) -> tuple | None:
    """What makes two initializers draw the same values: their class and the concrete seed they
    draw from (Keras gives an unseeded initializer a fixed default seed when it is made, and
    clones such as EinsumDense's copy that seed). None when ``initializer`` is not random."""
    seed = getattr(initializer, "seed", None)
    if seed is None or not is_random(initializer):
        return None
    if isinstance(seed, int) and not isinstance(seed, bool):
        return (type(initializer).__name__, seed)
    return (type(initializer).__name__, id(seed))  # a SeedGenerator: one stream per object
