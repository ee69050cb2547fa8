"""The step-checking engine: a derivation is data, and it checks itself.

A :class:`Derivation` is a named sequence of :class:`Step` s.  Each step holds a
SymPy object (an expression, an ``Eq``, a relation, a boolean condition or a
matrix) and a one-line justification.  ``verify`` checks every step against a
reference -- the previous step, or an earlier step named by ``against`` --
after applying the step's optional operation ``via`` (``diff``, ``solve``,
``subs``, ``doit`` ...) to the reference:

* ``rel="given"``  a definition or model (the update rule, the objective);
  nothing to check.
* ``rel="="``      equality of expressions.  For two ``Eq`` the check is
  ``(l1 - r1) == (l2 - r2)``; an ``Eq`` against an expression compares its
  right-hand side.
* ``rel="<=>"``    equivalence of two conditions inside the domain.
* ``rel="=>"``     the step's condition follows from the reference's.

A check is *symbolic* first (structural identity, ``expand``, ``cancel``,
``simplify``; for conditions ``simplify`` of both), with a *randomized numeric*
check inside the derivation's :class:`Domain` as the fallback.  The method
that decided is recorded in the :class:`StepReport`.  A step that fails both
raises :class:`StepCheckError` naming the derivation and the step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import sympy as sp

__all__ = [
    "Step",
    "Domain",
    "Simulation",
    "SimulationResult",
    "Derivation",
    "StepReport",
    "SimulationReport",
    "Report",
    "StepCheckError",
    "ResultError",
    "SimulationError",
    "verify_derivation",
    "check_step",
]

Relation = Literal["given", "=", "<=>", "=>"]

NUMERIC_SAMPLES = 256
# Absolute tolerance on |difference| at a sample (evaluated with mpmath at 15 digits; the
# domains keep magnitudes modest, so round-off stays far below it).
NUMERIC_ATOL = 1e-8
# Above this operation count ``simplify`` is skipped (too slow) and the numeric
# fallback decides.
SIMPLIFY_MAX_OPS = 400
# ``simplify`` on relations is slow and rarely decides; only small conditions try it.
SIMPLIFY_LOGIC_MAX_OPS = 12


@dataclass(frozen=True)
class Step:
    """One line of a derivation: a SymPy object, a justification and how it follows."""

    expr: Any
    why: str
    rel: Relation = "="
    via: Callable[[Any], Any] | None = None
    against: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Domain:
    """Where the derivation lives: sampling boxes for the numeric check, plus constraints.

    ``boxes`` maps a symbol to ``(low, high)``; integer symbols are drawn as
    integers in that closed range.  ``constraints`` are SymPy relations a sample
    must satisfy (e.g. ``lambda_min < lambda_max``).  ``text`` states the
    assumptions in words.  Free symbols without a box are drawn from
    ``default`` (real) or 1..12 (integer).
    """

    boxes: Mapping[sp.Symbol, tuple[float, float]] = field(default_factory=dict)
    constraints: Sequence[Any] = ()
    text: Sequence[str] = ()
    default: tuple[float, float] = (-2.0, 2.0)


@dataclass(frozen=True)
class SimulationResult:
    ok: bool
    detail: str
    numbers: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Simulation:
    """A numeric experiment with the reference rules that must agree with the result."""

    name: str
    description: str
    run: Callable[[], SimulationResult]


@dataclass
class Derivation:
    """A named, self-checking derivation (see the module docstring)."""

    name: str
    title: str
    summary: str
    steps: list[Step]
    domain: Domain = field(default_factory=Domain)
    convention: str = ""
    statement: str = ""
    answer: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    simulations: list[Simulation] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StepReport:
    index: int
    label: str | None
    why: str
    rel: str
    method: str  # "given" | "symbolic" | "numeric"
    detail: str


@dataclass(frozen=True)
class SimulationReport:
    name: str
    description: str
    detail: str
    numbers: Mapping[str, float]


@dataclass
class Report:
    """A passed verification (a failing step raises instead of returning a Report)."""

    derivation: Derivation
    steps: list[StepReport]
    simulations: list[SimulationReport]
    seconds: float

    @property
    def name(self) -> str:
        return self.derivation.name

    def methods(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.method] = out.get(s.method, 0) + 1
        return out


class StepCheckError(AssertionError):
    """A step does not follow from its reference; names the derivation and the step."""

    def __init__(self, derivation: str, index: int, step: Step, detail: str):
        self.derivation = derivation
        self.index = index
        self.step = step
        self.detail = detail
        label = f" [{step.label}]" if step.label else ""
        super().__init__(
            f"derivation {derivation!r}, step {index}{label} ({step.why!r}) does not follow "
            f"({step.rel}): {detail}"
        )


class ResultError(AssertionError):
    """A declared result is not the outcome of any checked step (it would be a bare claim)."""

    def __init__(self, derivation: str, result: str, detail: str):
        self.derivation = derivation
        self.result = result
        super().__init__(f"derivation {derivation!r}, result {result!r}: {detail}")


class SimulationError(AssertionError):
    """A numeric simulation disagrees with the derived result."""

    def __init__(self, derivation: str, simulation: str, detail: str):
        self.derivation = derivation
        self.simulation = simulation
        super().__init__(f"derivation {derivation!r}, simulation {simulation!r} disagrees: {detail}")


# --- comparison helpers -----------------------------------------------------------


def _difference(a: Any, b: Any) -> Any:
    """The quantity that must vanish for ``a = b`` (see the module docstring)."""
    a_eq, b_eq = isinstance(a, sp.Equality), isinstance(b, sp.Equality)
    if a_eq and b_eq:
        return (a.lhs - a.rhs) - (b.lhs - b.rhs)
    if a_eq:
        a = a.rhs
    if b_eq:
        b = b.rhs
    if isinstance(a, (list, tuple)):
        a = sp.Matrix(a)
    if isinstance(b, (list, tuple)):
        b = sp.Matrix(b)
    return a - b


def _is_zero_symbolic(d: Any) -> str | None:
    """Return the name of the transformation that shows ``d == 0``, or None."""
    if isinstance(d, sp.MatrixBase):
        entries = list(d)
        names: list[str] = []
        for e in entries:
            m = _is_zero_symbolic(e)
            if m is None:
                return None
            names.append(m)
        return max(names, key=["identity", "expand", "cancel", "simplify"].index) if names else "identity"
    d = sp.sympify(d)
    if d == 0:
        return "identity"
    if sp.expand(d) == 0:
        return "expand"
    try:
        if sp.cancel(sp.together(d)) == 0:
            return "cancel"
    except (sp.PolynomialError, TypeError, ValueError):
        pass
    if sp.count_ops(d) <= SIMPLIFY_MAX_OPS and sp.simplify(d) == 0:
        return "simplify"
    return None


def _refuted(cond: Any, domain: Domain) -> bool:
    """True when ``cond`` (an ``Eq(symbol, value)``) contradicts one of the domain's constraints:
    substituting the value makes that constraint False (e.g. ``Eq(beta, 1)`` against ``beta < 1``)."""
    if not isinstance(cond, sp.Equality) or not isinstance(cond.lhs, sp.Symbol):
        return False
    for c in domain.constraints:
        if cond.lhs in c.free_symbols and c.subs(cond.lhs, cond.rhs) is sp.false:
            return True
    return False


def _resolve_piecewise(expr: Any, domain: Domain) -> Any:
    """Drop the branches of every Piecewise whose condition the domain excludes (a sum's
    ``beta = 1`` case when the domain has ``beta < 1``); a single remaining branch replaces it."""

    def resolve(pw: sp.Piecewise) -> Any:
        kept = [(e, c) for e, c in pw.args if not _refuted(c, domain)]
        if len(kept) == len(pw.args):
            return pw
        if len(kept) == 1 or kept[0][1] is sp.true:
            return kept[0][0]
        return sp.Piecewise(*kept)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), resolve)


def _normal_condition(c: Any, domain: Domain) -> frozenset[Any] | None:
    """A condition as a set of normalized inequalities ``(expand(rhs - lhs), strict)`` meaning
    ``rhs - lhs > 0`` (or ``>= 0``), And-conjuncts flattened; conjuncts that are domain
    constraints (true everywhere on the domain) are dropped.  None when ``c`` is not a
    conjunction of inequalities."""
    known = set()
    for d in domain.constraints:
        n = _normal_relation(d)
        if n is not None:
            known.add(n)
    parts = c.args if isinstance(c, sp.And) else (c,)
    out = set()
    for part in parts:
        if part is sp.true:
            continue
        n = _normal_relation(part)
        if n is None:
            return None
        if n not in known:
            out.add(n)
    return frozenset(out)


def _normal_relation(r: Any) -> tuple[Any, bool] | None:
    if isinstance(r, (sp.StrictLessThan, sp.LessThan)):
        return _positive_part(r.rhs - r.lhs), isinstance(r, sp.StrictLessThan)
    if isinstance(r, (sp.StrictGreaterThan, sp.GreaterThan)):
        return _positive_part(r.lhs - r.rhs), isinstance(r, sp.StrictGreaterThan)
    return None


def _positive_part(e: Any) -> Any:
    """``e`` up to a factor SymPy proves positive: the numerator of ``together(e)`` when the
    denominator's sign is known, expanded (so ``e > 0`` and the result ``> 0`` are equivalent)."""
    num, den = sp.fraction(sp.together(e))
    if den.is_positive:
        return sp.expand(num)
    if (-den).is_positive:
        return sp.expand(-num)
    return sp.expand(e)


def _peel_sums(d: Any) -> Any:
    """Write sum_{k=a}^{b} f as sum_{k=a}^{b-1} f + f(b) when a sum up to b-1 also occurs.

    This is the induction step's bookkeeping: it lets ``simplify`` compare a sum at
    t+1 with the same sum at t."""
    sums = [s for s in d.atoms(sp.Sum) if len(s.limits) == 1]
    bounds = {(s.limits[0][1], s.limits[0][2]) for s in sums}

    def peel(s: sp.Sum) -> Any:
        if len(s.limits) != 1:
            return s
        var, lo, hi = s.limits[0]
        if (lo, hi - 1) in bounds:
            return sp.Sum(s.function, (var, lo, hi - 1)) + s.function.subs(var, hi)
        return s

    return d.replace(lambda e: isinstance(e, sp.Sum), peel)


class _Sampler:
    """Random points inside a domain for the numeric fallback (seeded: reproducible)."""

    def __init__(self, domain: Domain, seed: int):
        self.domain = domain
        self.rng = np.random.default_rng(seed)

    def draw(self, symbols: Sequence[sp.Symbol], count: int) -> list[dict[sp.Symbol, Any]]:
        out: list[dict[sp.Symbol, Any]] = []
        constraint_fns = []
        for c in self.domain.constraints:
            syms = sorted(c.free_symbols, key=str)
            constraint_fns.append((syms, sp.lambdify(syms, c, "math")))
        needed = set(symbols)
        for c in self.domain.constraints:
            needed |= c.free_symbols
        ordered = sorted(needed, key=str)
        tries = 0
        while len(out) < count and tries < 50 * count:
            tries += 1
            point: dict[sp.Symbol, Any] = {}
            for s in ordered:
                lo, hi = self.domain.boxes.get(s, (1, 12) if s.is_integer else self.domain.default)
                if s.is_integer:
                    point[s] = int(self.rng.integers(int(lo), int(hi) + 1))
                else:
                    v = float(self.rng.uniform(lo, hi))
                    if s.is_positive and v <= 0:
                        v = abs(v) + 1e-3
                    if s.is_nonnegative and v < 0:
                        v = -v
                    point[s] = v
            if all(bool(fn(*[point[s] for s in syms])) for syms, fn in constraint_fns):
                out.append(point)
        if len(out) < count:
            raise ValueError(f"could not draw {count} points satisfying {list(self.domain.constraints)}")
        return out


def _evaluate(expr: Any, point: Mapping[sp.Symbol, Any]) -> Any:
    value = expr.subs(point) if hasattr(expr, "subs") else expr
    if hasattr(value, "doit"):
        value = value.doit()
    if isinstance(value, sp.MatrixBase):
        return np.array(value.evalf(), dtype=complex)
    if isinstance(value, (bool, sp.logic.boolalg.BooleanAtom)):
        return bool(value)
    if isinstance(value, sp.logic.boolalg.Boolean):
        return bool(sp.simplify(value))
    return complex(sp.N(value, 30))


def _numeric_equal(d: Any, domain: Domain, seed: int, samples: int) -> tuple[bool, str]:
    syms = sorted(getattr(d, "free_symbols", set()), key=str)
    points = _Sampler(domain, seed).draw(syms, samples)
    worst = 0.0
    fast = None
    if not isinstance(d, sp.MatrixBase) and not d.has(sp.Sum, sp.Product, sp.Integral):
        try:
            fast = sp.lambdify(syms, d, "mpmath")
        except Exception:  # pragma: no cover - lambdify falls back below
            fast = None
    for p in points:
        if fast is not None:
            try:
                v = complex(fast(*[p[s] for s in syms]))
            except Exception:
                v = _evaluate(d, p)
        else:
            v = _evaluate(d, p)
        mag = float(np.max(np.abs(v)))
        if not np.isfinite(mag) or mag > NUMERIC_ATOL:
            where = ", ".join(f"{s}={p[s]:.6g}" for s in syms)
            return False, f"differs by {mag:.3g} at {where}"
        worst = max(worst, mag)
    return True, f"{samples} random points in the domain, max |difference| {worst:.1e}"


def _numeric_logic(a: Any, b: Any, rel: str, domain: Domain, seed: int, samples: int) -> tuple[bool, str]:
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    points = _Sampler(domain, seed).draw(syms, samples)
    fa = sp.lambdify(syms, a, "mpmath")
    fb = sp.lambdify(syms, b, "mpmath")
    agree_true = 0
    for p in points:
        args = [p[s] for s in syms]
        va, vb = bool(fa(*args)), bool(fb(*args))
        bad = (va != vb) if rel == "<=>" else (va and not vb)
        if bad:
            where = ", ".join(f"{s}={p[s]:.6g}" for s in syms)
            return False, f"reference is {va} but step is {vb} at {where}"
        agree_true += va
    if agree_true == 0 or (rel == "<=>" and agree_true == samples):
        # Every sample on one side of the boundary proves nothing: the domain boxes must straddle it.
        side = "outside" if agree_true == 0 else "inside"
        return False, (f"inconclusive: all {samples} random points fall {side} the region; widen the "
                       "domain's sampling boxes so they straddle the boundary")
    return True, f"{samples} random points in the domain agree ({agree_true} inside the region)"


def check_step(
    step: Step,
    reference: Any,
    domain: Domain,
    *,
    seed: int = 0,
    samples: int = NUMERIC_SAMPLES,
) -> tuple[str, str]:
    """Check one step against its reference; return (method, detail) or raise ValueError."""
    if step.rel == "given":
        return "given", "definition / model"
    target = step.via(reference) if step.via is not None else reference
    if step.rel == "=":
        d = _difference(target, step.expr)
        how = _is_zero_symbolic(d)
        if how is not None:
            return "symbolic", how
        if d.has(sp.Sum, sp.Product, sp.Integral):
            peeled = _peel_sums(d)
            if peeled != d and sp.simplify(peeled) == 0:
                return "symbolic", "split off the last term of a sum + simplify"
            # Evaluate the sums in closed form; the numeric check then runs on that (much faster).
            done = _resolve_piecewise(d.doit(), domain)
            how = _is_zero_symbolic(done)
            if how is not None:
                return "symbolic", f"doit + {how}"
            if not done.has(sp.Sum, sp.Product, sp.Integral):
                d = done
        ok, detail = _numeric_equal(d, domain, seed, samples)
        if ok:
            return "numeric", detail
        raise ValueError(detail)
    if step.rel in ("<=>", "=>"):
        a, b = sp.sympify(target), sp.sympify(step.expr)
        if a == b:
            return "symbolic", "identity"
        na, nb = _normal_condition(a, domain), _normal_condition(b, domain)
        if na is not None and na == nb:
            return "symbolic", "the same inequalities (each written as expr > 0, expanded; domain facts dropped)"
        if step.rel == "<=>" and sp.count_ops(a) + sp.count_ops(b) <= SIMPLIFY_LOGIC_MAX_OPS:
            try:
                if sp.simplify(a) == sp.simplify(b):
                    return "symbolic", "simplify"
            except Exception:  # noqa: BLE001 - simplify on relations may refuse
                pass
        ok, detail = _numeric_logic(a, b, step.rel, domain, seed, samples)
        if ok:
            return "numeric", detail
        raise ValueError(detail)
    raise ValueError(f"unknown relation {step.rel!r}")


def _candidates(expr: Any) -> list[Any]:
    """The expression and its visible parts: Eq/relation sides, And terms, matrix entries."""
    out = [expr]
    if isinstance(expr, sp.MatrixBase):
        out += list(expr)
    if isinstance(expr, sp.core.relational.Relational):
        out += [expr.lhs, expr.rhs]
    if isinstance(expr, sp.And):
        for arg in expr.args:
            out += _candidates(arg)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        return (isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape
                and all(sp.cancel(u - v) == 0 for u, v in zip(a, b)))
    if isinstance(a, sp.logic.boolalg.Boolean) or isinstance(b, sp.logic.boolalg.Boolean):
        return bool(a == b)
    try:
        return bool(sp.cancel(sp.sympify(a) - sp.sympify(b)) == 0)
    except (TypeError, ValueError, sp.PolynomialError):
        return False


def verify_derivation(d: Derivation, *, simulate: bool = True, seed: int = 0) -> Report:
    """Check every step, that every declared result is the outcome of a checked step, and run the
    simulations; raise on the first failure (StepCheckError, ResultError, SimulationError)."""
    t0 = time.perf_counter()
    labels: dict[str, Any] = {}
    reports: list[StepReport] = []
    previous: Any = None
    for i, step in enumerate(d.steps, start=1):
        if step.against is not None:
            if step.against not in labels:
                raise StepCheckError(d.name, i, step, f"no earlier step labelled {step.against!r}")
            reference = labels[step.against]
        else:
            reference = previous
        if reference is None and step.rel != "given":
            raise StepCheckError(d.name, i, step, "the first step must be 'given' or name a reference")
        try:
            method, detail = check_step(step, reference, d.domain, seed=seed + i)
        except StepCheckError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is this step's failure
            raise StepCheckError(d.name, i, step, str(exc) or type(exc).__name__) from exc
        reports.append(StepReport(i, step.label, step.why, step.rel, method, detail))
        if step.label:
            labels[step.label] = step.expr
        previous = step.expr
    for key, value in d.results.items():
        if isinstance(value, sp.Symbol):
            continue  # a verdict label (the quiz's "b"), not a formula
        pool = [c for s, r in zip(reversed(d.steps), reversed(reports)) if r.method != "given"
                for c in _candidates(s.expr)]
        if not (any(c == value for c in pool) or any(_same(c, value) for c in pool)):
            raise ResultError(d.name, key, f"{value} does not appear in any checked step")
    sims: list[SimulationReport] = []
    if simulate:
        for sim in d.simulations:
            res = sim.run()
            if not res.ok:
                raise SimulationError(d.name, sim.name, res.detail)
            sims.append(SimulationReport(sim.name, sim.description, res.detail, dict(res.numbers)))
    return Report(d, reports, sims, time.perf_counter() - t0)
