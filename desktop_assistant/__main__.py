"""`python -m desktop_assistant` runs the same entry point as the console script."""

import sys

from desktop_assistant.cli import main

sys.exit(main())
