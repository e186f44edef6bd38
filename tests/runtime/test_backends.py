"""`@seed` means the same thing on every Keras backend.

Each backend builds the same seeded model (tests/probes/seeded_build.py) twice, in two fresh
processes: the two builds are bit-identical, and every kernel follows docs/reference.md#formulas.
Across backends the random streams differ (each backend has its own generator), so the check is
statistical: the samples of one weight from two backends come from the same distribution.

This module runs the backends in subprocesses and never imports Keras itself, so it belongs to
the backend-independent run and executes once.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")
PROBE = Path(__file__).resolve().parents[1] / "probes" / "seeded_build.py"
TRUNCATION_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]

# weight -> (distribution, family); shapes as built by the probe
KERNELS = {
    "conv.kernel": ("uniform", "he"),  # (3, 3, 32, 64)
    "squeeze.kernel": ("normal", "glorot"),  # (2304, 256)
    "relu.kernel": ("normal", "he"),  # (256, 512)
    "tanh.kernel": ("uniform", "glorot"),  # (512, 512)
    "head.kernel": ("normal", "glorot"),  # (512, 10)
}


def fans(shape):
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def expected(name, shape):
    """(bound, std) of docs/reference.md#formulas for a kernel of the probe model."""
    distribution, family = KERNELS[name]
    n_in, n_out = fans(shape)
    variance = 2 / n_in if family == "he" else 2 / (n_in + n_out)
    std = math.sqrt(variance)
    if distribution == "uniform":
        return math.sqrt(3) * std, std
    return 2 * std / TRUNCATION_STD, std  # truncated at two standard deviations of the raw normal


def available(backend):
    return importlib.util.find_spec(backend) is not None


def run_probe(backend, run, out):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONHASHSEED=str(run))
    result = subprocess.run(
        [sys.executable, str(PROBE), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        return result.stderr[-3000:]
    with np.load(out) as data:
        weights = {name: data[name] for name in data.files}
    assert str(weights.pop("backend")) == backend
    return weights


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """(backend, run) -> weights (or the error text): two fresh processes per backend.

    The six imports of Keras dominate; they run three at a time.
    """
    jobs = [(b, run) for b in BACKENDS if available(b) for run in (0, 1)]
    root = tmp_path_factory.mktemp("builds")
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            job: pool.submit(run_probe, *job, root / f"{job[0]}{job[1]}.npz") for job in jobs
        }
        return {job: future.result() for job, future in futures.items()}


def build(builds, backend, run=0):
    if not available(backend):
        pytest.skip(f"{backend} is not installed")
    weights = builds[backend, run]
    assert isinstance(weights, dict), f"{backend} build failed:\n{weights}"
    return weights


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeded_builds_are_bit_identical_across_processes(backend, builds):
    first = build(builds, backend)
    second = build(builds, backend, 1)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].dtype == second[name].dtype, name
        assert np.array_equal(first[name], second[name]), f"{backend}: {name} differs"


def beyond_allowed(backend):
    # Keras's torch backend keeps an untruncated draw when 4 tries all fall outside (-2, 2):
    # probability 0.0455**4 ~ 4e-6 per value.
    return 5e-5 if backend == "torch" else 0.0


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_follow_the_formula(backend, name, builds):
    x = build(builds, backend)[name].astype(np.float64).ravel()
    bound, std = expected(name, build(builds, backend)[name].shape)
    n = x.size
    magnitude = np.abs(x)
    assert np.mean(magnitude > bound * (1 + 1e-5)) <= beyond_allowed(backend)
    # the range is used up to its end: 99.9th percentile of |x| close to the bound
    assert np.quantile(magnitude, 0.999) > 0.95 * bound
    assert abs(x.mean()) < 5 * std / math.sqrt(n)
    # sample std: relative standard error <= 1/sqrt(2n); allow 6 of them (and 1% for n small)
    assert x.std() == pytest.approx(std, rel=max(6 / math.sqrt(2 * n), 0.01))


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return np.abs(cdf_a - cdf_b).max()


PAIRS = [(a, b) for i, a in enumerate(BACKENDS) for b in BACKENDS[i + 1 :]]


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_backends_draw_from_the_same_distribution(first, second, name, builds):
    a = build(builds, first)[name].astype(np.float64).ravel()
    b = build(builds, second)[name].astype(np.float64).ravel()
    assert a.shape == b.shape
    assert not np.array_equal(a, b)  # separate generators: only the distribution is shared
    n = a.size
    # KS at alpha = 0.001: c = 1.95; the samples are independent across backends
    assert ks_statistic(a, b) < 1.95 * math.sqrt(2 / n)
    assert a.std() == pytest.approx(b.std(), rel=max(8 / math.sqrt(n), 0.02))
    bound, _ = expected(name, build(builds, first)[name].shape)
    top_a, top_b = np.quantile(np.abs(a), 0.999), np.quantile(np.abs(b), 0.999)
    assert top_a == pytest.approx(top_b, rel=0.05)
    assert max(top_a, top_b) <= bound * (1 + 1e-5)


def test_placeholders_share_one_zeros_array_where_variables_copy_or_reference_it():
    """JAX arrays and TensorFlow tensors are immutable: one zeros array per shape serves every
    placeholder of a scope. torch's Parameter shares its tensor's storage and is assigned in
    place, so there each placeholder gets its own tensor."""
    code = (
        "import keras\n"
        "from keras_initpolicy.runtime.placeholders import Placeholder\n"
        "p = Placeholder()\n"
        "a, b = p((3, 4), 'float32'), p((3, 4), 'float32')\n"
        "c = p((4, 3), 'float32')\n"
        "v, w = keras.Variable(p, shape=(3, 4)), keras.Variable(p, shape=(3, 4))\n"
        "v.assign(keras.ops.ones((3, 4)))\n"
        "assert float(keras.ops.sum(w)) == 0.0, 'assigning one placeholder variable changed another'\n"
        "assert float(keras.ops.sum(a)) == 0.0 and tuple(c.shape) == (4, 3)\n"
        "print((a is b), len(p._cache))\n"
        "p.clear()\n"
        "print(len(p._cache))\n"
    )
    results = {}
    for backend in BACKENDS:
        if importlib.util.find_spec(backend if backend != "tensorflow" else "tensorflow") is None:
            pytest.fail(f"{backend} is not installed")
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        results[backend] = out.stdout.split()
    assert results["jax"] == ["True", "2", "0"]
    assert results["tensorflow"] == ["True", "2", "0"]
    assert results["torch"] == ["False", "0", "0"]
