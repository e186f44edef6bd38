"""The shape of the package (issue 10), checked so it stays true:

- ``docs/architecture.md`` names every module of the tree, and every module it names exists;
- no import circle, counting late (function-level) imports too: a late import only delays a
  circle. Imports under ``if TYPE_CHECKING:`` (annotations only) never run and do not count. The
  allow-list ``ALLOWED_EDGES`` holds the documented exceptions: ``Policy``'s facade methods
  (``policy.py`` -> ``runtime/``) and the package's lazy ``_LAZY`` table;
- a late (function-level) import of one of our modules carries a comment saying why (they exist
  to keep ``import keras_initpolicy`` and ``initpolicy lint`` free of Keras and other heavy
  imports);
- only ``runtime/hooks.py`` reaches into Keras objects: nowhere else reads or writes a private
  attribute of an object it does not own, calls ``object.__setattr__`` or scans ``vars()``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_initpolicy"
DOC = ROOT / "docs" / "architecture.md"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


TOP, LATE, TYPING, LAZY = "top", "late", "typing", "lazy"
#: The only edges a circle may close through: (importer, imported module or package, kind).
ALLOWED_EDGES = {
    # Policy.scope/apply/explain import the Keras side when called (docs/architecture.md)
    ("keras_initpolicy.policy", "keras_initpolicy.runtime", LATE),
    ("keras_initpolicy.policy", "keras_initpolicy.analysis", LATE),
    # `kip.NAME` resolved on first use from the package's `_LAZY` table
    ("keras_initpolicy", "keras_initpolicy", LAZY),
}


def _type_checking_nodes(tree: ast.Module) -> set[ast.AST]:
    """Every node under a module-level ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    found: set[ast.AST] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for stmt in node.body:
                found.update(ast.walk(stmt))
    return found


def _imports(name: str, path: Path):
    """(node, [our modules it imports], kind) for every import statement; kind is ``TOP`` (a
    module-level statement), ``TYPING`` (under ``if TYPE_CHECKING:``) or ``LATE`` (the rest)."""
    tree = ast.parse(path.read_text("utf-8"))
    typing_only = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        ours = [t for t in targets if t in MODULES and t != name]
        if ours:
            kind = TOP if node in tree.body else TYPING if node in typing_only else LATE
            yield node, ours, kind


def _lazy_table() -> dict[str, str]:
    """``kip.NAME`` -> the module ``keras_initpolicy/__init__.py``'s ``_LAZY`` loads it from."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_LAZY":
            table = ast.literal_eval(node.value)
            return {attr: f"keras_initpolicy.{module}" for attr, (module, _) in table.items()}
    return {}


def import_edges() -> set[tuple[str, str, str]]:
    """(importer, imported, kind) for every import of our modules that runs: module-level,
    late, and the lazy table; ``TYPE_CHECKING`` imports are left out."""
    edges = {
        (name, target, kind)
        for name, path in MODULES.items()
        for _, targets, kind in _imports(name, path)
        if kind != TYPING
        for target in targets
    }
    edges |= {("keras_initpolicy", module, LAZY) for module in _lazy_table().values()}
    return edges


def _allowed(edge: tuple[str, str, str]) -> bool:
    src, dst, kind = edge
    return any(
        src == a_src and (dst == a_dst or dst.startswith(a_dst + ".")) and kind == a_kind
        for a_src, a_dst, a_kind in ALLOWED_EDGES
    )


def find_circles(edges) -> list[list[str]]:
    """Import circles among ``edges`` once the allowed ones are removed. A package's edge to its
    own submodules does not count (``from . import x`` names the package, which Python has
    imported before any of its modules anyway)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if not _allowed(edge):
            graph.setdefault(edge[0], set()).add(edge[1])
    done, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if not nxt.startswith(node + "."):  # a package importing its own modules
                visit(nxt)
        stack.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)
    return circles


def test_architecture_doc_matches_the_tree():
    text = DOC.read_text("utf-8")
    named = {
        path
        for path in re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text)
        if not path.startswith(("tests/", "tools/", "benchmarks/", "examples/"))
        and path != "__init__.py"
    }
    files = {
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    }
    assert not files - named, f"modules missing from docs/architecture.md: {sorted(files - named)}"
    assert not named - files, (
        f"docs/architecture.md names modules that do not exist: {sorted(named - files)}"
    )


def test_no_import_circles_not_even_through_late_imports():
    circles = find_circles(import_edges())
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_allow_list_is_used_and_nothing_more():
    """Each allowed edge exists (a stale entry would silently allow a future circle), and the
    facade's late imports of the runtime are Policy's methods, nothing else in policy.py."""
    edges = import_edges()
    for allowed in ALLOWED_EDGES:
        assert any(_allowed(e) and e[0] == allowed[0] for e in edges), f"unused: {allowed}"
    tree = ast.parse((PACKAGE / "policy.py").read_text("utf-8"))
    facade = {
        fn.name
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Policy"
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith(("runtime", "analysis"))
    }
    late = [
        targets
        for _, targets, kind in _imports(
            "keras_initpolicy.policy", MODULES["keras_initpolicy.policy"]
        )
        if kind == LATE
        and any(
            t.startswith(("keras_initpolicy.runtime", "keras_initpolicy.analysis")) for t in targets
        )
    ]
    assert facade == {"scope", "apply", "explain"} and len(late) == 3


def test_the_circle_check_sees_late_imports():
    """The circles of the old tree, each closing through a late import: ``cli.py`` imported
    ``command_of`` from ``entry.py``, which runs ``cli.py`` late; the language server's findings
    read their settings through a late import of ``cli.py``, whose ``lsp`` command imports the
    server late. The facade may close a circle; the same edges at module level may not; an
    import under ``TYPE_CHECKING`` is no edge at all."""
    old = {
        ("keras_initpolicy.cli", "keras_initpolicy.entry", TOP),
        ("keras_initpolicy.entry", "keras_initpolicy.cli", LATE),
    }
    assert find_circles(old) == [
        ["keras_initpolicy.cli", "keras_initpolicy.entry", "keras_initpolicy.cli"]
    ]
    lsp = {
        ("keras_initpolicy.cli", "keras_initpolicy.lsp.server", LATE),
        ("keras_initpolicy.lsp.server", "keras_initpolicy.lsp.findings", TOP),
        ("keras_initpolicy.lsp.findings", "keras_initpolicy.cli", LATE),
    }
    assert len(find_circles(lsp)) == 1
    facade = {
        ("keras_initpolicy.policy", "keras_initpolicy.analysis.apply", LATE),
        ("keras_initpolicy.analysis.apply", "keras_initpolicy.policy", TOP),
    }
    assert find_circles(facade) == []
    assert find_circles({(a, b, TOP) for a, b, _ in facade})
    apply = "keras_initpolicy.analysis.apply"
    kinds = {k for _, t, k in _imports(apply, MODULES[apply]) if "keras_initpolicy.policy" in t}
    assert kinds == {TYPING}
    assert not any(e[0] == apply and e[1] == "keras_initpolicy.policy" for e in import_edges())


def test_late_imports_of_our_modules_say_why():
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text("utf-8").splitlines()
        for node, targets, kind in _imports(name, path):
            if kind != LATE:
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if "#" not in here and not above.startswith("#"):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {targets}")
    assert not unexplained, "late imports without a comment saying why:\n" + "\n".join(unexplained)


def test_only_hooks_touches_keras_internals():
    offenders = []
    for name, path in MODULES.items():
        if path.name == "hooks.py":
            continue
        tree = ast.parse(path.read_text("utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and re.match(r"_[a-z]", node.attr):
                base = node.value
                if isinstance(base, ast.Name) and base.id in {"self", "cls", *defined}:
                    continue
                offenders.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                if func == "object.__setattr__" or (
                    func == "vars"
                    and name.startswith(("keras_initpolicy.runtime", "keras_initpolicy.analysis"))
                ):
                    offenders.append(f"{where}: {func}(...)")
    assert not offenders, "Keras internals outside runtime/hooks.py:\n" + "\n".join(offenders)


def test_build_time_never_imports_analysis():
    """``runtime/`` (build time) is below ``analysis/`` (after the fact): analysis reads what
    the build recorded; nothing that runs while Keras builds imports it, even late."""
    offenders = [
        f"{a} -> {b}"
        for a, b, kind in import_edges()
        if kind != TYPING
        and a.startswith("keras_initpolicy.runtime")
        and b.startswith("keras_initpolicy.analysis")
    ]
    assert not offenders, offenders
