"""``ravine derive [NAME] [--format text|markdown|latex|json]``: list or print a verified derivation."""

from __future__ import annotations

import argparse
import sys

HELP = "list the lecture's derivations, or verify and print one (text, markdown, latex, json)"

FORMATS = ("text", "markdown", "latex", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="derivation name (omit to list them)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--no-simulate", action="store_true", help="skip the numeric simulations")


def run(args: argparse.Namespace) -> int:
    from solvers import derive
    from solvers.derive.render import render

    if not args.name:
        listing = [(name, derive.get(name)) for name in derive.names()]
        if args.format == "json":  # the list in the format asked for, not text
            import json

            print(json.dumps([{"name": n, "title": d.title, "summary": d.summary} for n, d in listing],
                             indent=2))
        elif args.format == "markdown":
            print("\n".join(f"- `{n}`: {d.title}" for n, d in listing))
        elif args.format == "latex":
            print("\\begin{itemize}")
            for n, d in listing:
                title = "".join("\\" + c if c in "&%$#_{}" else c for c in d.title)
                print(f"  \\item \\texttt{{{n}}}: {title}")
            print("\\end{itemize}")
        else:
            width = max(len(n) for n, _ in listing)
            for n, d in listing:
                print(f"{n:<{width}}  {d.title}")
        return 0
    if args.name not in derive.REGISTRY:
        print(f"ravine derive: {derive.UnknownDerivationError(args.name)}", file=sys.stderr)
        return 2
    try:
        report = derive.verify(args.name, simulate=not args.no_simulate)
    except (derive.StepCheckError, derive.SimulationError) as exc:
        print(f"ravine derive: verification FAILED: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(report, args.format))
    return 0
