"""``python -m ntkfast <command>``: the same as the ``ntkfast`` command."""
import sys

from .cli import main

sys.exit(main())
