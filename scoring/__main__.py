"""``python -m scoring INPUT OUTPUT``: the competition scoring program."""

import sys

from scoring.program import main

sys.exit(main())
