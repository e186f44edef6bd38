"""The analysed grammar is cached in the user's cache folder; a missing, unwritable or corrupt
cache never breaks parsing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = (
    "import keras_initpolicy as kip; "
    "p = kip.parse('Dense -> he_normal  # c'); "
    "print(p.rules[0].text, len(p.files[0].comments))"
)


def run(env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_INITPOLICY_NO_CACHE"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )


def test_cache_is_written_to_the_user_cache_folder_and_reused(tmp_path):
    for _ in range(2):
        out = run({"XDG_CACHE_HOME": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "Dense -> he_normal 1"
    cached = list((tmp_path / "keras-initpolicy").glob("grammar-*.cache"))
    assert len(cached) == 1


def test_corrupt_cache_is_ignored(tmp_path):
    run({"XDG_CACHE_HOME": str(tmp_path)})
    (cached,) = (tmp_path / "keras-initpolicy").glob("grammar-*.cache")
    cached.write_bytes(b"not a pickle at all")
    out = run({"XDG_CACHE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Dense -> he_normal 1"


@pytest.mark.parametrize("how", ["unwritable", "disabled"])
def test_no_cache_still_parses(tmp_path, how):
    if how == "unwritable":
        blocker = tmp_path / "file-not-folder"
        blocker.write_text("x")
        env = {"XDG_CACHE_HOME": str(blocker)}
    else:
        env = {"XDG_CACHE_HOME": str(tmp_path), "KERAS_INITPOLICY_NO_CACHE": "1"}
    out = run(env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Dense -> he_normal 1"
    if how == "disabled":
        assert not (tmp_path / "keras-initpolicy").exists()
