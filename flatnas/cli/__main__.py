"""`python -m flatnas.cli ...`: the `flatnas` command."""

from flatnas.cli import main

raise SystemExit(main())
