"""``python -m crossbar.cli``: the ``crossbar-sim`` command (e.g. from a checkout without installing)."""

import sys

from crossbar.cli import main

sys.exit(main())
