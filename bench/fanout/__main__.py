"""``python -m bench.fanout``: see ``bench.fanout.run``."""

import sys

from bench.fanout.run import main

sys.exit(main())
