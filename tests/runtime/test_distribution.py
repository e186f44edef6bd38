"""Policies under distributed training: keras.distribution on JAX, tf.distribute on TensorFlow.

Each case runs a probe (tests/probes/) in a fresh process, because the device layout (two CPU
devices) must be fixed before the backend starts. The probes check that every replica holds the
same weights, that sharded kernels follow the policy's distribution and equal the single-device
seeded build, that a kernel large enough for Keras to initialize it under `jax.jit` works, and
that `fit` runs. This module never imports Keras, so it runs once, in the backend-independent run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBES = Path(__file__).resolve().parents[1] / "probes"


def run_probe(script, *args, backend, **env):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    result = subprocess.run(
        [sys.executable, str(PROBES / script), *args],
        env=dict(os.environ, KERAS_BACKEND=backend, **env),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("data", id="DataParallel"),
        pytest.param("model", id="ModelParallel-sharded-kernel"),
        pytest.param("large", id="ModelParallel-kernel-initialized-under-jit"),
    ],
)
def test_jax_keras_distribution(mode):
    out = run_probe(
        "jax_distribution.py",
        mode,
        backend="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
    )
    assert f"ok {mode}" in out


def test_jax_sharded_initialization_on_1x8_2x4_8x1_meshes_equals_one_device():
    """No device holds a whole sharded kernel, and a seeded build is the same on every mesh
    (runtime/draw.py leaves sharded initialization to Keras's own path under ``jax.jit``)."""
    out = run_probe(
        "jax_distribution.py",
        "meshes",
        backend="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
        JAX_PLATFORMS="cpu",
    )
    assert "ok meshes" in out


def test_tf_mirrored_strategy():
    out = run_probe("tf_mirrored.py", backend="tensorflow", CUDA_VISIBLE_DEVICES="")
    assert "ok mirrored" in out
