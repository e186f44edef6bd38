"""`import keras_initpolicy`, `initpolicy lint` and `initpolicy fmt` never import Keras or a backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"keras", "tensorflow", "jax", "jaxlib", "torch"}
POLICY = "@seed 1\nDense[activation=relu] -> he_normal\nConv2D -> auto\n*.bias -> zeros\n"


def imported_modules(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    assert "keras_initpolicy" in names  # the measurement itself worked
    return names


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "import keras_initpolicy as kip; kip.parse(open('p.initpolicy').read())"],
        ["-c", "import keras_initpolicy as kip; kip.lint('p.initpolicy')"],
        ["-m", "keras_initpolicy", "lint", "p.initpolicy"],
        ["-m", "keras_initpolicy", "lint", "--format", "json", "."],
        ["-m", "keras_initpolicy", "fmt", "--check", "p.initpolicy"],
        ["-m", "keras_initpolicy", "--help"],
    ],
    ids=["import-and-parse", "kip-lint", "cli-lint", "cli-lint-json-dir", "cli-fmt", "cli-help"],
)
def test_no_keras_or_backend_imported(tmp_path: Path, args):
    (tmp_path / "p.initpolicy").write_text(POLICY)
    assert heavy(imported_modules(args, tmp_path)) == []
