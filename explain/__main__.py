"""``python -m explain`` runs the ``explain`` command."""

from .cli import main

raise SystemExit(main())
