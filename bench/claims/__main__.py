"""``python -m bench.claims``: see ``bench.claims.run``."""

import sys

from bench.claims.run import main

sys.exit(main())
