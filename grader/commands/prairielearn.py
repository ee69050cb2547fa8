"""ravine prairielearn: the entrypoint of the PrairieLearn external-grader image."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HELP = "grade inside PrairieLearn's external grader (/grade layout): write /grade/results/results.json"

DEFAULT_ROOT = "/grade"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=DEFAULT_ROOT, metavar="DIR",
                   help="the job directory (default /grade): DIR/student/ holds the submission, "
                        "DIR/tests/ravine-prairielearn.json the settings, DIR/results/ receives results.json")
    p.add_argument("--file", help="the file students submit (default: the settings' file, else the only .py/.ipynb)")
    from ._common import add_isolation_argument, seconds

    p.add_argument("--timeout", type=seconds, help="seconds per student function")
    add_isolation_argument(p)


def _hide_settings(path: Path) -> None:
    # As in the Gradescope image: the grader runs as root without capabilities in its children,
    # so mode 000 keeps the seed away from the submission's process.  Only inside a real job
    # directory (/grade/), never an instructor's copy under a --root elsewhere.
    try:
        if str(path.resolve()).startswith(DEFAULT_ROOT + "/"):
            path.chmod(0)
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    from ..prairielearn import SETTINGS_NAME, grade_prairielearn
    from ._common import isolation_from, seed_problem

    root = Path(args.root)
    if not root.is_dir():
        print(f"ravine prairielearn: {root} is not a directory (the job directory, default /grade)",
              file=sys.stderr)
        return 2
    settings = root / "tests" / SETTINGS_NAME
    try:
        config = json.loads(settings.read_text(encoding="utf-8")) if settings.exists() else {}
        if not isinstance(config, dict):
            raise ValueError("expected a JSON object")
        # The seed of the hidden checks: preferably RAVINE_SEED, set by the question's
        # externalGradingOptions.environment (student processes get a scrubbed environment and
        # cannot read the grader's), else the settings file.
        if os.environ.get("RAVINE_SEED"):
            config["seed"] = os.environ["RAVINE_SEED"]
        if "seed" not in config:
            raise ValueError("no seed: set RAVINE_SEED or give \"seed\" in the settings")
        config["seed"] = int(config["seed"])
        problem = seed_problem("seed", config["seed"])
        if problem:
            raise ValueError(problem)
    except (OSError, ValueError, TypeError) as exc:
        # Without the seed no hidden check can run: a configuration error of the course, which
        # PrairieLearn shows as a failed job (non-zero exit) rather than a grade.
        print(f"ravine prairielearn: cannot read settings {settings}: {exc}", file=sys.stderr)
        return 2
    if settings.exists():
        _hide_settings(settings)
    if args.file:
        config["file"] = args.file
    if args.timeout:
        config["timeout"] = args.timeout
    isolation_from("prairielearn", args.isolation)  # probed once; a mode that cannot work: exit 2
    config["isolation"] = args.isolation
    data, result = grade_prairielearn(root, config)
    if result is not None:
        print(f"{result.submission}: {result.score:g}/{result.max_score:g} (score {data['score']:g})")
    else:
        print(f"not graded: {data.get('message', '')}")
    return 0
