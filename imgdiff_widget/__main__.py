"""``python -m imgdiff_widget`` runs the command line."""

from ._cli import main

raise SystemExit(main())
