"""``python -m hf_distill ...``: the same as the ``hf_distill`` console script."""

import sys

from .hub.cli import main

sys.exit(main())
