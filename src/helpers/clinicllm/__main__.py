"""``python -m helpers.clinicllm ...``: the command line of :mod:`helpers.clinicllm.cli`."""

import sys

from helpers.clinicllm.cli import main

sys.exit(main())
