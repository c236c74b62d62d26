"""``python -m mttmat``: the ``mttmat`` command."""

import sys

from mttmat.cli.main import main

sys.exit(main())
