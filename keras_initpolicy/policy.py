"""The ``Policy`` object: parsed, validated rules plus directives, with includes resolved.

``parse``/``load`` live here. The Keras-facing methods (``scope``, ``apply``, ``explain``) import
the Keras side lazily, so building a ``Policy`` never imports Keras or a backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from .checks.diagnostics import ERROR, Diagnostic
from .checks.names import validate_policy
from .errors import PolicyError
from .language.nodes import EXPLICIT_MODES, SAMPLER_MODES, Directive, PolicyFile, Rule
from .language.parser import parse_file
from .project import project_policy_path
from .spelling import close_matches

__all__ = [
    "Policy",
    "parse",
    "load",
    "as_policy",
    "project_policy",
    "read_policy_text",
    "preset_names",
    "MAX_INCLUDE_DEPTH",
    "EXPLICIT_MODES",
    "PRESET_PREFIX",
]

MAX_INCLUDE_DEPTH = 16
#: ``@include "preset:NAME"`` reads ``keras_initpolicy/presets/NAME.initpolicy``
PRESET_PREFIX = "preset:"
_PRESETS = Path(__file__).resolve().parent / "presets"

# Diagnostics ``parse``/``load`` do not raise on: a class that is not a Keras built-in may be the
# user's own layer, known only when a model is built.
_NOT_FATAL_AT_PARSE = frozenset({"IP101"})


@dataclass(frozen=True)
class Policy:
    """A compiled-ready policy. Build one with ``kip.parse`` or ``kip.load``.

    ``rules`` are in precedence order (included files first, ``Rule.index`` numbered 0..n-1),
    ``seed`` is the ``@seed`` value or None, ``explicit`` is ``"keep"`` or ``"override"``,
    ``sampler`` is ``"keras"`` or ``"fast"`` (docs/reference.md).
    """

    rules: tuple[Rule, ...]
    seed: int | None = None
    explicit: str = "keep"
    source: str = "<string>"
    files: tuple[PolicyFile, ...] = ()
    sampler: str = "keras"

    # -- Keras side (imported lazily) -------------------------------------------------------
    def scope(self):
        """Context manager: models built inside follow this policy (docs/reference.md#applying-a-policy)."""
        from .runtime.scope import PolicyScope  # late: `import keras_initpolicy` stays Keras-free

        return PolicyScope(self)

    def apply(self, model):
        """Re-initialize an existing, built model in place; returns the ``Explanation``."""
        from .analysis.apply import apply_to_model  # late: keeps the package Keras-free

        return apply_to_model(self, model)

    def explain(self, model):
        """One ``Assignment`` per weight of ``model``: which rule chose what, and why."""
        from .analysis.explain import explain_model  # late: keeps the package Keras-free

        return explain_model(self, model)

    def __repr__(self) -> str:
        return f"<Policy {self.source!r}: {len(self.rules)} rules, seed={self.seed}, explicit={self.explicit}>"


def read_policy_text(
    path: str | os.PathLike,
    *,
    source: str | None = None,
    line: int = 0,
    column: int = 0,
    text: str | None = None,
) -> str:
    """Read a policy file as UTF-8; every failure is a positioned ``PolicyError`` (IP002)."""
    p = Path(path)
    where = dict(
        source=source or str(p), line=line or None, column=column or None, text=text, code="IP002"
    )
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {str(p)!r}", **where) from None
    except IsADirectoryError:
        raise PolicyError(
            f"expected a policy file, received a directory: {str(p)!r}", **where
        ) from None
    except PermissionError:
        raise PolicyError(f"permission denied reading {str(p)!r}", **where) from None
    except OSError as exc:
        raise PolicyError(f"cannot read {str(p)!r}: {exc.strerror or exc}", **where) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start]
        bad_line = prefix.count(b"\n") + 1
        bad_col = exc.start - (prefix.rfind(b"\n") + 1) + 1
        raise PolicyError(
            f"{str(p)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the policy as UTF-8",
            source=str(p),
            line=bad_line,
            column=bad_col,
            code="IP001",
        ) from None


def preset_names() -> tuple[str, ...]:
    """The presets shipped with the package (``@include "preset:NAME"``), sorted."""
    return tuple(sorted(p.stem for p in _PRESETS.glob("*.initpolicy")))


def _preset_path(name: str, where: dict) -> Path:
    """The file of preset ``name``; an unknown name is IP002 listing the presets."""
    if name in preset_names():
        return (_PRESETS / f"{name}.initpolicy").resolve()
    names = preset_names()
    close = close_matches(name, names, n=1)
    hint = f" Did you mean `preset:{close[0]}`?" if close else ""
    raise PolicyError(
        f"unknown preset {name!r}.{hint} Presets: {', '.join(names)}", **where
    ) from None


def _directive_values(statements) -> tuple[int | None, str | None, str | None]:
    """``(@seed, @explicit, @sampler)`` of one file's statements (None: not set there)."""
    seed = explicit = sampler = None
    for st in statements:
        if isinstance(st, Directive):
            if st.name == "seed" and isinstance(st.value, int) and not isinstance(st.value, bool):
                seed = st.value
            elif st.name == "explicit" and st.value in EXPLICIT_MODES:
                explicit = str(st.value)
            elif st.name == "sampler" and st.value in SAMPLER_MODES:
                sampler = str(st.value)
    return seed, explicit, sampler


class _Loader:
    """Resolves ``@include`` depth-first, detecting cycles and bounding depth."""

    def __init__(self) -> None:
        self.files: list[PolicyFile] = []
        self.diagnostics: list[Diagnostic] = []

    def load_text(self, text: str, source: str, base: Path, stack: tuple[Path, ...]) -> list[Rule]:
        pfile = parse_file(text, source)
        self.files.append(pfile)
        included: list[Rule] = []
        for st in pfile.directives:
            if st.name != "include":
                continue
            if type(st.value) is not str:  # a bare word or number: reported by validation (IP107)
                continue  # malformed: reported by validation as IP107
            where = dict(source=source, line=st.line, column=st.column, text=text, code="IP002")
            preset = st.value.startswith(PRESET_PREFIX)
            try:
                if preset:
                    target = _preset_path(st.value[len(PRESET_PREFIX) :], where)
                else:
                    target = (base / st.value).resolve()
            except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError before 3.13
                raise PolicyError(f"cannot resolve {st.value!r}: {exc}", **where) from None
            if target in stack:
                chain = " -> ".join(str(p.name) for p in (*stack, target))
                raise PolicyError(f"@include cycle: {chain}", **where)
            if len(stack) >= MAX_INCLUDE_DEPTH:
                raise PolicyError(f"@include nested deeper than {MAX_INCLUDE_DEPTH} files", **where)
            sub_text = read_policy_text(
                target, source=source, line=st.line, column=st.column, text=text
            )
            included.extend(
                self.load_text(
                    sub_text,
                    st.value
                    if preset
                    else str(target)
                    if st.value.startswith("/")
                    else os.path.relpath(target)
                    if _under_cwd(target)
                    else str(target),
                    target.parent,
                    (*stack, target),
                )
            )
        return included + list(pfile.rules)


def _under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
        return True
    except ValueError:
        return False


def _build(
    text: str, source: str, base: Path, stack: tuple[Path, ...], *, validate: bool
) -> Policy:
    loader = _Loader()
    rules = loader.load_text(text, source, base, stack)
    rules = [replace(r, index=i) for i, r in enumerate(rules)]
    seed = explicit = sampler = None
    for pfile in loader.files:  # included files give defaults, the top file (first) wins
        s, e, m = _directive_values(pfile.statements)
        if pfile is loader.files[0]:
            continue
        seed = s if s is not None else seed
        explicit = e if e is not None else explicit
        sampler = m if m is not None else sampler
    top_seed, top_explicit, top_sampler = _directive_values(loader.files[0].statements)
    seed = top_seed if top_seed is not None else seed
    explicit = top_explicit or explicit or "keep"
    sampler = top_sampler or sampler or "keras"
    policy = Policy(tuple(rules), seed, explicit, source, tuple(loader.files), sampler)
    if validate:
        _raise_on_errors(policy)
    return policy


def _raise_on_errors(policy: Policy) -> None:
    texts = {f.source: f.text for f in policy.files}
    for diag in validate_policy(policy):
        if diag.severity == ERROR and diag.code not in _NOT_FATAL_AT_PARSE:
            raise PolicyError(
                diag.message,
                source=diag.source,
                line=diag.line,
                column=diag.column,
                text=texts.get(diag.source),
                code=diag.code,
            )


def parse(text: str, source: str = "<string>") -> Policy:
    """Parse and validate policy text; raise ``PolicyError`` on the first error.

    ``@include`` paths are resolved relative to the current directory.

    >>> p = parse("@seed 7\\nDense[activation=relu] -> he_normal\\n*.bias -> zeros")
    >>> p.seed, p.explicit, [r.text for r in p.rules]
    (7, 'keep', ['Dense[activation=relu] -> he_normal', '*.bias -> zeros'])
    """
    if not isinstance(text, str):
        raise TypeError(
            f"kip.parse expects policy text (str); received {type(text).__name__}. "
            "Use kip.load(path) for a file."
        )
    return _build(text, source, Path.cwd(), (), validate=True)


def load(path: str | os.PathLike) -> Policy:
    """Read, parse and validate a policy file, resolving ``@include`` relative to it."""
    p = Path(path)
    text = read_policy_text(p)
    source = os.fspath(path)  # as given (str() of a custom os.PathLike would be its repr)
    return _build(text, source, p.resolve().parent, (p.resolve(),), validate=True)


def project_policy(start: str | os.PathLike | None = None) -> Policy:
    """Load the project policy: ``KERAS_INITPOLICY``, else ``[tool.keras-initpolicy] policy`` in
    the nearest ``pyproject.toml`` (``project.project_policy_path``)."""
    return load(project_policy_path(start))


def as_policy(policy_or_path, *, caller: str = "as_policy", project: bool = False) -> Policy:
    """The one converter behind every entry point that takes "a policy or a path".

    A ``Policy`` is returned as is; a ``str`` or ``os.PathLike`` is a policy file, loaded (a
    missing or bad file is a ``PolicyError``). ``None`` is the project policy where the caller
    allows it (``project=True``, e.g. ``apply_policy``); anything else is a ``TypeError`` naming
    ``caller`` and what it accepts.
    """
    if isinstance(policy_or_path, Policy):
        return policy_or_path
    if isinstance(policy_or_path, str | os.PathLike):
        return load(policy_or_path)
    if policy_or_path is None and project:
        return project_policy()
    accepts = (
        "a kip.Policy, a path to a .initpolicy file, or nothing (the project policy)"
        if project
        else "a kip.Policy or a path to a .initpolicy file (str or os.PathLike)"
    )
    raise TypeError(f"{caller} expects {accepts}; received {type(policy_or_path).__name__}")


def load_unvalidated(
    path_or_text: str | os.PathLike,
    *,
    is_text: bool = False,
    source: str | None = None,
    base: str | os.PathLike | None = None,
) -> Policy:
    """Like ``load``/``parse`` without raising on validation findings (used by the linter).

    For text, ``@include`` resolves relative to ``base`` (default: the current directory)."""
    if is_text:
        folder = Path(base) if base is not None else Path.cwd()
        return _build(str(path_or_text), source or "<string>", folder, (), validate=False)
    p = Path(path_or_text)
    text = read_policy_text(p)
    return _build(
        text, source or os.fspath(path_or_text), p.resolve().parent, (p.resolve(),), validate=False
    )
