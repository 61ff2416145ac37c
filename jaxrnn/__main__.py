"""``python -m jaxrnn``: the ``jaxrnn`` command."""

import sys

from jaxrnn.app.cli import main

sys.exit(main())
