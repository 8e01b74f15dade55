"""The main job (``make benchmark``): ``echelon benchmark`` with its defaults (see :mod:`experiments.benchmark`).

``python -m experiments.main_job [options]`` is ``echelon benchmark [options]``.
"""

from __future__ import annotations

import sys

from experiments.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
