"""``ravine reproduce NAME``: the lecture's experiments, measured next to the lecture's numbers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from solvers.cli_args import probe_writable

HELP = "reproduce the lecture's experiments (momentum-table, beta-table, p6); --list shows them"

EXPERIMENTS: dict[str, str] = {
    "momentum-table": "SGD vs SGD+momentum, same model and lr, 10 epochs: numpy MLP on 8x8 digits "
                      "(needs ravine[experiments]), several seeds, next to the lecture's MNIST table",
    "beta-table": "the beta table (effective memory 2, 10, 20, 100 steps), each column measured "
                  "by running the momentum rule",
    "p6": "exercise P6: momentum 0.99 diverges at lr where 0.9 converges, converges at lr/10 "
          "(Rosenbrock); printed table and a figure",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", choices=tuple(EXPERIMENTS), help="experiment to run")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--json", action="store_true", help="print the measured data as JSON")
    g = parser.add_argument_group("momentum-table")
    g.add_argument("--seeds", type=int, default=5, help="number of seeds 0..N-1 (default 5)")
    g.add_argument("--epochs", type=int, default=10, help="epochs (default 10, as the lecture)")
    g.add_argument("--lr", type=float, default=None, help="lr (default 0.01 for momentum-table, 0.002 for p6)")
    g.add_argument("--beta", type=float, default=0.9, help="momentum (default 0.9)")
    g.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    g.add_argument("--hidden", default="64", help="hidden layer sizes, comma-separated (default 64)")
    g.add_argument("--curves", type=Path, default=None, metavar="DIR",
                   help="also write seed 0's per-step minibatch losses to DIR/sgd-seed0.csv and "
                        "DIR/momentum-seed0.csv (inputs for ravine doctor)")
    g2 = parser.add_argument_group("p6")
    g2.add_argument("--out", type=Path, default=Path("p6-momentum-099.png"), help="figure file (default p6-momentum-099.png)")
    g2.add_argument("--no-figure", action="store_true", help="print the table only")


def plural(n: int, word: str) -> str:
    """'1 seed', '5 seeds'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _err(msg: str) -> int:
    print(f"ravine reproduce: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.list or args.name is None:
        for name, text in EXPERIMENTS.items():
            print(f"{name:15s} {text}")
        if args.name is None and not args.list:
            print("\nusage: ravine reproduce NAME (see above)", file=sys.stderr)
            return 2
        return 0
    if args.name == "momentum-table":
        return _momentum_table(args)
    if args.name == "beta-table":
        return _beta_table(args)
    return _p6(args)


def _momentum_table(args: argparse.Namespace) -> int:
    from solvers.lab.data import MissingExtra, load_digits_split
    from solvers.lab.experiments import LECTURE_MOMENTUM_TABLE, momentum_table

    lr = 0.01 if args.lr is None else args.lr
    if args.seeds < 1 or args.epochs < 1 or args.batch_size < 1:
        return _err(f"need --seeds, --epochs and --batch-size >= 1, got {args.seeds}, {args.epochs}, {args.batch_size}")
    if not (lr > 0) or not 0.0 <= args.beta < 1.0:
        return _err(f"need --lr > 0 and 0 <= --beta < 1, got {lr}, {args.beta}")
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        return _err(f"--hidden {args.hidden!r}: expected comma-separated positive integers, e.g. 64 or 128,64")
    if not hidden or min(hidden) < 1:
        return _err(f"--hidden {args.hidden!r}: expected comma-separated positive integers")
    try:
        load_digits_split(seed=0)
    except MissingExtra as exc:
        return _err(str(exc))
    t0 = time.perf_counter()
    print(f"training {2 * args.seeds} MLPs on 8x8 digits ...", file=sys.stderr)
    table = momentum_table(
        lambda s: load_digits_split(seed=s),
        seeds=tuple(range(args.seeds)), epochs=args.epochs, lr=lr, beta=args.beta,
        batch_size=args.batch_size, hidden=hidden, dataset="sklearn 8x8 digits",
        progress=lambda m: print("  " + m, file=sys.stderr),
    )
    elapsed = time.perf_counter() - t0
    if args.curves is not None:
        try:
            args.curves.mkdir(parents=True, exist_ok=True)
            for name, values in table.curves.items():
                path = args.curves / f"{name}-seed{table.seeds[0]}.csv"
                path.write_text("step,loss\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(values)))
                print(f"wrote {path}", file=sys.stderr)
        except OSError as exc:
            return _err(f"--curves {args.curves}: cannot write: {exc}")
    if args.json:
        print(json.dumps({**table.to_dict(), "seconds": round(elapsed, 2)}, indent=2))
        return 0
    c = table.config
    print('Lecture: "Same model, same LR, after 10 epochs" (MNIST), reproduced on 8x8 digits.')
    n = len(table.seeds)
    seeds = f"seed {table.seeds[0]}" if n == 1 else f"seeds 0..{n - 1}"
    print(f"setup: {c['model']}; lr={c['lr']:g}, beta={c['beta']:g}, batch {c['batch_size']}, "
          f"{plural(int(str(c['epochs'])), 'epoch')} = {plural(int(str(c['steps'])), 'step')}; {c['n_train']} training images, "
          f"stratified 80/20 split; {seeds} (split, init, batch order; SGD and momentum share them)")
    print()
    measured = f"measured (digits), {plural(n, 'seed')}"
    print(f"{'':16s} | {'lecture (MNIST)':^20s} | {measured:^34s}")
    print(f"{'optimizer':16s} | {'train loss':>10s} {'val acc':>9s} | {'train loss':>16s} {'val acc':>17s}")
    print("-" * 17 + "+" + "-" * 22 + "+" + "-" * 35)
    for name, lm, ls, am, as_ in table.rows():
        lec = LECTURE_MOMENTUM_TABLE[name]
        if n == 1:  # one seed has no spread: no "+- 0.000"
            print(f"{name:16s} | {lec[0]:10.2f} {lec[1]:8.1f}% | {lm:16.3f} {am:16.1f}%")
        else:
            print(f"{name:16s} | {lec[0]:10.2f} {lec[1]:8.1f}% | {lm:7.3f} +- {ls:5.3f} {am:8.1f}% +- {as_:4.1f}")
    print(f"{'':16s}   " + ("(measured: one seed, so no spread; use --seeds 5 for mean +- sample std)"
                             if n == 1 else "(measured: mean +- sample std over seeds)"))
    print()
    print("per seed (train loss / val acc):")
    for s, a, b, m, d in zip(table.seeds, table.sgd_loss, table.sgd_acc, table.mom_loss, table.mom_acc):
        print(f"  seed {s}: SGD {a:.3f} / {b:.1f}%   SGD + momentum {m:.3f} / {d:.1f}%")
    print()
    print("what matches, what does not:")
    for v in table.verdicts:
        print("  - " + v)
    print(f"\n({elapsed:.1f} s)", file=sys.stderr)
    return 0


def _beta_table(args: argparse.Namespace) -> int:
    from solvers.lab.experiments import beta_table

    rows = beta_table()
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    print("Lecture's beta table, each column measured by running the reference momentum rule")
    print("(v <- beta v + g; x <- x - lr v, v0 = 0):")
    print("  memory: steps until v reaches 1-1/e (63%) of its terminal value under a constant gradient")
    print("  terminal v/g: v after 3000 steps of a constant gradient g = sum of the EMA weights = 1/(1-beta)")
    print("  noise: std of (1-beta) v under independent unit-variance gradients (1 = no smoothing)")
    print("  Rosenbrock: the momentum rule at lr=0.002 from (-1.2, 1), 3000 steps")
    print()
    print(f"{'beta':>5s} | {'lecture memory':>14s} | {'memory':>6s} | {'terminal v/g':>12s} | {'noise':>5s} | "
          f"{'Rosenbrock lr=0.002':26s} | lecture's behaviour")
    print("-" * 112)
    for r in rows:
        print(f"{r.beta:5.2f} | {r.lecture_memory:>8d} steps | {r.response_steps:6d} | {r.terminal_ratio:12.2f} | "
              f"{r.noise_ratio:5.2f} | {r.rosenbrock:26s} | {r.lecture_behaviour}")
    ok = all(r.response_steps == r.lecture_memory for r in rows)
    print()
    print(("matches: " if ok else "does NOT match: ") + "the measured memory (63% response time) equals the lecture's "
          "'effective memory' for every beta" + ("" if ok else " (see the table)") + "; terminal v/g = 1/(1-beta) "
          "is the effective-lr multiplier, and only beta = 0.99 diverges on Rosenbrock at this lr.")
    return 0


def _p6(args: argparse.Namespace) -> int:
    from solvers.lab.experiments import p6

    lr = 0.002 if args.lr is None else args.lr
    if not lr > 0:
        return _err(f"need --lr > 0, got {lr}")
    out: Path = args.out
    if not args.no_figure and out.suffix.lower() not in (".png", ".svg", ".pdf"):
        return _err(f"--out {out}: use a .png, .svg or .pdf file")
    if not args.no_figure:  # before the work, so that a run does not end in "cannot write"
        try:
            probe_writable(out)
        except argparse.ArgumentTypeError as exc:
            return _err(f"argument --out: {exc}")
    res = p6(lr=lr)
    if args.json:
        print(json.dumps({
            "problem": res.problem, "start": list(res.start), "steps": res.steps,
            "runs": [{"label": r.label, "beta": r.beta, "lr": r.lr, "effective_lr": r.effective_lr,
                      "diverged_at": r.diverged_at, "final_loss": None if r.diverged_at else float(r.losses[-1])}
                     for r in res.runs],
            "control": res.quadratic_control,
        }, indent=2))
    else:
        print(f"P6: momentum raised from 0.9 to 0.99 -- {res.problem}, start {res.start}, {res.steps} steps")
        print(f"{'run':18s} | {'beta':>5s} | {'lr':>8s} | {'lr/(1-beta)':>11s} | outcome")
        print("-" * 80)
        for r in res.runs:
            print(f"{r.label:18s} | {r.beta:5.2f} | {r.lr:8.4g} | {r.effective_lr:11.4g} | {r.outcome}")
        print(res.quadratic_control)
        print("fix: at terminal velocity the step is lr/(1-beta) x gradient, 10x larger at 0.99 than at 0.9;")
        print("     dividing lr by 10 restores the effective step (the lecture's fix).")
        print("why it blew up: not the 10x alone -- on a quadratic beta 0.99 is stable at this lr (control);")
        print("     on Rosenbrock the slowly damped swings carry the iterate up the steepening walls, where")
        print("     lr*curvature leaves the stable region (a non-quadratic transient; see `ravine derive p6`).")
    if not args.no_figure:
        from solvers.lab.experiment_figures import plot_p6

        try:
            plot_p6(res, out)
        except OSError as exc:
            return _err(f"cannot write {out}: {exc.strerror or exc}")
        print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    return 0
