"""What the front ends read besides policies, below all of them: ``cli.py``, ``entry.py`` and the
language server (``lsp/``) import from here, and this module imports none of them (nor Keras,
nor Lark).

- ``load_lint_config``: ``[tool.keras-initpolicy.lint]`` of the nearest ``pyproject.toml``, the
  settings of ``initpolicy lint`` and of the language server's findings;
- ``command_of``: the command named on a command line (``entry.py`` needs it before the command
  line parser loads).

Problems are ``UsageError`` (``errors.py``): ``initpolicy`` exits 2 on them, the language server
ignores a broken configuration.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PolicyError, UsageError
from .project import find_pyproject, read_tool_table

__all__ = ["CONFIG_TABLE", "CONFIG_KEYS", "FAIL_ON", "comma_list", "command_of", "load_lint_config"]

CONFIG_TABLE = ("tool", "keras-initpolicy", "lint")
FAIL_ON = ("error", "warning", "info", "never")
CONFIG_KEYS = frozenset({"select", "ignore", "fail-on", "format", "custom-layers"})


def command_of(argv) -> str | None:
    """The command named on a command line (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def comma_list(value) -> list[str]:
    """A configuration list: a list, or a comma-separated string; blanks dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def load_lint_config(start: Path | None = None) -> dict:
    """Settings under ``[tool.keras-initpolicy.lint]`` of the nearest ``pyproject.toml``.

    Keys: ``select``, ``ignore``, ``custom-layers`` (lists or comma strings), ``fail-on``,
    ``format``; ``_`` may replace ``-``. Unknown keys and bad TOML are usage errors.
    """
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        table = read_tool_table(path).get(CONFIG_TABLE[-1], {})
    except PolicyError as exc:
        raise UsageError(f"{path}: {exc.message}") from None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [{'.'.join(CONFIG_TABLE)}] must be a table")
    config = {}
    for key, value in table.items():
        name = key.replace("_", "-")
        if name not in CONFIG_KEYS:
            allowed = ", ".join(sorted(CONFIG_KEYS))
            raise UsageError(
                f"{path}: unknown key {key!r} in [{'.'.join(CONFIG_TABLE)}]; allowed: {allowed}"
            )
        config[name] = value
    return config
