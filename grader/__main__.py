"""``python -m grader``: the ``ravine`` command.

``python -m`` puts the current directory first on ``sys.path``, so a folder there named
``solvers/`` or ``problems/`` (a student's own, say) would be imported instead of ravine's.
The directory that holds this ``grader`` package goes first, so its siblings win.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [_ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

from grader.cli import main  # noqa: E402  (after the path fix, on purpose)

raise SystemExit(main())
