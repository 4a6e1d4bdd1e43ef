"""``python -m durabletask_payloads``: the same as the ``durabletask-payloads`` command."""

from ._cli import main

raise SystemExit(main())
