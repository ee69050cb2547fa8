"""``ravine race``: SGD, momentum, Nesterov and Adam on a 2-D objective, as a PNG or animated GIF."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "race SGD, momentum, Nesterov and Adam on a 2-D objective; write a PNG (or an animated .gif)"

OBJECTIVES = ("ravine", "rosenbrock", "saddle", "quadratic")  # = solvers.lab.race.RACE_OBJECTIVES
STILL_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--objective", choices=OBJECTIVES, default="ravine",
                        help="2-D objective (default: ravine, f = (100x^2 + y^2)/2)")
    from solvers.cli_args import output_file

    parser.add_argument("--out", type=output_file(".gif", *STILL_SUFFIXES), default=None,
                        help="output file: .png (default race-OBJECTIVE.png) or .gif for an animation")
    parser.add_argument("--lr", type=float, default=None, help="learning rate for every racer (default: per objective)")
    parser.add_argument("--beta", type=float, default=None,
                        help="momentum coefficient (also Adam's beta1; default 0.9)")
    parser.add_argument("--steps", type=int, default=None, help="number of steps (default: per objective)")
    parser.add_argument("--start", type=float, nargs=2, metavar=("X", "Y"), default=None,
                        help="start point (default: per objective)")
    parser.add_argument("--racers", default="sgd,momentum,nesterov,adam", type=_racers,
                        help="comma-separated subset of sgd,momentum,nesterov,adam")
    parser.add_argument("--frames", type=int, default=50, help="frames of a .gif (default 50)")
    parser.add_argument("--fps", type=int, default=12, help="frames per second of a .gif (default 12)")


RACER_NAMES = ("sgd", "momentum", "nesterov", "adam")  # = solvers.lab.race.RACERS


def _racers(text: str) -> str:
    names = [r.strip() for r in text.split(",") if r.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no racer named; choose one or more of {','.join(RACER_NAMES)}")
    unknown = [r for r in names if r not in RACER_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown racer {unknown[0]!r}; choose from {','.join(RACER_NAMES)}")
    return ",".join(names)


def run(args: argparse.Namespace) -> int:
    from solvers.lab.plots import plot_race
    from solvers.lab.race import race

    out: Path = args.out if args.out is not None else Path(f"race-{args.objective}.png")
    suffix = out.suffix.lower()
    if suffix != ".gif" and suffix not in STILL_SUFFIXES:
        print(f"ravine race: --out {out}: unsupported suffix {out.suffix or '(none)'!r}; "
              f"use .gif or one of {', '.join(STILL_SUFFIXES)}", file=sys.stderr)
        return 2
    if args.frames < 2 or args.fps < 1:
        print(f"ravine race: need --frames >= 2 and --fps >= 1, got {args.frames}, {args.fps}", file=sys.stderr)
        return 2
    if args.steps is not None and args.steps > 20000:
        print(f"ravine race: --steps {args.steps} is more than 20000; the figure would be unreadable", file=sys.stderr)
        return 2
    racers = tuple(r.strip() for r in args.racers.split(",") if r.strip())
    try:
        result = race(args.objective, lr=args.lr, beta=args.beta, steps=args.steps, start=args.start, racers=racers)
    except ValueError as exc:
        print(f"ravine race: {exc}", file=sys.stderr)
        return 2
    print(f"{result.objective.name}: {result.objective.note}")
    print(f"lr={result.lr:g} beta={result.beta:g} steps={result.steps} start=({result.start[0]:g}, {result.start[1]:g})")
    for line in result.summary():
        print("  " + line)
    try:
        path = plot_race(result, out, frames=args.frames, fps=args.fps)
    except OSError as exc:
        print(f"ravine race: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
