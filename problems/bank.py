"""Every exercise of the lecture on SGD, momentum and Nesterov, as declarative specs.

The references of symbolic, numeric and derivation parts (and of the quiz) are not
written here: each part's ``derived`` recipe says how it follows from the results
of ``solvers.derive``, and the texts are generated into ``problems/_references.py``
(see :mod:`problems.references`).  Anticipated mistakes are written here as formula
text (parsed by the grader's safe parser).
"""

from __future__ import annotations

from .checkspec import FunctionExercise
from .spec import Choice, Mistake, Param, Part, Problem, Sym
from .update_rules import ALL_EXERCISES

__all__ = ["ALL_PROBLEMS"]

# ----------------------------------------------------------------------------- symbols
LR = Sym("lr", ("eta", "alpha", "learning_rate"), "positive", "0.001", "1", r"\eta")
BETA = Sym("beta", ("mu", "momentum"), "nonnegative", "0", "0.99", r"\beta")
LMAX = Sym("lambda_max", ("L", "lambda_1", "lmax", "lambda_{max}"), "positive", "0.5", "200",
           r"\lambda_{\max}")
LMIN = Sym("lambda_min", ("lambda_n", "lmin", "lambda_{min}"), "positive", "0.01", "20",
           r"\lambda_{\min}")
G = Sym("g", ("grad",), "real", "-3", "3", "g")
BETA_LT_1 = ("beta < 1",)


def _wrong(id: str, answer: str, message: str, credit: float = 0.0) -> Mistake:
    """An anticipated wrong answer: ``answer`` is its formula text or choice key (the matcher)."""
    return Mistake(id, message, credit, matcher=answer)


IMPL_TOL_NOTE = "graded by the implementation checks (`ravine check` runs the public ones)"


def _impl(exercise: FunctionExercise) -> Part:
    # The exercise is the part's payload: its function, points, checks and mistakes.
    detail = _IMPL_DETAIL.get(exercise.function, "")
    return Part(f"UR.{exercise.function}", "implementation", exercise.points,
                f"`{exercise.signature}`{detail}", exercise=exercise, explanation=IMPL_TOL_NOTE)


_IMPL_DETAIL = {"classify_critical_point": ': "minimum", "maximum", "saddle" or "degenerate"'}


UR = Problem(
    "UR",
    "The update rules and three numeric helpers",
    r"""Implement the lecture's update rules and helpers with exactly these signatures.
`x` and `v` are 1-D float64 numpy arrays and `grad_fn(point)` returns the gradient at `point`.
Momentum follows the lecture's (and `torch.optim.SGD`'s) convention
$v \leftarrow \beta v + \nabla f(x)$, $x \leftarrow x - \eta v$, with $v_0 = 0$; Nesterov evaluates
the gradient at the look-ahead point $x - \eta\beta v$.""",
    tuple(_impl(e) for e in ALL_EXERCISES),
)

ONE_OVER_LMAX = _wrong(
    "one-over-lambda-max", "1/lambda_max",
    "1/lambda_max is the step that removes the steep direction's error in one step "
    "(lr*lambda_max = 1); steps up to 2/lambda_max are still stable: the steep direction then "
    "shrinks while flipping sign.", 0.25)
TWO_OVER_LMIN = _wrong(
    "lambda-min", "2/lambda_min",
    "The steepest direction decides stability: with lr = 2/lambda_min the factor "
    "|1 - lr*lambda_max| exceeds 1 and the steep direction blows up.")

P1 = Problem(
    "P1",
    "The largest stable learning rate, and what it costs the slow direction",
    r"""Gradient descent $x \leftarrow x - \eta\nabla f(x)$ on the quadratic
$f(x, y) = \tfrac12\left({{a}}\,x^2 + {{b}}\,y^2\right)$, and in general on
$f(x) = \tfrac12 x^\top H x$ with $H$ symmetric positive definite, eigenvalues
$\lambda_{\min} \le \dots \le \lambda_{\max}$. Along each eigenvector the error is multiplied by
$1 - \eta\lambda$ per step.""",
    (
        Part("P1.a", "symbolic", 4,
             r"The largest stable learning rate in terms of $\lambda_{\max}$ (and $\lambda_{\min}$ "
             r"if needed).", derived="stable_lr", symbols=(LMAX, LMIN),
             constraints=("lambda_min < lambda_max",),
             mistakes=(ONE_OVER_LMAX, TWO_OVER_LMIN),
             explanation=r"Stability needs $|1-\eta\lambda| < 1$ for every eigenvalue, i.e. "
                         r"$\eta < 2/\lambda$; the largest eigenvalue is the binding one."),
        Part("P1.b", "symbolic", 3,
             r"The condition on $\eta$ under which gradient descent converges from every start "
             r"(an inequality, e.g. `lr < ...`).", derived="lr < stable_lr",
             symbols=(LR, LMAX, LMIN), constraints=("lambda_min < lambda_max",), designated="lr",
             mistakes=(_wrong("non-strict", "lr <= 2/lambda_max",
                              "At lr = 2/lambda_max the steep direction's factor is exactly -1: "
                              "it oscillates forever and never converges. The inequality must "
                              "be strict.", 0.5),
                       _wrong("lambda-min", "lr < 2/lambda_min", TWO_OVER_LMIN.message),
                       _wrong("one-over-lambda-max", "lr < 1/lambda_max",
                              "Steps between 1/lambda_max and 2/lambda_max converge too "
                              "(the steep direction shrinks while flipping sign).", 0.25))),
        Part("P1.c", "numeric", 2,
             r"For your $f$: the largest stable learning rate (a number or a numeric formula).",
             derived="at(stable_lr, lambda_max={{a}})", mistakes=(
                 _wrong("one-over-lambda-max", "1/{{a}}", ONE_OVER_LMAX.message, 0.25),
                 _wrong("lambda-min", "2/{{b}}", TWO_OVER_LMIN.message))),
        Part("P1.d", "symbolic", 3,
             r"Take $\eta = 1/\lambda_{\max}$. The slow direction's error shrinks by the factor "
             r"$1 - \lambda_{\min}/\lambda_{\max}$ per step. Using $\ln(1-x) \approx -x$, about how "
             r"many steps does it need to shrink by a factor $e$? (In terms of the eigenvalues.)",
             derived="steps_per_efold", symbols=(LMAX, LMIN), constraints=("lambda_min < lambda_max",),
             mistakes=(_wrong("inverted-condition-number", "lambda_min/lambda_max",
                              "That is the shrink per step, not the number of steps: the count "
                              "is the condition number lambda_max/lambda_min."),
                       _wrong("largest-step", "lambda_max/(2*lambda_min)",
                              "That count belongs to the step 2/lambda_max; here lr = "
                              "1/lambda_max.", 0.5))),
        Part("P1.e", "numeric", 2,
             r"For your $f$ with $\eta = 1/{{a}}$: about how many steps (same approximation)?",
             derived="at(steps_per_efold, lambda_max={{a}}, lambda_min={{b}})", rtol=0.02,
             mistakes=(_wrong("inverted-condition-number", "{{b}}/{{a}}",
                              "That is the shrink per step, not the number of steps."),)),
    ),
    params=(Param(("a", "b"), (("100", "1"), ("50", "2"), ("120", "3"), ("80", "4"),
                               ("200", "5"), ("150", "2"), ("90", "1"), ("60", "3"))),),
)

K = Sym("k", (), "integer", "1", "12")
T = Sym("t", (), "integer", "1", "30")

P2 = Problem(
    "P2",
    "Momentum is an exponential moving average: unroll the recurrence",
    r"""Unroll the momentum recurrence $v_t = \beta v_{t-1} + g_t$ with $v_0 = 0$ into a weighted
sum of past gradients.""",
    (
        Part("P2.a", "symbolic", 3,
             r"With which weight does the gradient $g_{t-k}$ (from $k$ steps ago) enter $v_t$?",
             derived="momentum_weight", symbols=(BETA, K), constraints=BETA_LT_1,
             mistakes=(_wrong("ema-form", "(1-beta)*beta^k",
                              "That is the EMA convention v = beta v + (1-beta) g; the lecture's "
                              "(and torch's) momentum adds the plain gradient."),
                       _wrong("off-by-one", "beta^(k+1)",
                              "Off by one: the newest gradient g_t (k = 0) enters with weight 1."),
                       _wrong("off-by-one", "beta^(k-1)",
                              "Off by one: the newest gradient g_t (k = 0) enters with weight 1."))),
        Part("P2.b", "symbolic", 3,
             r"With a constant gradient $g_t = g$: $v_t = \;$? (a closed form in $g, \beta, t$)",
             derived="velocity_t", symbols=(G, BETA, T), constraints=BETA_LT_1,
             mistakes=(_wrong("terminal-velocity", "g/(1-beta)",
                              "That is the limit t -> infinity (terminal velocity); after t steps "
                              "the geometric sum has t terms.", 0.5),
                       _wrong("off-by-one", "g*(1-beta^(t+1))/(1-beta)",
                              "Off by one: v_1 = g, so v_t has t terms."),
                       _wrong("ema-form", "g*(1-beta^t)",
                              "That is the EMA convention's v_t; the lecture's momentum has no "
                              "(1-beta) factor."))),
    ),
)

P3 = Problem(
    "P3",
    "Saddles versus strict minima",
    "Explain in one sentence why momentum helps escape saddles but does not help escape strict "
    "local minima.",
    (
        Part("P3.a", "text", 3, "Your sentence.",
             "At a saddle some direction curves down, so the velocity momentum accumulates along "
             "it grows and carries the iterate out of the flat region faster; at a strict minimum "
             "every direction curves up, so the restoring gradient opposes any velocity and "
             "momentum only makes the iterate oscillate inside the basin."),
    ),
)

P4 = Problem(
    "P4",
    "The Rosenbrock experiment",
    r"""Run two trajectories on a Rosenbrock-like ravine
$f(x, y) = (1-x)^2 + 100\,(y - x^2)^2$ from $(-1.5, 2)$: SGD with $\eta = 10^{-3}$ and momentum
with the same $\eta$ and $\beta = 0.9$, for 2000 steps each. Plot both paths on the contour plot.""",
    (
        Part("P4.a", "choice", 2, "Which run gets closer to the minimum $(1, 1)$ in 2000 steps?",
             "b", choices=(
                 Choice("a", "plain SGD", "SGD zig-zags across the ravine and then crawls along "
                        "its floor."),
                 Choice("b", "momentum", "Momentum averages out the zig-zag across the ravine and "
                        "builds up speed along its floor."),
                 Choice("c", "both end at the same distance", "They do not: compare the final "
                        "distances on your plot."))),
        Part("P4.b", "text", 3, "Describe the two paths in two or three sentences.",
             "SGD oscillates across the steep walls and then creeps slowly along the curved "
             "valley floor; momentum damps the oscillation (the cross-valley gradients cancel in "
             "the velocity) and accelerates along the floor, getting much closer to (1, 1)."),
    ),
)

VT = Sym("v_t", ("v",), "real", "-3", "3")
GT = Sym("g_t", ("g",), "real", "-3", "3")
GT1 = Sym("g_{t-1}", ("g_tm1", "g_prev"), "real", "-3", "3")

P5 = Problem(
    "P5",
    "Nesterov is momentum plus a correction",
    r"""In look-ahead coordinates (the iterates `torch.optim.SGD(nesterov=True)` stores), Nesterov
momentum reads $b_{t+1} = \beta b_t + g_t$, $x_{t+1} = x_t - \eta\,(g_t + \beta b_{t+1})$, with
$g_t$ the gradient at $x_t$.""",
    (
        Part("P5.a", "symbolic", 3,
             r"Write the update direction $g_t + \beta b_{t+1}$ in terms of $b_t$ (write `v_t`), "
             r"$g_t$ (write `g_t`) and $\beta$.",
             derived="nesterov_direction_from_velocity", symbols=(VT, GT, BETA), constraints=BETA_LT_1,
             mistakes=(_wrong("no-lookahead", "beta*v_t + g_t",
                              "That is classical momentum's direction: the look-ahead adds "
                              "beta*(beta*v_t + g_t)."),
                       _wrong("dropped-gradient", "beta^2*v_t + beta*g_t",
                              "The direction still contains the fresh gradient g_t itself."))),
        Part("P5.b", "symbolic", 4,
             r"The direction $d_t = g_t + \beta b_{t+1}$ obeys $d_t = \beta d_{t-1} + g_t + C$. "
             r"State the correction $C$ in terms of $\beta$, $g_t$ and $g_{t-1}$.",
             derived="nesterov_velocity_extra", symbols=(GT, GT1, BETA), constraints=BETA_LT_1,
             mistakes=(_wrong("missing-beta", "g_t - g_{t-1}",
                              "The gradient difference is scaled by beta.", 0.5),
                       _wrong("lookahead-sign", "beta*(g_{t-1} - g_t)",
                              "Sign: Nesterov adds beta times the *change* g_t - g_{t-1}, "
                              "anticipating where the gradient is heading."),
                       _wrong("no-lookahead", "0",
                              "Then it would be classical momentum; the look-ahead adds a "
                              "gradient-difference term."))),
    ),
)

P6 = Problem(
    "P6",
    "Raising momentum without blowing up",
    r"""A practitioner raises momentum from $\beta = {{b0}}$ to $\beta = {{b1}}$ with the same
learning rate and the run NaNs. At terminal velocity the step per unit gradient is
$\eta/(1-\beta)$.""",
    (
        Part("P6.a", "numeric", 2,
             "By which factor did the effective learning rate grow?",
             derived="at(effective_lr, beta={{b1}}) / at(effective_lr, beta={{b0}})",
             mistakes=(_wrong("inverted", "(1-{{b1}})/(1-{{b0}})",
                              "Inverted: the effective lr lr/(1-beta) grows when beta grows."),)),
        Part("P6.b", "numeric", 3,
             "By which factor must the learning rate be multiplied to keep the effective learning "
             "rate unchanged?",
             derived="at(effective_lr, beta={{b0}}) / at(effective_lr, beta={{b1}})",
             mistakes=(_wrong("lr-times-10", "(1-{{b0}})/(1-{{b1}})",
                              "That multiplies the effective lr by the same factor a second "
                              "time: the lr must shrink, by (1-beta_new)/(1-beta_old)."),
                       _wrong("beta-ratio", "{{b0}}/{{b1}}",
                              "The effective lr depends on 1-beta, not on beta."))),
    ),
    params=(Param(("b0", "b1"), (("0.9", "0.99"), ("0.8", "0.98"), ("0.5", "0.95"),
                                 ("0.9", "0.95"), ("0.8", "0.96"), ("0.5", "0.9"))),),
)

TV_V = Sym("v", ("v_inf", "v_infty", "v_{inf}", "v_{infty}"), "real", "-5", "5")

TV = Problem(
    "TV",
    "Terminal velocity and the effective learning rate",
    r"""Assume the gradient is the same, $g$, step after step. Then the velocity of
$v \leftarrow \beta v + g$ approaches a terminal value $v_\infty$.""",
    (
        Part("TV.a", "symbolic", 3, r"$v_\infty = \;$? (in terms of $g$ and $\beta$)",
             derived="terminal_velocity", symbols=(G, BETA), constraints=BETA_LT_1,
             mistakes=(_wrong("one-plus-beta", "g/(1+beta)",
                              "Sign: the geometric series 1 + beta + beta^2 + ... sums to "
                              "1/(1-beta)."),
                       _wrong("beta-over-one-minus-beta", "beta*g/(1-beta)",
                              "The current gradient counts too: the series starts at beta^0 = 1."),
                       _wrong("one-minus-beta", "(1-beta)*g",
                              "Inverted: the velocity grows to g/(1-beta), it does not shrink."))),
        Part("TV.b", "symbolic", 2,
             r"The parameter step at terminal velocity is $\eta v_\infty$: the effective learning "
             r"rate (step per unit gradient) is?", derived="effective_lr", symbols=(LR, BETA),
             constraints=BETA_LT_1,
             mistakes=(_wrong("ema-form", "lr*(1-beta)",
                              "That is the EMA form's scaling; with v <- beta v + g the step "
                              "grows to lr/(1-beta)."),
                       _wrong("one-plus-beta", "lr/(1+beta)",
                              "Sign: 1 + beta + beta^2 + ... = 1/(1-beta)."))),
        Part("TV.c", "derivation", 3,
             r"Derive $v_\infty$: one equation per line, starting from the fixed point "
             r"$v = \beta v + g$ and ending with `v = ...`. You may add a reason after ` -- `.",
             derived="Eq(v, terminal_velocity)", symbols=(TV_V, G, BETA), constraints=BETA_LT_1,
             designated="v",
             given="v = beta*v + g", min_steps=2),
    ),
)

EM = Problem(
    "EM",
    "Effective memory",
    r"""The lecture's table: $\beta = 0.9$ remembers about 10 steps, $\beta = 0.99$ about 100.""",
    (
        Part("EM.a", "symbolic", 2, r"Effective memory (in steps) as a function of $\beta$.",
             derived="effective_memory", symbols=(BETA,), constraints=BETA_LT_1,
             mistakes=(_wrong("one-over-beta", "1/beta",
                              "Normalized to sum 1, the weights beta^k give the gradients a mean age "
                              "of 1/(1-beta) steps: that is the memory."),
                       _wrong("beta-over-one-minus-beta", "beta/(1-beta)",
                              "That counts the newest gradient as age 0; the lecture's memory counts "
                              "it as one step: 1/(1-beta)."))),
        Part("EM.b", "numeric", 1, r"Effective memory for $\beta = {{beta}}$, in steps.",
             derived="at(effective_memory, beta={{beta}})", mistakes=(_wrong("one-over-beta", "1/{{beta}}",
                                                   "The memory is 1/(1-beta)."),)),
    ),
    params=(Param(("beta",), (("0.9",), ("0.95",), ("0.8",), ("0.98",), ("0.75",), ("0.99",))),),
)

N = Sym("n", ("d", "N"), "integer", "1", "40")

PM = Problem(
    "PM",
    "How likely is a minimum?",
    r"""Toy model: at a critical point of an $n$-dimensional loss, each Hessian eigenvalue is
independently positive or negative with probability $1/2$.""",
    (
        Part("PM.a", "symbolic", 2, r"Probability that the point is a minimum (in terms of $n$).",
             derived="p_minimum_toy", symbols=(N,),
             mistakes=(_wrong("one-over-n", "1/n", "Every one of the n eigenvalues must be "
                              "positive: (1/2)^n."),
                       _wrong("one-eigenvalue", "1/2", "That is for one eigenvalue; all n must "
                              "be positive."))),
        Part("PM.b", "symbolic", 2, r"Probability that it is a saddle (neither a minimum nor a "
             r"maximum).", derived="p_saddle_toy", symbols=(N,),
             mistakes=(_wrong("forgot-maxima", "1 - 2^(-n)",
                              "All-negative eigenvalues make a maximum, not a saddle: subtract "
                              "both 2^-n.", 0.5),)),
        Part("PM.c", "numeric", 1, r"Probability of a minimum for $n = {{n}}$.",
             derived="at(p_minimum_toy, n={{n}})", rtol=1e-6),
    ),
    params=(Param(("n",), (("10",), ("20",), ("12",), ("16",), ("8",), ("30",))),),
)

KB = Sym("k", (), "positive", "1", "16")

LS = Problem(
    "LS",
    "The linear scaling rule",
    r"""The lecture's rule of thumb for SGD: if you multiply the batch size by $k$, multiply the
learning rate by $k$.""",
    (
        Part("LS.a", "symbolic", 1, r"The new learning rate, in terms of $\eta$ and $k$.",
             derived="scaled_lr", symbols=(LR, KB),
             mistakes=(_wrong("sqrt-scaling", "sqrt(k)*lr",
                              "That is the square-root rule (used with Adam); the lecture states "
                              "the linear rule for SGD.", 0.5),
                       _wrong("inverse", "lr/k", "A larger batch means less gradient noise: "
                              "the lr goes up, not down."))),
        Part("LS.b", "numeric", 1,
             r"A run uses batch size {{B0}} with $\eta = {{lr0}}$. The batch size becomes {{B1}}: "
             r"the new learning rate?", derived="at(scaled_lr, lr={{lr0}}, k={{B1}}/{{B0}})",
             mistakes=(_wrong("sqrt-scaling", "{{lr0}}*sqrt({{B1}}/{{B0}})",
                              "That is the square-root rule; the lecture states the linear "
                              "rule.", 0.5),
                       _wrong("inverse", "{{lr0}}*{{B0}}/{{B1}}", "The lr goes up with the "
                              "batch size."))),
    ),
    params=(Param(("B0", "B1", "lr0"), (("256", "1024", "0.1"), ("128", "512", "0.05"),
                                         ("64", "256", "0.02"), ("256", "2048", "0.1"),
                                         ("32", "256", "0.01"))),),
)

RQ = Problem(
    "RQ",
    "The ResNet that oscillated forever",
    "A 50-layer ResNet's training loss goes up and down in a stable cycle, forever. "
    "What is the most likely cause?",
    (
        Part("RQ.a", "choice", 2, "Choose one.", derived="quiz_answer", choices=(
            Choice("a", "vanishing gradients", "Vanishing gradients flatten the loss; they do not "
                   "make it oscillate."),
            Choice("b", "a ravine and a step that is too large", "Yes: the steep direction "
                   "overshoots back and forth. Fix: raise momentum (or lower the lr)."),
            Choice("c", "bad data shuffling", "Bad shuffling shows step-to-step jitter, not a "
                   "stable cycle."),
            Choice("d", "saddle points", "Saddles make the loss plateau, not oscillate."),
        )),
    ),
)

DEBUG_CHOICES = (
    Choice("a", "learning rate too high or fp16 overflow -> halve the learning rate"),
    Choice("b", "a ravine with too little momentum -> raise beta"),
    Choice("c", "stuck near a saddle -> raise momentum (or the learning rate)"),
    Choice("d", "overfitting, not the optimizer -> add weight decay, lower the learning rate"),
    Choice("e", "no momentum -> add momentum=0.9"),
)


def _debug(letter: str, symptom: str, answer: str) -> Part:
    return Part(f"DT.{letter}", "choice", 1, f"Symptom: **{symptom}**. Likely cause and fix?",
                answer, choices=DEBUG_CHOICES)


DT = Problem(
    "DT",
    "The debugging table",
    "Match each symptom with its likely cause and fix (the lecture's table).",
    (
        _debug("a", "loss becomes NaN after the first step", "a"),
        _debug("b", "loss oscillates up and down", "b"),
        _debug("c", "loss plateaus for hundreds of steps", "c"),
        _debug("d", "loss drops, then climbs", "d"),
        _debug("e", "training is slower than the Keras example", "e"),
    ),
)

ALL_PROBLEMS: tuple[Problem, ...] = (UR, P1, P2, P3, P4, P5, P6, TV, EM, PM, LS, RQ, DT)
