"""Allow `python -m luxlogd`."""

import sys

from luxlogd.cli import main

sys.exit(main())
