"""Which function emits each diagnostic code (issue 10: one registry for every check).

``EMITTERS`` maps a code to the ``module:function`` names (relative to ``keras_initpolicy``) that
report it, so a reader goes from a code in ``docs/diagnostics.md`` straight to its check. Names
are strings: this module imports nothing, and ``tests/checks/test_registry.py`` checks that every
code of ``CODES`` is here, that each function exists, and that its source names the code.
"""

from __future__ import annotations

__all__ = ["EMITTERS"]

EMITTERS: dict[str, tuple[str, ...]] = {
    # the parser and the loader (positioned errors raised as PolicySyntaxError / PolicyError)
    "IP001": ("language.parser:parse_file",),
    "IP002": ("policy:read_policy_text", "policy:load_text"),
    # names, values, directives and fit (checks/names.py, checks/arguments.py, the catalogue)
    "IP101": ("checks.names:_check_selector",),
    "IP102": ("checks.names:_check_selector",),
    "IP103": ("checks.names:_check_predicate",),
    "IP104": ("checks.names:_check_predicate", "checks.names:_check_activation_values"),
    "IP105": ("catalog.initializers:check_call",),
    "IP106": (
        "catalog.initializers:check_call",
        "checks.arguments:check_expressions",
        "checks.arguments:_check_range",
    ),
    "IP107": ("checks.names:_check_directives", "checks.arguments:check_expressions"),
    "IP108": ("checks.names:_check_fit", "runtime.decision:build_error"),
    # initialization practice and the rule set (checks/practice.py)
    "IP201": ("checks.practice:_symmetric",),
    "IP202": ("checks.practice:_family",),
    "IP203": ("checks.practice:_family",),
    "IP204": ("checks.practice:_bias",),
    "IP205": ("checks.practice:_uniform_range",),
    "IP301": ("checks.practice:_dead_and_duplicate",),
    "IP302": ("checks.practice:_dead_and_duplicate",),
    "IP303": ("checks.practice:_targets_nothing",),
    # auditing a built model (analysis/audit.py, analysis/chains.py)
    "IP401": ("analysis.audit:_shared_streams",),
    "IP402": ("analysis.audit:_wrong_fans",),
    "IP403": ("analysis.audit:_symmetric",),
    "IP404": ("analysis.chains:_report",),
    "IP405": ("analysis.audit:_random_bias",),
}
