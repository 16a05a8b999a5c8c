"""``python -m bench.media``: see ``bench.media.run``."""

import sys

from bench.media.run import main

sys.exit(main())
