"""One root for every public exception (``kip.InitPolicyError``) and warning
(``kip.InitPolicyWarning``), each keeping the built-in base a caller expects. They live in
``errors.py`` and stay importable where they were; a class defined elsewhere must name a root
(or a class derived from one) among its bases. No Keras: the runtime modules are read, not
imported."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import keras_initpolicy as kip
from keras_initpolicy import errors
from keras_initpolicy.language import expressions

PACKAGE = Path(kip.__file__).resolve().parent
#: the names still importable from where they used to be defined
OLD_HOMES = {
    "cli.py": "UsageError",
    "analysis/calibrate.py": "CalibrationError",
    "analysis/diagnose.py": "PlotUnavailableError",
    "analysis/backends.py": "UnsupportedBackendError",
}
EXPECTED_BASES = {
    errors.PolicyError: ValueError,
    errors.PolicySyntaxError: errors.PolicyError,
    errors.CalibrationError: ValueError,
    errors.UnsupportedBackendError: RuntimeError,
    errors.PlotUnavailableError: RuntimeError,
    expressions.ExpressionError: ValueError,
    errors.UnusedRuleWarning: UserWarning,
    errors.ExplicitKeepWarning: UserWarning,
}


def _exception_classes() -> list[tuple[str, str, list[str]]]:
    """(module, class, base names) of every public class whose name or bases say it is an error,
    exception or warning, outside errors.py."""
    found = []
    suffixes = ("Error", "Exception", "Warning")
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = [ast.unparse(b).rpartition(".")[2] for b in node.bases]
            if node.name.endswith(suffixes) or any(b.endswith(suffixes) for b in bases):
                found.append((str(path.relative_to(PACKAGE)), node.name, bases))
    return found


def _public_classes() -> list[type]:
    classes = [getattr(errors, name) for name in errors.__all__]
    classes = [c for c in classes if isinstance(c, type) and issubclass(c, BaseException)]
    return classes + [expressions.ExpressionError]


def test_exception_classes_elsewhere_derive_from_a_root():
    rooted = {
        c.__name__
        for c in _public_classes()
        if issubclass(c, (errors.InitPolicyError, errors.InitPolicyWarning))
    } | {"InitPolicyError", "InitPolicyWarning"}
    unrooted = [
        f"{cls} in {module} (bases: {', '.join(bases) or 'none'})"
        for module, cls, bases in _exception_classes()
        if not rooted & set(bases)
    ]
    assert not unrooted, (
        "public exceptions must derive from kip.InitPolicyError (warnings from "
        "kip.InitPolicyWarning), both in keras_initpolicy/errors.py; best defined there too:\n"
        + "\n".join(unrooted)
    )


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__name__)
def test_every_public_exception_derives_from_the_root(cls):
    if issubclass(cls, Warning):
        assert issubclass(cls, kip.InitPolicyWarning)
        assert issubclass(cls, UserWarning)
    else:
        assert issubclass(cls, kip.InitPolicyError)
        assert issubclass(cls, Exception)
    if cls in EXPECTED_BASES:
        assert issubclass(cls, EXPECTED_BASES[cls])


def test_roots_are_exported():
    assert kip.InitPolicyError is errors.InitPolicyError
    assert kip.InitPolicyWarning is errors.InitPolicyWarning
    assert {"InitPolicyError", "InitPolicyWarning"} <= set(kip.__all__)
    assert issubclass(kip.InitPolicyError, Exception)
    assert not issubclass(kip.InitPolicyError, ValueError)  # the root is not a ValueError
    assert issubclass(kip.InitPolicyWarning, UserWarning)
    # kip.CalibrationError comes from errors.py: catching it needs no Keras
    assert kip.CalibrationError is errors.CalibrationError


@pytest.mark.parametrize("module, name", sorted(OLD_HOMES.items()))
def test_moved_classes_stay_importable_where_they_were(module, name):
    tree = ast.parse((PACKAGE / module).read_text("utf-8"))
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "errors"
        for alias in node.names
    }
    assert name in imported, f"{module} no longer imports {name} from errors.py"


def test_policy_errors_are_caught_by_the_root():
    with pytest.raises(kip.InitPolicyError):
        kip.parse("Dense -> ")
    with pytest.raises(kip.InitPolicyError):
        kip.load(PACKAGE / "no-such.initpolicy")
    with pytest.raises(ValueError):  # still a ValueError, as before
        kip.parse("Dense -> he_normel")


def test_errors_still_pickle():
    exc = errors.PolicySyntaxError("bad", source="p.initpolicy", line=1, column=2, code="IP001")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is errors.PolicySyntaxError and str(back) == str(exc)
    assert isinstance(back, kip.InitPolicyError)
