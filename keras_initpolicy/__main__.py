"""``python -m keras_initpolicy`` runs the ``initpolicy`` command line."""

from .entry import script

raise SystemExit(script())
