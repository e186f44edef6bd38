"""Packaging (issue 7): the wheel ships the grammar and the layer catalogue, and a plain install
without Keras or any backend imports, parses, lints and formats.

One wheel is built from a copy of the repository (so no ``build/`` or ``*.egg-info`` lands in
the checkout) and installed with ``--no-deps`` into one clean venv together with ``lark`` only.
The ``lark`` wheel comes from ``pip download`` (the pip cache or the index); the build uses the
dev environment's setuptools (``--no-build-isolation``), so no other download is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("gpt2", "megatron", "llama_depth", "olmo_mitchell", "deepnet", "fixup", "mup")
SHIPPED = [
    "keras_initpolicy/__init__.py",
    "keras_initpolicy/__main__.py",
    "keras_initpolicy/grammars/initpolicy.lark",
    "keras_initpolicy/catalog/data/keras_layers.json",
    "keras_initpolicy/language/parser.py",
    "keras_initpolicy/checks/lint.py",
    "keras_initpolicy/runtime/hooks.py",
    *(f"keras_initpolicy/presets/{name}.initpolicy" for name in PRESETS),
]

pytestmark = pytest.mark.slow


def run(cmd, cwd, timeout=120, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """A directory with the keras-initpolicy wheel and a lark wheel."""
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("keras_initpolicy", "grammars"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    house = tmp / "wheelhouse"
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", house, src], cwd=tmp)
    lark_version = metadata.version("lark")
    proc = run(
        [
            *pip,
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            house,
            f"lark=={lark_version}",
        ],
        cwd=tmp,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot obtain a lark wheel (offline, empty pip cache?): {proc.stderr[-500:]}")
    return house


def the_wheel(house: Path) -> Path:
    [wheel] = house.glob("keras_initpolicy-*.whl")
    return wheel


def test_wheel_ships_grammar_and_catalogue(wheelhouse):
    with zipfile.ZipFile(the_wheel(wheelhouse)) as zf:
        names = set(zf.namelist())
        for path in SHIPPED:
            assert path in names, f"{path} missing from the wheel"
        assert zf.read("keras_initpolicy/grammars/initpolicy.lark").decode("utf-8") == (
            ROOT / "grammars" / "initpolicy.lark"
        ).read_text("utf-8")
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "initpolicy = keras_initpolicy.entry:script" in zf.read(entry_points).decode()
    assert not any(n.startswith(("tests/", "examples/", "tools/")) for n in names)
    assert not any(n.endswith((".pyc", ".lark.cache")) for n in names)


@pytest.fixture(scope="module")
def clean_venv(wheelhouse, tmp_path_factory) -> Path:
    """A venv holding keras-initpolicy (no deps) and lark — no Keras, numpy or backend."""
    venv = tmp_path_factory.mktemp("venv") / "clean"
    run([sys.executable, "-m", "venv", venv], cwd=venv.parent)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--find-links",
            wheelhouse,
            the_wheel(wheelhouse),
            "lark",
        ],
        cwd=venv.parent,
    )
    return python


def test_clean_venv_has_no_keras_and_no_backend(clean_venv, tmp_path):
    code = (
        "import importlib.util as u\n"
        "print([m for m in ('keras', 'numpy', 'tensorflow', 'jax', 'torch') if u.find_spec(m)])"
    )
    assert run([clean_venv, "-c", code], cwd=tmp_path).stdout.strip() == "[]"


def test_import_and_parse_without_keras(clean_venv, tmp_path):
    code = (
        "import sys, keras_initpolicy as kip\n"
        "p = kip.parse('@seed 7\\nDense[activation=relu] -> he_normal\\n*.bias -> zeros')\n"
        "print(p.seed, [r.text for r in p.rules])\n"
        "print(kip.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'numpy')))\n"
        "print(len(kip.parse('@include \"preset:gpt2\"').rules))\n"
    )
    out = run([clean_venv, "-c", code], cwd=tmp_path).stdout.splitlines()
    assert out[0] == "7 ['Dense[activation=relu] -> he_normal', '*.bias -> zeros']"
    installed = Path(out[1]).resolve()
    assert clean_venv.parent.parent.resolve() in installed.parents  # the installed copy, not ROOT
    assert out[2] == "[]"
    assert out[3] == "3"  # the preset ships in the wheel and resolves from the installed copy


def test_lint_and_fmt_examples_without_keras(clean_venv, tmp_path):
    shutil.copytree(ROOT / "examples" / "policies", tmp_path / "policies")
    proc = run([clean_venv, "-m", "keras_initpolicy", "lint", "policies/"], cwd=tmp_path)
    assert proc.stdout.strip() == "" and proc.stderr.strip() == ""
    script = clean_venv.parent / ("initpolicy.exe" if sys.platform == "win32" else "initpolicy")
    run([script, "lint", "--format", "json", "policies"], cwd=tmp_path)
    bad = tmp_path / "policies" / "bad.initpolicy"
    bad.write_text("Dense -> he_normel\nLSTM -> orthogonal\n", "utf-8")
    proc = run([script, "lint", "policies"], cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "bad.initpolicy:1:10: IP105" in proc.stdout
    assert "Traceback" not in proc.stderr
    bad.unlink()
    proc = run([script, "fmt", "--check", "policies"], cwd=tmp_path, check=False)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr


@pytest.mark.parametrize("model", ["m.keras", "builders:build"])
def test_explain_without_keras_is_a_clear_error(clean_venv, tmp_path, model):
    """Regression: ``explain`` in an install without Keras once ended in a traceback."""
    (tmp_path / "p.initpolicy").write_text("Dense -> he_normal\n", "utf-8")
    (tmp_path / "m.keras").write_bytes(b"not really a model")
    (tmp_path / "builders.py").write_text("def build():\n    return None\n", "utf-8")
    proc = run(
        [clean_venv, "-m", "keras_initpolicy", "explain", "p.initpolicy", "--model", model],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "needs Keras and a backend" in proc.stderr
