"""``python -m bench.orders``: see ``bench.orders.run``."""

import sys

from bench.orders.run import main

sys.exit(main())
