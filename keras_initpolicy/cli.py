"""The ``initpolicy`` command line: ``lint``, ``fmt``, ``explain``, ``audit``, ``lsp`` (and
``diagnose`` when present).

``lint`` and ``fmt`` never import Keras or a backend; ``explain``, ``diagnose`` and
``lint --custom-layers`` do, when they run. Behaviour and exit codes: ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .catalog.layers import register_from_classes
from .checks.diagnostics import SEVERITY_RANK, Diagnostic
from .checks.lint import code_filter, lint, lint_text
from .checks.report import FORMATTERS, format_diagnostics, summary
from .config import CONFIG_TABLE, FAIL_ON, command_of, load_lint_config
from .config import comma_list as _comma_list
from .errors import (
    PlotUnavailableError,
    PolicyError,
    PolicySyntaxError,
    UnusedRuleWarning,
    UsageError,
)
from .policy import as_policy, read_policy_text

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "CONFIG_TABLE"]

EXIT_OK = 0  # clean (lint), nothing to change (fmt --check), success
EXIT_FINDINGS = 1  # findings at or above --fail-on; fmt --check: files would change
EXIT_USAGE = 2  # bad arguments or configuration, missing/unreadable paths, unparsable fmt input

STDIN = "-"
STDIN_SOURCE = "<stdin>"
POLICY_GLOB = "*.initpolicy"


def _error(message: str) -> None:
    print(f"initpolicy: error: {message}", file=sys.stderr)


# -- file discovery ---------------------------------------------------------------------------


def _expand(paths: Sequence[str], problems: list[str]) -> Iterator[str]:
    """Files to process: ``-`` as is, directories searched for ``*.initpolicy`` (hidden folders
    skipped), files as given. Missing paths are recorded in ``problems``."""
    seen: set[str] = set()
    for raw in paths:
        if raw == STDIN:
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob(POLICY_GLOB)):
                rel = found.relative_to(path).parts
                if any(part.startswith(".") for part in rel[:-1]) or not found.is_file():
                    continue
                key = str(found)
                if key not in seen:
                    seen.add(key)
                    yield key
        elif path.exists():
            if raw not in seen:
                seen.add(raw)
                yield raw
        else:
            problems.append(f"no such file or directory: {raw!r}")


def _read(path: str) -> str:
    """A policy file's text; an unreadable file is a ``UsageError``, bad UTF-8 a ``PolicyError``."""
    try:
        return read_policy_text(path)
    except PolicyError as exc:
        if exc.code == "IP002":
            raise UsageError(exc.message) from None
        raise


# -- lint -------------------------------------------------------------------------------------


def _register_custom_layers(specs: list[str]) -> None:
    """Import ``module`` or ``module:Class`` specs and register their Layer subclasses."""
    try:
        import keras
    except Exception as exc:  # noqa: BLE001 - any backend failure is a usage problem here
        raise UsageError(f"--custom-layers needs Keras, which failed to import: {exc}") from None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    classes = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - user code; report, don't trace
            raise UsageError(f"cannot import custom layer module {module_name!r}: {exc}") from None
        if attr:
            if not hasattr(module, attr):
                raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
            classes.append(getattr(module, attr))
            continue
        classes.extend(
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, keras.layers.Layer)
            and obj.__module__ == module.__name__
        )
    register_from_classes(classes)


def _run_lint(args: argparse.Namespace) -> int:

    config = load_lint_config()
    select = args.select if args.select is not None else config.get("select")
    ignore = args.ignore if args.ignore is not None else config.get("ignore")
    fail_on = args.fail_on or config.get("fail-on", "warning")
    out_format = args.format or config.get("format", "text")
    custom = args.custom_layers if args.custom_layers is not None else config.get("custom-layers")
    if fail_on not in FAIL_ON:
        raise UsageError(f"fail-on must be one of {', '.join(FAIL_ON)}; received {fail_on!r}")
    if out_format not in FORMATTERS:
        raise UsageError(f"format must be one of {', '.join(FORMATTERS)}; received {out_format!r}")
    select = None if select is None else _comma_list(select)
    ignore = _comma_list(ignore)
    try:
        code_filter(select, ignore)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if _comma_list(custom):
        _register_custom_layers(_comma_list(custom))

    problems: list[str] = []
    texts: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for path in _expand(args.paths or ["."], problems):
        try:
            if path == STDIN:
                texts[STDIN_SOURCE] = sys.stdin.read()
                found = lint_text(
                    texts[STDIN_SOURCE], source=STDIN_SOURCE, select=select, ignore=ignore
                )
            else:
                texts[path] = _read(path)
                found = lint(Path(path), select=select, ignore=ignore, source=path)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        except PolicyError as exc:  # not UTF-8: a finding on that file
            found = [
                Diagnostic.make(
                    exc.code or "IP001", exc.line or 1, exc.column or 1, exc.message, exc.source
                )
            ]
        except OSError as exc:
            problems.append(f"cannot read {path!r}: {exc.strerror or exc}")
            continue
        diagnostics.extend(d for d in found if d not in diagnostics)

    output = format_diagnostics(diagnostics, out_format, texts)
    if out_format == "json" or output:
        print(output)
    if out_format == "text" and diagnostics:
        print(summary(diagnostics))
    for problem in problems:
        _error(problem)
    if problems:
        return EXIT_USAGE
    if fail_on == "never":
        return EXIT_OK
    threshold = SEVERITY_RANK[fail_on]
    failing = any(SEVERITY_RANK.get(d.severity, 2) >= threshold for d in diagnostics)
    return EXIT_FINDINGS if failing else EXIT_OK


# -- fmt --------------------------------------------------------------------------------------


def _run_fmt(args: argparse.Namespace) -> int:
    from .language.fmt import format_policy  # late: `initpolicy lint` (pre-commit) never needs it

    problems: list[str] = []
    changed: list[str] = []
    unchanged = 0
    status = EXIT_OK
    for path in _expand(args.paths, problems):
        source = STDIN_SOURCE if path == STDIN else path
        try:
            text = sys.stdin.read() if path == STDIN else _read(path)
            formatted = format_policy(text, source)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        except PolicyError as exc:  # syntax error or bad UTF-8: positioned, with a caret
            print(str(exc), file=sys.stderr)
            status = EXIT_USAGE
            continue
        if path == STDIN:
            if not args.check:
                sys.stdout.write(formatted)
            if formatted != text:
                changed.append(source)
            continue
        if formatted == text:
            unchanged += 1
            continue
        changed.append(path)
        if args.diff:
            import difflib  # late: only `fmt --diff` needs it

            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    f"{path} (original)",
                    f"{path} (formatted)",
                )
            )
        if args.check:
            print(f"would reformat {path}")
        elif not args.diff:
            try:
                with open(path, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(formatted)
            except OSError as exc:
                problems.append(f"cannot write {path!r}: {exc.strerror or exc}")
                continue
            print(f"reformatted {path}", file=sys.stderr)
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    files = [p for p in changed if p != STDIN_SOURCE]
    if files or unchanged:
        print(
            f"{len(files)} file{'s' * (len(files) != 1)} {verb}, {unchanged} left unchanged",
            file=sys.stderr,
        )
    for problem in problems:
        _error(problem)
    if problems or status:
        return EXIT_USAGE
    return EXIT_FINDINGS if (args.check or args.diff) and changed else EXIT_OK


# -- explain ----------------------------------------------------------------------------------


def _import_builder(spec: str, option: str = "--model"):
    module_name, sep, func_name = spec.rpartition(":")
    if not sep or not module_name or not func_name:
        allowed = "MODULE:FUNCTION or a .keras file" if option == "--model" else "MODULE:FUNCTION"
        raise UsageError(f"{option} expects {allowed}; received {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if module_name.endswith(".py"):
            if not Path(module_name).is_file():
                raise UsageError(f"no such file: {module_name!r}")
            mod_spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - user code: report it without a traceback
        raise UsageError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    builder = getattr(module, func_name, None)
    if not callable(builder):
        raise UsageError(f"{module_name!r} has no function {func_name!r}")
    return builder


def _load_policy(path: str):
    """The policy file a command was given; a missing file is a ``UsageError``."""
    if not Path(path).is_file():
        raise UsageError(f"no such policy file: {path!r}")
    return as_policy(path)


def _run_explain(args: argparse.Namespace) -> int:
    try:
        policy = _load_policy(args.policy)
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    spec = args.model
    if spec.endswith(".keras") or (Path(spec).is_file() and ":" not in spec):
        if not Path(spec).is_file():
            raise UsageError(f"no such model file: {spec!r}")
        import keras

        try:
            model = keras.saving.load_model(spec)
        except Exception as exc:  # noqa: BLE001 - corrupt or foreign file
            raise UsageError(f"cannot load {spec!r}: {type(exc).__name__}: {exc}") from None
    else:
        builder = _import_builder(spec)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnusedRuleWarning)
                with policy.scope():
                    model = builder()
        except PolicyError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FINDINGS
        for w in caught:  # one short line per unused rule; others as Python shows them
            if issubclass(w.category, UnusedRuleWarning):
                print(f"warning: {w.message}", file=sys.stderr)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    explanation = policy.explain(model)
    if args.format == "json":
        import json  # late: only JSON output needs it

        to_json = getattr(explanation, "to_json", None)
        print(to_json() if to_json else json.dumps(explanation.to_dict(), indent=2))
    else:
        print(explanation.to_table())
    return EXIT_OK


# -- audit ------------------------------------------------------------------------------------


def _load_model_file(spec: str):
    """A saved ``.keras`` (or legacy ``.h5``) model; an unreadable file is a ``UsageError``."""
    if not Path(spec).is_file():
        raise UsageError(f"no such model file: {spec!r}")
    import keras

    try:
        return keras.saving.load_model(spec)
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign file
        raise UsageError(f"cannot load {spec!r}: {type(exc).__name__}: {exc}") from None


def _run_audit(args: argparse.Namespace) -> int:
    """``initpolicy audit``: findings IP401-IP405 about a model's initial weights (docs/audit.md)."""

    try:
        keep = code_filter(_comma_list(args.select) if args.select else None, args.ignore)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    policy = None
    if args.policy is not None:
        try:
            policy = _load_policy(args.policy)
        except PolicyError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_USAGE
    spec = args.model
    if spec.endswith((".keras", ".h5")) or (Path(spec).is_file() and ":" not in spec):
        model = _load_model_file(spec)
    else:
        builder = _import_builder(spec)
        try:
            if policy is None:
                model = builder()
            else:
                with policy.scope():
                    model = builder()
        except PolicyError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FINDINGS
        except Exception as exc:  # noqa: BLE001 - user code: report it without a traceback
            raise UsageError(f"building the model with {spec!r} failed: {exc!r}") from None
    from .analysis.audit import Findings, audit  # late: imports Keras

    findings = Findings(f for f in audit(model, policy, source=spec) if keep(f.code))
    if args.suggest:
        from .analysis.suggest import suggest_policy  # late: imports Keras

        print(suggest_policy(findings, model, source=spec), end="")
        if findings:
            print(summary(findings), file=sys.stderr)
    else:
        output = format_diagnostics(findings, args.format, {})
        if args.format == "json" or output:
            print(output)
        if args.format == "text" and findings:
            print(summary(findings))
    if args.fail_on == "never":
        return EXIT_OK
    threshold = SEVERITY_RANK[args.fail_on]
    return EXIT_FINDINGS if any(SEVERITY_RANK[f.severity] >= threshold for f in findings) else 0


# -- parser -----------------------------------------------------------------------------------


def _run_lsp(args: argparse.Namespace) -> int:
    """``initpolicy lsp``: the language server on stdio until the client ends it (docs/editors.md).
    Imported here, not at the top: pygls is an optional extra, and the server never imports Keras.
    """
    try:
        from .lsp.server import serve  # late: pygls is an optional extra
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        raise UsageError(
            f"`initpolicy lsp` needs pygls ({exc}); install it with: "
            "pip install 'keras-initpolicy[lsp]'"
        ) from None
    serve()
    return EXIT_OK


def _diagnose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy", metavar="POLICY")
    parser.add_argument("--model", required=True, metavar="MODULE:FUNCTION")
    parser.add_argument(
        "--compare",
        default=None,
        metavar="OTHER.initpolicy|keras",
        help="a second policy, or `keras` for Keras's own defaults",
    )
    parser.add_argument("--batch", type=int, default=32, metavar="N", help="default: 32")
    parser.add_argument("--inputs", default=None, metavar="FILE.npy", help="the input batch")
    parser.add_argument("--plot", default=None, metavar="OUT.png", help="save a plot")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument(
        "--calibrate",
        default=None,
        metavar="METHOD",
        help="also show the policy's model after data-dependent calibration on the batch (lsuv)",
    )
    parser.set_defaults(run=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> int:
    """``initpolicy diagnose``; exit 0 success, 1 the build failed, 2 usage or I/O problem."""
    import numpy as np

    from .analysis import diagnose as diag  # late: imports Keras

    compare_is_policy = args.compare not in (None, diag.KERAS_RUN)
    for p in (args.policy, *([args.compare] if compare_is_policy else [])):
        if not Path(p).is_file():
            raise UsageError(f"no such policy file: {p!r}")
    if args.batch < 1:
        raise UsageError(f"--batch must be positive; received {args.batch}")
    try:
        policy = as_policy(args.policy)
        compare = as_policy(args.compare) if compare_is_policy else args.compare
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    inputs = None
    if args.inputs is not None:
        try:
            inputs = np.load(args.inputs)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --inputs {args.inputs!r}: {exc}") from None
    builder = _import_builder(args.model)
    try:
        report = diag.diagnose(
            policy,
            builder,
            compare=compare,
            batch=args.batch,
            inputs=inputs,
            seed=args.seed,
            calibrate=args.calibrate,
        )
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FINDINGS
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(report.to_json() if args.format == "json" else report.to_table())
    if args.plot:
        title = f"initpolicy diagnose {Path(args.policy).name}"
        _write_plot(diag.plot, report, args.plot, title)
    return EXIT_OK


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "policies",
        nargs="+",
        metavar="POLICY",
        help="policy files, preset:NAME, or `keras` for the model's own initializers",
    )
    parser.add_argument(
        "--model", required=True, metavar="MODULE:FUNCTION", help="returns a compiled model"
    )
    parser.add_argument(
        "--data", required=True, metavar="MODULE:FUNCTION", help="returns what Model.fit accepts"
    )
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="default: 100")
    parser.add_argument(
        "--log-every", type=int, default=None, metavar="K", help="default: steps/20"
    )
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="runs per policy (3)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="the first seed (0)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="array data")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--plot", default=None, metavar="OUT.png", help="save the loss curves")
    parser.set_defaults(run=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    """``initpolicy compare``; exit 0 success (diverged runs included), 1 a build raised a
    ``PolicyError``, 2 usage, data or I/O problems."""
    from .analysis import compare as cmp  # late: imports Keras

    for name, value in (("--steps", args.steps), ("--seeds", args.seeds)):
        if value < 1:
            raise UsageError(f"{name} must be a positive integer; received {value}")
    if args.log_every is not None and args.log_every < 1:
        raise UsageError(f"--log-every must be a positive integer; received {args.log_every}")
    try:
        policies = _compare_policies(cmp, args.policies)
    except cmp.CompareError as exc:
        raise UsageError(str(exc)) from None
    except PolicyError as exc:  # a policy that does not load: positioned, with a caret
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    builder = _import_builder(args.model)
    data = _import_builder(args.data, "--data")
    try:
        report = cmp.compare(
            policies,
            builder,
            data,
            steps=args.steps,
            log_every=args.log_every,
            seeds=range(args.seed, args.seed + args.seeds),
            batch_size=args.batch_size,
            data_name=f"--data {args.data!r}",
        )
    except cmp.CompareError as exc:
        raise UsageError(str(exc)) from None
    except PolicyError as exc:  # a rule that cannot fit a weight of the model
        print(str(exc), file=sys.stderr)
        return EXIT_FINDINGS
    print(report.to_json() if args.format == "json" else report.to_table())
    if args.plot:
        _write_plot(cmp.plot, report, args.plot, f"initpolicy compare ({args.steps} steps)")
    return EXIT_OK


def _write_plot(plot, report, path: str, title: str) -> None:
    """``plot(report, path, title=...)``; no matplotlib or an unwritable path: a usage error."""
    try:
        plot(report, path, title=title)
    except PlotUnavailableError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def _compare_policies(cmp, specs: list[str]) -> dict:
    """``{name: Policy or "keras"}``, each loaded now so that a bad policy stops the command
    before any training; a name given twice gets ``-2``, ``-3``."""
    out: dict = {}
    for spec in specs:
        name, policy = cmp.resolve_policy(spec)
        unique, k = name, 2
        while unique in out:
            unique, k = f"{name}-{k}", k + 1
        out[unique] = cmp.KERAS_RUN if policy is None else policy
    return out


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of every command; with ``command`` (one of ``COMMANDS``), a parser
    that knows only that one: the same usage, help and errors for it, built in a fraction of
    the time (a lint run starts once per commit)."""
    parser = argparse.ArgumentParser(
        prog="initpolicy",
        description="Lint, format and explain keras-initpolicy weight-initialization policies.",
    )
    parser.add_argument("--version", action="version", version=f"initpolicy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (summary_text, add_arguments) in COMMANDS.items():
        if command in COMMANDS and name != command:
            continue
        add_arguments(sub.add_parser(name, help=summary_text))
    return parser


def _lint_arguments(lint_p: argparse.ArgumentParser) -> None:
    lint_p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, directories (searched for *.initpolicy) or - for stdin; "
        "default: the current directory",
    )
    lint_p.add_argument(
        "--format", choices=list(FORMATTERS), default=None, help="output format (default: text)"
    )
    lint_p.add_argument(
        "--select",
        default=None,
        metavar="CODES",
        help="comma list of codes or prefixes to report (default: all)",
    )
    lint_p.add_argument(
        "--ignore",
        default=None,
        metavar="CODES",
        help="comma list of codes or prefixes not to report",
    )
    lint_p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=None,
        help="lowest severity that makes the exit status 1 (default: warning)",
    )
    lint_p.add_argument(
        "--custom-layers",
        default=None,
        metavar="MODULES",
        help="comma list of module or module:Class with custom Keras layers (imports Keras)",
    )
    lint_p.set_defaults(run=_run_lint)


def _fmt_arguments(fmt_p: argparse.ArgumentParser) -> None:
    fmt_p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="files, directories (searched for *.initpolicy) or - for stdin",
    )
    fmt_p.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 and list the files that would change",
    )
    fmt_p.add_argument(
        "--diff", action="store_true", help="change nothing; print a unified diff, exit 1 if any"
    )
    fmt_p.set_defaults(run=_run_fmt)


def _explain_arguments(explain_p: argparse.ArgumentParser) -> None:
    explain_p.add_argument("policy", metavar="POLICY")
    explain_p.add_argument("--model", required=True, metavar="MODULE:FUNCTION|model.keras")
    explain_p.add_argument("--format", choices=("text", "json"), default="text")
    explain_p.set_defaults(run=_run_explain)


def _audit_arguments(audit_p: argparse.ArgumentParser) -> None:
    audit_p.add_argument("--model", required=True, metavar="MODULE:FUNCTION|model.keras")
    audit_p.add_argument(
        "--policy",
        default=None,
        metavar="POLICY",
        help="build the model under this policy (a .keras file: the policy it was built under)",
    )
    audit_p.add_argument("--format", choices=list(FORMATTERS), default="text")
    audit_p.add_argument("--select", default=None, metavar="CODES", help="codes or prefixes")
    audit_p.add_argument("--ignore", default=None, metavar="CODES", help="codes or prefixes")
    audit_p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="warning",
        help="lowest severity that makes the exit status 1 (default: warning)",
    )
    audit_p.add_argument(
        "--suggest",
        action="store_true",
        help="print a policy that fixes every error and warning found, instead of the findings",
    )
    audit_p.set_defaults(run=_run_audit)


def _lsp_arguments(lsp_p: argparse.ArgumentParser) -> None:
    lsp_p.set_defaults(run=_run_lsp)


#: command -> (its one-line help, the function that adds its arguments), in ``--help`` order.
COMMANDS = {
    "lint": ("report problems in policy files", _lint_arguments),
    "fmt": ("rewrite policy files in canonical layout", _fmt_arguments),
    "explain": ("show which initializer each weight gets, and why", _explain_arguments),
    "audit": ("report what is wrong with a model's initial weights", _audit_arguments),
    "lsp": ("run the language server on stdin/stdout (needs the [lsp] extra)", _lsp_arguments),
    "diagnose": ("activation and gradient statistics at init", _diagnose_arguments),
    "compare": ("train briefly under several policies and compare the losses", _compare_arguments),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (never raises for user errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(command_of(argv)).parse_args(argv)
        return int(args.run(args))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except PolicySyntaxError as exc:  # pragma: no cover - every command handles its own
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:  # explain/diagnose in an install without Keras
        if (exc.name or "").split(".")[0] not in ("keras", "numpy", "tensorflow", "jax", "torch"):
            raise
        _error(
            f"`initpolicy {command_of(argv)}` needs Keras and a backend ({exc}); install them, "
            "e.g. pip install 'keras-initpolicy[tensorflow]'"
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
