"""keras-initpolicy: declarative weight-initialization policies for Keras 3.

``import keras_initpolicy as kip`` is cheap: it never imports Keras or a backend. The Keras side
(``Policy.scope``, ``apply_policy``, ``Policy.explain``) loads on first use.

>>> import keras_initpolicy as kip
>>> policy = kip.parse("Dense[activation=relu] -> he_normal")
>>> policy.rules[0].init.name
'he_normal'
"""

from __future__ import annotations

from .errors import (
    CalibrationError,
    ExplicitKeepWarning,
    InitPolicyError,
    InitPolicyWarning,
    PolicyError,
    PolicySyntaxError,
    UnusedRuleWarning,
)

__version__ = "0.1.0"

__all__ = [
    "Assignment",
    "CalibrationError",
    "CalibrationReport",
    "Diagnostic",
    "ExplicitKeepWarning",
    "Explanation",
    "InitPolicyError",
    "InitPolicyWarning",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "UnusedRuleWarning",
    "Finding",
    "apply_policy",
    "audit",
    "calibrate",
    "compare",
    "lint",
    "load",
    "parse",
    "project_policy",
    "suggest_policy",
    "__version__",
]

# Names served lazily: module -> attribute, imported on first use. The runtime ones touch Keras;
# the language ones load Lark. So ``import keras_initpolicy`` costs almost nothing, and the
# ``initpolicy`` executable (``entry.py``) can set up the process before anything heavy loads.
_LAZY = {
    "Diagnostic": ("checks.diagnostics", "Diagnostic"),
    "lint": ("checks.lint", "lint"),
    "Policy": ("policy", "Policy"),
    "load": ("policy", "load"),
    "parse": ("policy", "parse"),
    "apply_policy": ("runtime.scope", "apply_policy"),
    "Explanation": ("analysis.explain", "Explanation"),
    "Assignment": ("analysis.explain", "Assignment"),
    "project_policy": ("policy", "project_policy"),
    "calibrate": ("analysis.calibrate", "calibrate"),
    "CalibrationReport": ("analysis.calibrate", "CalibrationReport"),
    "audit": ("analysis.audit", "audit"),
    "compare": ("analysis.compare", "compare"),
    "suggest_policy": ("analysis.suggest", "suggest_policy"),
    "Finding": ("checks.diagnostics", "Finding"),
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        value = getattr(import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_initpolicy' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
