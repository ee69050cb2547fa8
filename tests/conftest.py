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


def pytest_report_header(config):
    """Which isolation mode the tests that run student code use here (README: How student code is run)."""
    try:
        from grader.sandbox import resolve

        iso = resolve("auto")
    except Exception as exc:  # noqa: BLE001 - a header must not stop the run
        return f"ravine isolation: unknown ({exc})"
    return f"ravine isolation: {iso.mode} (bwrap {iso.bwrap_version or 'none'})" + (
        f"; {iso.warning}" if iso.warning else "")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The same line at the end, where ``-q`` (the README's test command) still shows it."""
    terminalreporter.write_line(pytest_report_header(config))
