"""The machine: loads submissions, runs student code isolated, compares, scores, reports.

Kept free of imports so that ``python -m grader`` and the child process start fast.
"""

__version__ = "0.1.0"
