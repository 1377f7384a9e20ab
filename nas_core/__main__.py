"""`python -m nas_core ...`: the engine's command line (see nas_core.cli)."""

from nas_core.cli import main

raise SystemExit(main())
