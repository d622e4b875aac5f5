"""Non-LLM OR-Debug policies: random, greedy IIS-drop, solver-search repair, and the oracle.

They bound what a language model adds (BRIEF §5). Every policy has the interface an LLM policy will use:

* ``act(observation: str, info: dict) -> str``: one action line;
* ``act_batch(observations, infos) -> list[str]``: the same for several episodes at once;
* ``reset(seed: int | None = None)``: called at the start of every episode.

``batch_safe`` is True for policies whose action is a function of ``(observation, info)`` only (no
per-episode state), so one object may drive many episodes in lockstep. The greedy and search policies
read everything from ``info`` (the env's structured copy of the observation: status, IIS when asked,
CHECK_SLACK answer, the current model, the history of the agent's own actions and what each changed);
none of them sees ground truth except ``OraclePolicy``, which is built from the instance.
Internal errors are raised (``PolicyError`` or the underlying exception), never swallowed.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from .actions import GRAMMAR, apply_action, parse_action
from .instance import Instance
from .model import INF, LICENSE_LIMIT, Constr, LinearModel, Var
from .solver import compute_iis, min_violation, relaxation_size, solve

FEASIBLE_STATUS = "OPTIMAL"


class PolicyError(RuntimeError):
    """A policy cannot act on what it was given (e.g. nothing to debug); the message says why."""


class BasePolicy:
    """Shared plumbing: ``act_batch`` maps ``act``; ``reset`` does nothing unless overridden."""

    batch_safe = True

    def act(self, observation: str, info: dict) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def act_batch(self, observations: list[str], infos: list[dict]) -> list[str]:
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        return [self.act(o, i) for o, i in zip(observations, infos)]

    def reset(self, seed: int | None = None) -> None:
        return None


def submit_when_solved(info: dict) -> str | None:
    """SUBMIT what the agent changed once the model is no longer infeasible; ``None`` while it is."""
    if info["status"] == "INFEASIBLE":
        return None
    blamed = blamed_tokens(info["history"])
    if not blamed:
        raise PolicyError(f"the model is {info['status']} before any change: nothing to debug")
    return submit_line(blamed)


def submit_or_get_iis(info: dict) -> str | None:
    """The IIS-driven agents' first moves: SUBMIT what they changed once the model is no longer
    infeasible, ask for the IIS when it is not known yet; ``None`` when neither applies."""
    done = submit_when_solved(info)
    if done is not None:
        return done
    if info["iis"] is None:
        return "GET_IIS"
    return None


def blamed_tokens(history: list[dict]) -> list[str]:
    """Tokens the agent's own successful changes touched since its last RESET, in order.

    >>> blamed_tokens([{"action": "DROP a", "ok": True, "changed": ["a"]},
    ...                {"action": "RESET", "ok": True, "changed": []},
    ...                {"action": "SET_BOUNDS x 0 9", "ok": True, "changed": ["x.ub"]}])
    ['x.ub']
    """
    out: list[str] = []
    for h in history:
        if h["ok"] and h["action"].split()[0].upper() == "RESET":
            out = []
        out += [t for t in h["changed"] if t not in out]
    return out


def submit_line(tokens: list[str]) -> str:
    if not tokens:
        raise PolicyError("SUBMIT needs at least one name to blame")
    return "SUBMIT " + " ".join(tokens)


def _num(x: float) -> str:
    """A number as an action argument that parses back to exactly ``x`` (repr round-trips floats)."""
    return "inf" if x == INF else "-inf" if x == -INF else repr(float(x))


def slack_unavailable(info: dict) -> bool:
    """CHECK_SLACK said it cannot run on this model (beyond the license, or its relaxation found no
    solution), now or at an earlier step: the relaxation barely changes with the agent's edits, so asking
    again would waste a step."""
    return info["slack_unavailable"] is not None or any(
        h["action"] == "CHECK_SLACK" and h["result"].startswith(("CHECK_SLACK is not available",
                                                                   "CHECK_SLACK found no relaxation"))
        for h in info["history"])


# -- random ------------------------------------------------------------------------------------------
class RandomPolicy(BasePolicy):
    """Random valid-looking actions (names from ``info``), seeded; SUBMITs a random diagnosis with
    probability ``submit_prob`` at each step after the first, and always on the last step.

    Its random stream is per episode (``reset(seed)``), so it is not batch-safe.
    """

    batch_safe = False
    VERBS = tuple(v for v in GRAMMAR if v != "SUBMIT")

    def __init__(self, seed: int = 0, submit_prob: float = 0.15, max_blame: int = 3):
        self.seed, self.submit_prob, self.max_blame = seed, submit_prob, max_blame
        self._rng = random.Random(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = random.Random(self.seed if seed is None else seed)

    def act(self, observation: str, info: dict) -> str:
        rng, constrs, vars_ = self._rng, info["constraint_names"], info["variable_names"]
        if info["steps_left"] <= 1 or (info["step"] >= 1 and rng.random() < self.submit_prob):
            pool = constrs + [f"{v}.{s}" for v in vars_ for s in ("lb", "ub")]
            return submit_line(rng.sample(pool, min(len(pool), rng.randint(1, self.max_blame))))
        verb = rng.choice(self.VERBS)
        if {"c", "r"} & set(GRAMMAR[verb]) and not constrs:
            verb = "GET_IIS"  # every constraint was dropped: only model-wide actions make sense
        args = []
        for kind in GRAMMAR[verb]:
            if kind in ("c", "r"):  # RELAX of a constraint, as before bounds could be relaxed: same draws
                args.append(rng.choice(constrs))
            elif kind == "v":
                args.append(rng.choice(vars_))
            elif kind == "name":
                args.append(rng.choice(constrs + vars_))
            elif kind == "n":
                args.append(f"{rng.uniform(0.5, 100):.2f}")
            elif kind == "t":
                args.append(rng.choice("CIB"))
        if verb == "SET_BOUNDS":  # two "b" arguments, lb <= ub
            lb = rng.choice(["0", "-inf", f"{rng.uniform(0, 10):.2f}"])
            args += [lb, rng.choice(["inf", f"{rng.uniform(10, 100):.2f}"])]
        return " ".join([verb, *args])


# -- greedy IIS drop, and the agents that test the benchmark for leaks --------------------------------
class GreedyIISDropPolicy(BasePolicy):
    """GET_IIS, DROP the first constraint of the IIS, repeat until feasible, then SUBMIT the dropped
    names. An IIS of bounds only has nothing to drop: the first IIS bound is removed instead
    (``x.ub`` -> ub = inf, ``x.lb`` -> lb = -inf). If a drop leaves the model unbounded (or another
    status that is neither feasible nor infeasible), it SUBMITs what it dropped: the episode fails.
    Which member goes is ``pick``'s choice (the leak detectors below choose differently).
    """

    def pick(self, model: LinearModel, members: list[str]) -> str:
        """The IIS member to remove, among the IIS rows (or, when there are none, its bounds)."""
        return members[0]

    def act(self, observation: str, info: dict) -> str:
        opening = submit_or_get_iis(info)
        if opening is not None:
            return opening
        model: LinearModel = info["model"]
        members = info["iis"]
        constrs = [t for t in members if t in model.constrs]
        if constrs:
            return f"DROP {self.pick(model, constrs)}"
        var, _, side = self.pick(model, members).rpartition(".")
        v = model.vars[var]
        return f"SET_BOUNDS {var} {_num(v.lb) if side == 'ub' else '-inf'} {'inf' if side == 'ub' else _num(v.ub)}"


class LastIISRowPolicy(GreedyIISDropPolicy):
    """Leak detector: the greedy agent removing the *last* IIS member in model order. It reads no number;
    on a benchmark that places the sabotaged row at a telling position (v1 inserted type D rows after
    their siblings, usually the model's last row) it beats the greedy agent."""

    def pick(self, model: LinearModel, members: list[str]) -> str:
        return members[-1]


def row_signature(model: LinearModel, row: str) -> str:
    """What an agent sees of a row without reading a number: its family row kind when the name shows one
    (``cap_assembly`` -> ``cap``; the env names the model after its family), else its shape, the sense
    and the number of terms (``'<= 3'``; random naming, user models).

    >>> m = LinearModel("production_planning"); _ = m.add_var("x"); _ = m.add_var("y")
    >>> _ = m.add_constr("cap_assembly", {"x": 1}, "<=", 4); _ = m.add_constr("c_01ab", {"x": 1, "y": 2}, ">=", 1)
    >>> row_signature(m, "cap_assembly"), row_signature(m, "c_01ab")
    ('cap', '>= 2')
    """
    from . import families

    kind = families.row_kind(model.name, row) if model.name in families.MODULES else None
    if kind is not None:
        return kind
    c = model.constrs[row]
    return f"{c.sense} {min(len(c.coeffs), 4)}"


@dataclass
class KindPrior:
    """How often an IIS row of each (family, ``row_signature``) was a root, counted on the train split.

    ``rate(family, signature) = (roots + 1) / (appearances + 2)`` (add-one smoothing: unseen kinds 1/2)."""

    roots: dict[tuple[str, str], int] = field(default_factory=dict)
    appearances: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def fit(cls, instances) -> "KindPrior":
        """Counted on train-split instances only (``meta['split']``, set by the benchmark builder): a prior
        counted on the instances it is evaluated on would be a leak of its own."""
        prior = cls()
        for inst in instances:
            if inst.meta.get("split") != "train":
                raise PolicyError(f"KindPrior.fit takes train-split instances only; {inst.id} is in split "
                                  f"{inst.meta.get('split')!r}")
            model = inst.sabotaged.copy()
            model.name = inst.family  # what the env shows the agent
            roots = set(inst.root_cause)
            for row in (t for t in inst.meta["iis"] if t in model.constrs):
                key = (inst.family, row_signature(model, row))
                prior.appearances[key] = prior.appearances.get(key, 0) + 1
                prior.roots[key] = prior.roots.get(key, 0) + (row in roots)
        if not prior.appearances:
            raise PolicyError("KindPrior.fit saw no IIS rows: give it the train split's instances")
        return prior

    def rate(self, family: str, signature: str) -> float:
        key = (family, signature)
        return (self.roots.get(key, 0) + 1) / (self.appearances.get(key, 0) + 2)


class KindPriorPolicy(GreedyIISDropPolicy):
    """Leak detector: the greedy agent removing the IIS row whose (family, row kind) was most often the
    root per appearance on the train split (``KindPrior``; ties: IIS order). It reads no number; on a
    benchmark whose roots fall on predictable kinds (v1: type A flips on each family's one never-binding
    row) it beats the greedy agent."""

    def __init__(self, prior: KindPrior):
        self.prior = prior

    def pick(self, model: LinearModel, members: list[str]) -> str:
        rows = [m for m in members if m in model.constrs]
        if not rows:
            return members[0]
        return max(rows, key=lambda r: self.prior.rate(model.name, row_signature(model, r)))  # max: first of ties


# -- solver search -----------------------------------------------------------------------------------
@dataclass
class SearchConfig:
    """Settings of ``SearchRepairPolicy``."""

    max_members: int = 15
    """IIS members whose candidate repairs are tried per decision (CHECK_SLACK members first)."""
    time_limit: float = 10.0
    """Seconds per candidate solve."""
    work_limit: float | None = 0.1
    """Gurobi work units (deterministic effort, ~2.5 s each on one core here) per solve of the search:
    candidate checks, elastic amounts, the reference objective, remaining infeasibility. Some of these
    MILPs stall with their bound a fraction of a percent under the optimum (on one staffing instance of
    the 25-per-cell benchmark, 24 elastic solves each ran the 10-s limit out), so a wall-clock limit alone
    made the search slow and its choices machine-dependent. The benchmark's original MILPs (215 of its
    train split) solve to optimality within 0.0023 units. A solve stopped by either limit counts as not
    solved, as before."""
    use_check_slack: bool = True
    """Ask CHECK_SLACK once per model before repairing (its members are tried and preferred first)."""
    ranking: tuple[str, ...] = ("tier", "check_slack", "reference")
    """Sort keys of the candidates that restore feasibility, in order (IIS order breaks the last ties):
    'tier' smaller change first, 'check_slack' members CHECK_SLACK named first, 'reference' objective
    closest to the IIS-elastic reference."""


@dataclass(order=True)
class Candidate:
    """One repair tried on a copy of the model."""

    tier: int  # 0 no number changes (flip, type), 1 one number, 2 bound removed, 3 row dropped
    action: str = field(compare=False)
    member: str = field(compare=False)  # the IIS token it repairs
    status: str | None = field(default=None, compare=False)
    objective: float | None = field(default=None, compare=False)


class SearchRepairPolicy(BasePolicy):
    """Solver-search repair: diagnose with GET_IIS and CHECK_SLACK, try candidate repairs on the IIS
    members on copies of the model, apply the best through the env, SUBMIT what it changed.

    Candidates per IIS member (tier = how much the repair changes, smaller first):

    * tier 0 (no number changes): FLIP_SENSE of an inequality; SET_VTYPE <v> C for an integer or binary
      variable of the member;
    * tier 1 (one number): RELAX / SET_RHS of the row, or SET_BOUNDS of the bound, by exactly the
      amount this member alone must move for the model to become feasible (an elastic LP: one slack on
      this member, everything else hard); if moving it alone cannot make the model feasible (other
      conflicts remain), the amount that makes its IIS feasible; a positive lower bound reset to 0;
    * tier 2: the bound removed (``-inf`` / ``inf``);
    * tier 3 (last resort): DROP the row.

    Ranking, since the agent cannot know the original optimum: among candidates that make the model
    OPTIMAL, smallest tier first; then members CHECK_SLACK named first; then the objective closest to a
    reference — the best objective among the minimum-total-violation points of the model with its IIS
    members made elastic (a feasibility relaxation restricted to the IIS, so it fits the license); when
    that reference does not exist (the IIS-elastic model is infeasible: other conflicts remain), IIS order
    decides. If no single candidate restores feasibility (several errors), it applies the candidate that
    most reduces the remaining infeasibility (total minimum violation, or the IIS size when the relaxation
    is beyond the license; tiers 0-2 before DROP) and looks again; if none reduces it, it SUBMITs what it
    changed (or, having changed nothing, the IIS rows). A repeat of an earlier action, or flipping a row
    back, is never tried.
    """

    def __init__(self, config: SearchConfig | None = None):
        self.config = config or SearchConfig()
        self.last_decision: dict | None = None  # the latest ranking, for inspection and tests

    def act(self, observation: str, info: dict) -> str:
        opening = submit_or_get_iis(info)
        if opening is not None:
            return opening
        if self.config.use_check_slack and info["slack"] is None and not slack_unavailable(info):
            return "CHECK_SLACK"
        choice = self.choose_repair(info["model"], info["iis"], info["slack"] or {}, info["history"])
        if choice is not None:
            return choice.action
        fallback_blame = blamed_tokens(info["history"]) or [t for t in info["iis"] if t in info["model"].constrs] or info["iis"]
        return submit_line(fallback_blame)

    # -- decision ----------------------------------------------------------------------------------
    def choose_repair(self, model: LinearModel, iis: list[str], slack: dict[str, float],
                      history: list[dict]) -> Candidate | None:
        model = model.copy()
        members = sorted(iis, key=lambda t: t not in slack)[: self.config.max_members]  # stable sort
        done_actions = {h["action"] for h in history if h["ok"]}
        flipped = {h["action"].split()[1] for h in history if h["ok"] and h["action"].startswith("FLIP_SENSE")}
        cands, seen = [], set()
        for tok in members:
            for cand in self.candidates(model, tok, iis):
                flip_back = cand.action.startswith("FLIP_SENSE") and cand.member in flipped
                if cand.action in seen or cand.action in done_actions or flip_back:
                    continue
                seen.add(cand.action)
                res = solve(apply_action(model, parse_action(cand.action)), self.config.time_limit, keep_values=False,
                            work_limit=self.config.work_limit)
                cand.status, cand.objective = res.status, res.objective
                cands.append(cand)
        restoring = [c for c in cands if c.status == FEASIBLE_STATUS]
        if restoring:
            z_ref = reference_objective(model, list(iis), self.config.time_limit, self.config.work_limit)
            order = {id(c): i for i, c in enumerate(cands)}
            keys = {"tier": lambda c: c.tier, "check_slack": lambda c: c.member not in slack,
                    "reference": lambda c: abs(c.objective - z_ref) if z_ref is not None else 0.0}
            best = min(restoring, key=lambda c: (*(keys[k](c) for k in self.config.ranking), order[id(c)]))
            self.last_decision = {"mode": "restore", "reference_objective": z_ref, "chosen": best,
                                  "candidates": cands}
            return best
        best = self._descent_step(model, [c for c in cands if c.status == "INFEASIBLE"])
        self.last_decision = {"mode": "descent", "chosen": best, "candidates": cands}
        return best

    def _descent_step(self, model: LinearModel, cands: list[Candidate]) -> Candidate | None:
        """The candidate that most reduces the remaining infeasibility: tiers 0-2 first, DROP only if
        none of them reduces it."""
        measure = remaining_infeasibility_measure(model, self.config.work_limit)
        current = measure(model, self.config.time_limit)
        for group in ([c for c in cands if c.tier <= 2], [c for c in cands if c.tier > 2]):
            scored = [(measure(apply_action(model, parse_action(c.action)), self.config.time_limit), c.tier, i, c)
                      for i, c in enumerate(group)]
            better = [s for s in scored if s[0] < current - 1e-9]
            if better:
                return min(better, key=lambda s: s[:3])[3]
        return None

    def candidates(self, model: LinearModel, token: str, iis: list[str] | None = None) -> list[Candidate]:
        """Candidate repairs of one IIS member (see the class docstring)."""
        tl = self.config.time_limit
        if token in model.constrs:
            c = model.constrs[token]
            out = [Candidate(0, f"SET_VTYPE {v} C", token) for v in c.coeffs if model.vars[v].vtype != "C"]
            if c.sense != "==":
                out.append(Candidate(0, f"FLIP_SENSE {token}", token))
            move = single_member_violation(model, token, tl, iis, self.config.work_limit)
            if move is not None:
                amount, direction = move
                if c.sense == "==":
                    out.append(Candidate(1, f"SET_RHS {token} {_num(c.rhs + direction * amount)}", token))
                else:
                    out.append(Candidate(1, f"RELAX {token} {_num(amount)}", token))
            out.append(Candidate(3, f"DROP {token}", token))
            return out
        var, _, side = token.rpartition(".")
        if var not in model.vars or side not in ("lb", "ub"):
            raise PolicyError(f"IIS member {token!r} is neither a constraint nor a bound token of the model")
        v = model.vars[var]
        out = [Candidate(0, f"SET_VTYPE {var} C", token)] if v.vtype != "C" else []
        move = single_member_violation(model, token, tl, iis, self.config.work_limit)
        if move is not None:
            amount = move[0]
            lb, ub = (v.lb - amount, v.ub) if side == "lb" else (v.lb, v.ub + amount)
            out.append(Candidate(1, f"SET_BOUNDS {var} {_num(lb)} {_num(ub)}", token))
        if side == "lb" and v.lb > 0:
            out.append(Candidate(1, f"SET_BOUNDS {var} 0 {_num(v.ub)}", token))
        removed = f"SET_BOUNDS {var} -inf {_num(v.ub)}" if side == "lb" else f"SET_BOUNDS {var} {_num(v.lb)} inf"
        out.append(Candidate(2, removed, token))
        return out


# -- elastic LPs used by the search ----------------------------------------------------------------------
SLACK_PREFIX = "__elastic_"


def _elastic(model: LinearModel, tokens: list[str]) -> tuple[LinearModel, list[tuple[str, str, int]]]:
    """A copy of ``model`` with zero objective where each token may be violated through a nonnegative
    slack variable of cost 1. Returns the model and (token, slack name, direction) triples; direction
    +1 means the row's rhs (or the bound) would move up, -1 down."""
    m = model.copy()
    m.sense, m.obj_constant = "min", 0.0
    for v in m.vars.values():
        v.obj = 0.0
    slacks = []
    for i, tok in enumerate(tokens):
        up, down = f"{SLACK_PREFIX}{i}_up", f"{SLACK_PREFIX}{i}_dn"
        if up in m.vars or down in m.vars:
            raise PolicyError(f"model already has a variable named {up!r}; cannot build the elastic LP")
        if tok in m.constrs:
            c = m.constrs[tok]
            if c.sense in ("<=", "=="):  # lhs <= rhs + s_up
                m.add_var(up, obj=1.0)
                c.coeffs[up] = -1.0
                slacks.append((tok, up, +1))
            if c.sense in (">=", "=="):  # lhs >= rhs - s_dn
                m.add_var(down, obj=1.0)
                c.coeffs[down] = 1.0
                slacks.append((tok, down, -1))
            continue
        var, _, side = tok.rpartition(".")
        v = m.vars[var]
        if side == "ub":  # var <= ub + s_up
            m.add_var(up, obj=1.0)
            m.add_constr(f"{SLACK_PREFIX}{i}_ub", {var: 1.0, up: -1.0}, "<=", v.ub)
            v.ub = INF
            slacks.append((tok, up, +1))
        else:  # var >= lb - s_dn
            m.add_var(down, obj=1.0)
            m.add_constr(f"{SLACK_PREFIX}{i}_lb", {var: 1.0, down: 1.0}, ">=", v.lb)
            v.lb = -INF
            slacks.append((tok, down, -1))
    return m, slacks


def single_member_violation(model: LinearModel, token: str, time_limit: float, iis: list[str] | None = None,
                            work_limit: float | None = None) -> tuple[float, int] | None:
    """(amount, direction) by which this one row or bound must move, everything else unchanged, for the
    whole model to become feasible; when moving it alone cannot do that (other conflicts remain) and
    ``iis`` is given, the amount that makes that IIS's subsystem feasible instead. None if neither exists.

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=5); _ = m.add_constr("need", {"x": 1}, ">=", 8)
    >>> single_member_violation(m, "need", 10), single_member_violation(m, "x.ub", 10)
    ((3.0, -1), (3.0, 1))
    """
    for scope in (model, iis_submodel(model, iis) if iis else None):
        if scope is None:
            break
        m, slacks = _elastic(scope, [token])
        res = solve(m, time_limit, work_limit=work_limit)
        if res.status == FEASIBLE_STATUS:
            if res.objective <= 1e-9:
                return None  # this member need not move
            _, name, direction = max(slacks, key=lambda s: res.values[s[1]])
            return res.values[name], direction
    return None


def iis_submodel(model: LinearModel, iis: list[str]) -> LinearModel:
    """The subsystem an IIS describes: its rows, its variables (types kept), and only the bounds that are
    IIS members (every other bound is dropped, as in the IIS definition)."""
    rows = [t for t in iis if t in model.constrs]
    bounds = {t for t in iis if t not in model.constrs}
    m = LinearModel(model.name, model.sense)
    names = {v for r in rows for v in model.constrs[r].coeffs} | {t.rpartition(".")[0] for t in bounds}
    for name in model.vars:  # column order kept
        if name in names:
            v = model.vars[name]
            m.vars[name] = Var(name, v.lb if f"{name}.lb" in bounds else -INF,
                               v.ub if f"{name}.ub" in bounds else INF, v.vtype, v.obj)
    for r in rows:
        c = model.constrs[r]
        m.constrs[r] = Constr(r, dict(c.coeffs), c.sense, c.rhs)
    return m


def reference_objective(model: LinearModel, iis: list[str], time_limit: float,
                        work_limit: float | None = None) -> float | None:
    """Best original objective among the minimum-total-violation points when the IIS members are made
    elastic (two phases: minimise total violation s*, then optimise the objective with violation <= s*).
    None when the IIS-elastic model is still infeasible or the second phase has no optimum."""
    m, slacks = _elastic(model, iis)
    phase1 = solve(m, time_limit, keep_values=False, work_limit=work_limit)
    if phase1.status != FEASIBLE_STATUS:
        return None
    names = [s[1] for s in slacks]
    m.add_constr(f"{SLACK_PREFIX}total", {n: 1.0 for n in names}, "<=", phase1.objective * (1 + 1e-9) + 1e-9)
    m.sense, m.obj_constant = model.sense, model.obj_constant
    for v in m.vars.values():
        v.obj = model.vars[v.name].obj if v.name in model.vars else 0.0
    phase2 = solve(m, time_limit, keep_values=False, work_limit=work_limit)
    return phase2.objective if phase2.status == FEASIBLE_STATUS else None


def remaining_infeasibility_measure(model: LinearModel, work_limit: float | None = None):
    """How infeasible a model still is: the total minimum violation (CHECK_SLACK's relaxation) when it
    fits the license, else the size of its IIS. Chosen once per decision from the current model, so all
    candidates are compared on the same scale. A feasible model measures 0."""
    n_vars, n_constrs = relaxation_size(model)
    if n_vars <= LICENSE_LIMIT and n_constrs <= LICENSE_LIMIT:
        return lambda m, tl: sum(min_violation(m, tl, work_limit=work_limit).values())

    def iis_size(m: LinearModel, tl: float) -> float:
        status = solve(m, tl, keep_values=False, work_limit=work_limit).status
        return 0.0 if status != "INFEASIBLE" else float(compute_iis(m, tl).size)
    return iis_size


# -- CHECK_SLACK read and copied -----------------------------------------------------------------------
_SLACK_ITEM = re.compile(r"^(\S+) by (\S+)(?: \(rhs \S+ -> (\S+)\))?$")


def read_slack_answer(result: str) -> list[tuple[str, str, str | None]]:
    """The members of a CHECK_SLACK answer as the agent reads them: (token, amount, new rhs of an
    equality or None), the numbers as the text spells them. [] if the result is no such answer.

    >>> read_slack_answer("minimum total violation 2.5; these must move: bal by 2 (rhs 5 -> 3), x.ub by 0.5")
    [('bal', '2', '3'), ('x.ub', '0.5', None)]
    """
    head, sep, items = result.partition("these must move: ")
    if not sep or not head.startswith("minimum total violation"):
        return []
    out = []
    for item in items.split(", "):
        m = _SLACK_ITEM.match(item.strip())
        if m is None:
            raise PolicyError(f"cannot read CHECK_SLACK item {item!r} of {result!r}")
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


class SlackRelaxPolicy(BasePolicy):
    """CHECK_SLACK, then move each member it names by the amount it names, then SUBMIT what it moved.

    Every argument it sends is copied from an observation: the token and the amount as CHECK_SLACK's text
    spells them (``RELAX <row|x.lb|x.ub> <amount>``; an equality row: ``SET_RHS <row> <new rhs>``, also
    spelled out), so a language model can learn it exactly, which it cannot for the oracle's original
    values (never shown) or the search's candidate solves (never shown). The minimum-violation point
    satisfies the model with all members moved together, so moving them one by one reaches feasibility
    (after fewer moves if the model turns feasible earlier, then it SUBMITs). When every member was moved
    and the model is still infeasible (the text rounds to 6 digits), it asks again. It cannot know the
    original optimum, so it is feasible far more often than faithful: a bound of what reading alone
    does. With nothing it can act on (CHECK_SLACK unavailable, or an answer within tolerances), it
    SUBMITs what it moved, or else the members named (the episode then fails).
    """

    def act(self, observation: str, info: dict) -> str:
        done = submit_when_solved(info)
        if done is not None:
            return done
        history = info["history"]
        asked = [k for k, h in enumerate(history) if h["action"] == "CHECK_SLACK" and h["ok"]]
        answer = read_slack_answer(history[asked[-1]]["result"]) if asked else []
        since = history[asked[-1] + 1:] if asked else []
        moved = {t for h in since if h["ok"] for t in h["changed"]}
        refused = {h["action"] for h in since if not h["ok"]}  # e.g. a bound that is infinite: not again
        moves = [f"SET_RHS {tok} {new_rhs}" if new_rhs is not None else f"RELAX {tok} {amount}"
                 for tok, amount, new_rhs in answer if tok not in moved]
        todo = [m for m in moves if m not in refused]
        if todo:
            return todo[0]
        if not asked or moved:  # never asked, or moved everything it named and is still infeasible
            if not slack_unavailable(info):
                return "CHECK_SLACK"
        blamed = blamed_tokens(history) or [t for t, _, _ in answer]
        if not blamed:
            why = ("CHECK_SLACK is not available for this model (its relaxation exceeds the license)"
                   if slack_unavailable(info) else "CHECK_SLACK gave nothing to act on")
            raise PolicyError(f"{why} and nothing was changed: the slack agent cannot act here "
                              "(the greedy and search agents work from GET_IIS)")
        return submit_line(blamed)


# -- oracle ----------------------------------------------------------------------------------------
class OraclePolicy(BasePolicy):
    """Applies the instance's ground-truth repair, then SUBMITs its root cause (an upper bound; the only
    policy that sees ground truth). Action k of the episode is ``true_repair[k]``."""

    def __init__(self, instance: Instance):
        if not instance.true_repair or not instance.root_cause:
            raise PolicyError(f"instance {instance.id!r} has no true repair or no root cause")
        self.repair = list(instance.true_repair)
        self.root_cause = list(instance.root_cause)

    def act(self, observation: str, info: dict) -> str:
        k = info["step"]
        return self.repair[k] if k < len(self.repair) else submit_line(self.root_cause)


POLICIES = {"random": RandomPolicy, "greedy": GreedyIISDropPolicy, "last_iis_row": LastIISRowPolicy,
            "search": SearchRepairPolicy, "slack": SlackRelaxPolicy}
LEAK_DETECTORS = ("last_iis_row", "kind_prior")
"""Agents that read no number: on a leak-free benchmark neither beats greedy (checked by the tests)."""
BASELINES = ("random", "greedy", "last_iis_row", "kind_prior", "search", "slack", "oracle")
"""The baseline ladder (``results.parallel_baselines``): ``POLICIES``, the kind_prior leak detector (it needs a
prior from the train split), the oracle."""

__all__ = [
    "BASELINES", "BasePolicy", "Candidate", "GreedyIISDropPolicy", "KindPrior", "KindPriorPolicy", "LEAK_DETECTORS",
    "LastIISRowPolicy", "OraclePolicy", "POLICIES", "PolicyError", "row_signature",
    "RandomPolicy", "SearchConfig", "SearchRepairPolicy", "SlackRelaxPolicy", "blamed_tokens", "read_slack_answer",
    "reference_objective",
    "single_member_violation", "submit_line",
]
