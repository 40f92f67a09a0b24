"""``python -m emulator``: see emulator.cli."""

from .cli import main

raise SystemExit(main())
