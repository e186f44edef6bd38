"""``python -m keras_initpolicy`` runs the ``initpolicy`` command line."""

from .cli import main

raise SystemExit(main())
