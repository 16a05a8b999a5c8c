"""``python -m bench.labels``: see ``bench.labels.run``."""

import sys

from bench.labels.run import main

sys.exit(main())
