"""Shared test settings."""

from hypothesis import settings

# Property tests explore the same examples on every run, so a CI result does not depend on luck;
# run with HYPOTHESIS_PROFILE=explore to search new examples locally.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the expected reports in tests/golden/ from the current output")
    parser.addoption("--update-references", action="store_true", default=False,
                     help="rewrite problems/_references.py from the derivations' results")
