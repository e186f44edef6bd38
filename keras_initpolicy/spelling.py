"""Close matches for "Did you mean ...?" in every message (no Keras).

One helper, so every suggestion is made alike; ``difflib`` is imported only when a name is
misspelled, which keeps it out of a clean ``initpolicy lint``'s start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["close_matches"]


def close_matches(word: str, candidates: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list:
    """Up to ``n`` of ``candidates`` that look like ``word``, best first.

    >>> close_matches("he_normel", ["he_normal", "glorot_normal", "zeros"])
    ['he_normal']
    """
    import difflib  # late: only a misspelling needs it

    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=cutoff)
