"""``python -m vectorgate_server``."""

from .cli import main

raise SystemExit(main())
