"""Where the project policy lives: ``KERAS_INITPOLICY`` (a path), else ``policy = "..."`` under
``[tool.keras-initpolicy]`` in the nearest ``pyproject.toml`` above the working directory; and the
reading of that table. Loading it is ``policy.project_policy`` (this module sits below
``policy.py`` and imports nothing of ours but ``errors``)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PolicyError

__all__ = ["project_policy_path", "find_pyproject", "read_tool_table", "ENV_VAR"]

ENV_VAR = "KERAS_INITPOLICY"


def find_pyproject(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the working directory) or above."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _toml_loads():
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            return None
    return tomllib.loads


def read_tool_table(pyproject: Path) -> dict:
    """``[tool.keras-initpolicy]`` of a pyproject.toml ({} when absent, or when Python 3.10 has
    no ``tomli``); an unreadable file or bad TOML is a ``PolicyError``."""
    loads = _toml_loads()
    if loads is None:  # pragma: no cover - Python 3.10 without tomli
        return {}
    try:
        data = loads(pyproject.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read {pyproject}: {exc}", source=str(pyproject)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise PolicyError(f"invalid TOML: {exc}", source=str(pyproject)) from None
    table = data.get("tool", {}).get("keras-initpolicy", {})
    return table if isinstance(table, dict) else {}


def project_policy_path(start: str | os.PathLike | None = None) -> Path:
    """Where the project policy lives; ``PolicyError`` with what to do when none is configured."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    pyproject = find_pyproject(start)
    if pyproject is not None:
        value = read_tool_table(pyproject).get("policy")
        if isinstance(value, str) and value:
            return (pyproject.parent / value).resolve()
        if value is not None:
            raise PolicyError(
                f"[tool.keras-initpolicy] policy must be a path string; received {value!r}",
                source=str(pyproject),
            )
    raise PolicyError(
        "no project policy: set KERAS_INITPOLICY to a .initpolicy file, or add "
        '`policy = "path/to/policy.initpolicy"` under [tool.keras-initpolicy] in pyproject.toml, '
        "or pass a policy to apply_policy(...)"
    )
