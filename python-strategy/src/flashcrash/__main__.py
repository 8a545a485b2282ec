"""`python -m flashcrash` is the `flashcrash` command."""

from flashcrash.cli import main

raise SystemExit(main())
