"""``ravine manual --out DIR``: write the verified solution manual (Markdown, notebook, figures)."""

from __future__ import annotations

import argparse
import sys

HELP = "write the machine-checked solution manual: DIR/manual.md, DIR/manual.ipynb, DIR/figures/*.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from solvers.cli_args import output_dir

    parser.add_argument("--out", required=True, type=output_dir, help="output directory (created if missing)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these derivations")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")


def run(args: argparse.Namespace) -> int:
    from solvers import derive
    from solvers.manual import write_manual

    if args.only:
        unknown = [n for n in args.only if n not in derive.REGISTRY]
        if unknown:
            print(f"ravine manual: {derive.UnknownDerivationError(unknown[0])}", file=sys.stderr)
            return 2
    try:
        result = write_manual(args.out, names=args.only, figures=not args.no_figures)
    except (derive.StepCheckError, derive.SimulationError) as exc:
        print(f"ravine manual: verification FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.markdown}")
    print(f"wrote {result.notebook} (nbformat v4, validated)")
    for name, path in result.figures.items():
        print(f"wrote {path}")
    print(f"{len(result.derivations)} derivations verified, {len(result.figures)} figures, {result.seconds:.1f} s")
    return 0
