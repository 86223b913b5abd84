"""``python -m edu_contrast ...``: see ``edu_contrast.cli``."""

import sys

from edu_contrast.cli import main

if __name__ == "__main__":
    sys.exit(main())
