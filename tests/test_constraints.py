"""tools/constraints.txt, the versions CI installs: each pin is one exact version of a package the
project requires, inside the range pyproject.toml allows, and tools/test.sh installs with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from keras_initpolicy.project import _toml_loads

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def _ranges() -> dict[str, list[Requirement]]:
    loads = _toml_loads()
    if loads is None:  # Python 3.10 without tomli
        pytest.skip("no TOML reader: Python 3.10 needs tomli")
    project = loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed += extra
    ranges: dict[str, list[Requirement]] = {}
    for text in listed:
        req = Requirement(text)
        ranges.setdefault(canonicalize_name(req.name), []).append(req)
    return ranges


def test_every_pin_lies_in_the_range_pyproject_allows():
    ranges = _ranges()
    for name, version in _pins().items():
        for req in ranges.get(name, []):
            assert req.specifier.contains(version, prereleases=True), (name, version, str(req))


def test_the_frameworks_ruff_and_pytest_are_pinned():
    pinned = set(_pins())
    assert {
        "keras",
        "keras-hub",
        "tensorflow",
        "jax",
        "jaxlib",
        "numpy",
        "ruff",
        "pytest",
    } <= pinned


def test_tools_test_sh_installs_with_the_constraints():
    script = (ROOT / "tools" / "test.sh").read_text("utf-8")
    assert 'CONSTRAINTS="${CONSTRAINTS:-tools/constraints.txt}"' in script
    assert "--constraint" in script
