"""The shape of the package (issue 10), checked so it stays true:

- ``docs/architecture.md`` names every module of the tree, and every module it names exists;
- no import circle among module-level imports;
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


def _imports(name: str, path: Path):
    """(node, [our modules it imports], module-level?) for every import statement."""
    tree = ast.parse(path.read_text("utf-8"))
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
            yield node, ours, node in tree.body


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


def test_no_import_circles():
    graph = {
        name: {t for _, targets, top in _imports(name, path) if top for t in targets}
        for name, path in MODULES.items()
    }
    # a package imports its own submodules' names only through `from .x import y`
    done, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        stack.append(node)
        for nxt in graph.get(node, ()):
            if not nxt.startswith(node + "."):  # a package importing its own modules
                visit(nxt)
        stack.pop()
        done.add(node)

    for name in graph:
        visit(name)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_late_imports_of_our_modules_say_why():
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text("utf-8").splitlines()
        for node, targets, top in _imports(name, path):
            if top:
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
                    func == "vars" and name.startswith("keras_initpolicy.runtime")
                ):
                    offenders.append(f"{where}: {func}(...)")
    assert not offenders, "Keras internals outside runtime/hooks.py:\n" + "\n".join(offenders)
