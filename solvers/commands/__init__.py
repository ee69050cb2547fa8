"""The textbook's ``ravine`` subcommands: ``derive``, ``manual``, ``race``, ``reproduce``, ``doctor``.

They serve the machine-checked solution manual and the lab (``solvers.derive``, ``solvers.lab``),
not the grading.  Each module has the shape of a grader command (``HELP``, ``add_arguments``,
``run``) and is listed in ``grader.cli.COMMANDS`` under its own heading of ``ravine --help``;
like the rest of ``solvers`` it imports nothing of ``problems`` or ``grader``.
"""
