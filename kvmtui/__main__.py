"""`python -m kvmtui`: the same as the `kvmtui` command."""

from kvmtui.cli import main

raise SystemExit(main())
