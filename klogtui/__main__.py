"""`python -m klogtui` is the same as the `klogtui` command."""

import sys

from klogtui.cli import main

sys.exit(main())
