"""The project stands alone: its documentation is docs/, and everything points there.

- No file of the project cites a contract kept outside the repository (the words the checks
  below assemble), so a reader never meets a reference they cannot follow.
- Every pointer of the form ``docs/NAME.md#anchor`` (or ``NAME.md#anchor`` in a Markdown link)
  names a heading that exists, with GitHub's anchor rules.
- The policies shown in ``docs/reference.md`` parse.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest

import keras_initpolicy as kip

ROOT = Path(__file__).resolve().parents[1]

# Assembled, so that this file does not match its own check.
_OUTSIDE = ("SPEC" + " §", "SPEC" + ".md", ".." + "/shared")

#: Files allowed to cite what users never see: none.
_ALLOWED: frozenset = frozenset()

_SKIPPED_PARTS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules"})


@cache
def project_files() -> tuple[Path, ...]:
    """Every file of the project: tracked or new, not ignored (so no build output, no venv)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file()
            and not _SKIPPED_PARTS.intersection(p.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in p.parts)
        ]
    return tuple(ROOT / n for n in sorted(set(names)) if (ROOT / n).is_file())


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # images and other binaries


def test_no_file_cites_a_document_outside_the_repository():
    found = []
    for path in project_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in _ALLOWED:
            continue
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(word in line for word in _OUTSIDE):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "cite docs/ (e.g. docs/reference.md#seeds) instead:\n" + "\n".join(found)


def test_the_allow_list_names_files_that_exist():
    missing = sorted(n for n in _ALLOWED if not (ROOT / n).is_file())
    assert not missing


# -- anchors ------------------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to hyphens.

    >>> github_anchor("IP402 — variance off because Keras's fans are wrong for the layer")
    'ip402--variance-off-because-kerass-fans-are-wrong-for-the-layer'
    """
    text = re.sub(r"`|\*\*|__", "", heading.strip()).lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N", "M"))
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a Markdown file's headings (outside code fences), with GitHub's ``-1``
    suffixes for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        slug = github_anchor(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


_POINTER = re.compile(r"((?:\.\./)?(?:[\w.-]+/)*[\w.-]+\.md)#([\w%.-]+)")


def _target(source: Path, name: str) -> Path | None:
    for base in (source.parent, ROOT, ROOT / "docs"):
        candidate = (base / name).resolve()
        if candidate.is_file():
            return candidate
    return None


def test_every_pointer_into_the_docs_names_an_existing_heading():
    broken = []
    for path in project_files():
        if path.suffix not in (".md", ".py", ".lark", ".initpolicy", ".sh", ".toml", ".txt"):
            continue
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for name, anchor in _POINTER.findall(line):
                target = _target(path, name)
                if target is None or target.suffix != ".md":
                    continue
                if anchor.rstrip(".") not in anchors(target):
                    rel = path.relative_to(ROOT).as_posix()
                    broken.append(f"{rel}:{number}: {name}#{anchor}")
    assert not broken, "no such heading:\n" + "\n".join(broken)


def test_the_reference_exists_and_the_readme_links_it():
    assert (ROOT / "docs" / "reference.md").is_file()
    assert "docs/reference.md" in (ROOT / "README.md").read_text(encoding="utf-8")


# -- examples of the reference ------------------------------------------------------------------


def _policy_blocks() -> list[str]:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    return re.findall(r"```initpolicy\n(.*?)```", text, re.S)


@pytest.mark.parametrize("block", _policy_blocks())
def test_every_policy_in_the_reference_parses(block):
    kip.parse(block)


def test_github_anchor_follows_githubs_rules():
    assert github_anchor("IP106 — bad initializer arguments") == "ip106--bad-initializer-arguments"
    assert github_anchor("What `@seed` means on each backend") == "what-seed-means-on-each-backend"
    assert github_anchor("@sampler (planned)") == "sampler-planned"
    assert github_anchor("μP coordinate check") == "μp-coordinate-check"
