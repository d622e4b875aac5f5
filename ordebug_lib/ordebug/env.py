"""The OR-Debug repair environment: an agent edits an infeasible (MI)LP through the action grammar.

Gymnasium-style (gymnasium itself is not a dependency; the signatures are the same)::

    env = RepairEnv(instance_or_model, EnvConfig(max_turns=20))
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step("GET_IIS")

* ``obs`` is the text a language model reads: the model (all of it up to
  ``EnvConfig.full_model_max_constraints`` rows, otherwise the rows of the last IIS or a summary that
  asks for GET_IIS), the solver status, the IIS / CHECK_SLACK answer when the agent asked for it, the
  result of the last action and the last few actions with their results.
* ``info`` carries the same information as structured data for non-LLM policies (see ``INFO_KEYS``),
  and nothing more: no error type, no root cause, no original model or objective. ``info["model"]`` is the
  current model, the object the text renders (for a large model the text lists only the IIS rows, but
  INSPECT shows any row, so it holds nothing the agent cannot ask for). It is shared, not copied:
  policies must not mutate it (``apply_action`` returns copies, so the grammar never does).
* Every step costs one step of the budget, malformed actions included: an ``ActionError`` becomes an
  ``ERROR: ...`` observation and never raises. So does a ``SolverError`` (Gurobi raised, or stopped without
  the answer asked for), as a solver observation; see below. Every other exception propagates: it is a bug.
* After every mutating action (and RESET) the model is re-solved. "Feasible" means status OPTIMAL
  (feasible and bounded); UNBOUNDED, TIME_LIMIT and every other status are "not feasible-and-bounded"
  and say so in the status line.
* The episode ends with SUBMIT (``terminated``) or when the step budget is spent (``truncated``). The
  terminal reward is the composite of ``rewards.py`` (or the component named in ``EnvConfig.reward``);
  all components are in the terminal ``info["reward_components"]``. Intermediate rewards are 0.
* The full trajectory is recorded (``StepRecord`` per step) for the results store and PRM labels;
  ``outcome()`` returns the episode summary, including what needs ground truth, once the episode is over.

Solver conditions that are answered rather than raised, each costing its step like any other:

* CHECK_SLACK on a model whose feasibility relaxation (Gurobi feasRelax adds artificial variables) exceeds
  the size-limited license: CHECK_SLACK is unavailable for this model, use GET_IIS / INSPECT.
* CHECK_SLACK whose relaxation finds no solution (measured: INFEASIBLE once a bound or rhs is 1e99 or more,
  which no artificial variable can cover; a work or time limit with nothing found): "CHECK_SLACK found no
  relaxation for this model (<why>)". Both set ``info["slack_unavailable"]`` for the current model.
* GET_IIS when Gurobi's IIS search fails although the solve said INFEASIBLE (measured: it calls the model
  feasible with a coefficient of 1e308, finds nothing within the time limit with one of 1e20): "GET_IIS
  found no IIS for this model (<why>)". The hidden IIS of ``track_iis`` failing the same way is recorded as
  ``iis_size`` None, and GET_IIS then reports that failure instead of repeating the search.
* A solve that raises: the status is ``SOLVER_ERROR`` (not feasible-and-bounded) and the observation has a
  ``Solver error:`` line with Gurobi's message.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

from . import actions as grammar
from .actions import Action, ActionError, apply_action, diagnosis_tokens, parse_action, unknown_tokens
from .instance import Instance
from .model import LICENSE_LIMIT, LinearModel, fmt_bounds, fmt_constr, fmt_num, render_text
from .rewards import REWARD_COMPONENTS, RewardWeights, reward_components
from .solver import (IIS, SolveResult, SolverError, compute_iis, min_violation_result, objectives_match,
                     relaxation_size, solve)

FEASIBLE_STATUS = "OPTIMAL"
SOLVER_ERROR_STATUS = "SOLVER_ERROR"  # the re-solve raised SolverError: no status from Gurobi
DIAGNOSTIC_VERBS = frozenset({"GET_IIS", "CHECK_SLACK", "INSPECT"})
STATUS_MEANING = {
    "OPTIMAL": "feasible and bounded",
    "INFEASIBLE": "no point satisfies every constraint and bound",
    "UNBOUNDED": "feasible, but the objective is unbounded: not a valid repair",
    "TIME_LIMIT": "no answer within the solve time limit: not proven feasible-and-bounded",
    SOLVER_ERROR_STATUS: "the solver failed on this model: not proven feasible-and-bounded",
}
INFO_KEYS = (
    "step", "max_turns", "steps_left", "status", "feasible", "objective", "iis", "iis_minimal", "slack",
    "slack_unavailable", "last_action", "last_error", "last_result", "history", "constraint_names",
    "variable_names", "model", "done",
)  # plus "reward_components" on the terminal step
NAME_LIST_LIMIT = 20  # INSPECT of a variable lists at most this many of the rows it is in


@dataclass
class EnvConfig:
    """Settings of one ``RepairEnv``."""

    max_turns: int = 20
    """Episode budget: the most actions (turns) an episode may take, named in the observation ("Step k of N");
    reaching it without SUBMIT truncates the episode (a timeout)."""
    solve_time_limit: float = 10.0
    """Seconds per Gurobi solve / IIS / relaxation."""
    slack_work_limit: float | None = 0.1
    """Gurobi work units (deterministic; ~2.5 s each on one core here) for CHECK_SLACK's relaxation. A
    MILP's relaxation can stall just short of proven minimal (measured: a 17-variable staffing MILP ran
    every 10-s limit out with its bound 0.2% under the optimum, which it had found within 0.05 units), so
    a wall-clock limit alone made the answer, and its cost, machine-dependent. The observation says when
    the answer is not proven minimal. None: only ``solve_time_limit``."""
    history_len: int = 5
    """How many past actions (with results) the observation text repeats."""
    full_model_max_constraints: int = 60
    """Models with more rows are not listed in full: only the IIS rows, or a summary before GET_IIS."""
    show_model: bool = True
    """Include the model listing in every observation (False: only in the first one)."""
    track_iis: bool = True
    """After each change that leaves the model infeasible, compute its IIS for the trajectory only
    (PRM label 'IIS shrank'); it is never shown to the agent unless it asks with GET_IIS."""
    reward: str | None = None
    """Terminal reward: one of rewards.REWARD_COMPONENTS. None: 'composite' with ground truth,
    'outcome' for a user model (composite and diagnosis need a root cause)."""
    reward_weights: RewardWeights = field(default_factory=RewardWeights)
    """Weights of the composite reward."""


@dataclass
class StepRecord:
    """One step of the trajectory (JSON-serialisable through ``dataclasses.asdict``)."""

    index: int  # 1-based step number
    action_text: str  # what the agent sent, verbatim
    action: str | None  # the parsed action, canonical form; None if it did not parse
    verb: str | None
    error: str | None  # ActionError message (parse or apply), None if the action was valid
    result: str  # the result text shown to the agent
    changed: list[str]  # diagnosis tokens the action changed (e.g. ["cap_a"], ["x.ub"]); [] otherwise
    status: str  # solver status of the model after the step
    feasible: bool  # status == OPTIMAL
    objective: float | None  # objective after the step when feasible
    iis_size: int | None  # size of an IIS of the model after the step, when one was computed
    iis_requested: bool  # the agent asked for it (GET_IIS) at this step
    iis_tokens: list[str] | None  # the IIS shown to the agent (GET_IIS steps)
    slack: dict[str, float] | None  # CHECK_SLACK answer shown to the agent
    diagnosis: list[str] | None  # SUBMIT tokens
    wall_time: float  # seconds spent in step()


@dataclass
class EpisodeOutcome:
    """Summary of a finished episode. ``faithful`` / ``root_cause`` / ``original_objective`` are None for
    a user model (no ground truth)."""

    steps: int
    max_turns: int
    submitted: bool
    truncated: bool
    diagnosis: list[str] | None
    final_status: str
    final_objective: float | None
    feasible_end: bool
    first_feasible_step: int | None  # 0: feasible at the start; None: never
    faithful: bool | None
    exact_repair: bool | None  # faithful, and every changed row / bound / type back as it was (``undone``)
    original_objective: float | None
    root_cause: list[str] | None
    initial_status: str
    initial_iis_size: int | None
    rewards: dict[str, float | None]
    wall_time: float
    trajectory: list[StepRecord]

    def to_dict(self) -> dict:
        return asdict(self)


class RepairEnv:
    """Repair an infeasible model, step by step. See the module docstring.

    >>> m = LinearModel("toy", "min")
    >>> _ = m.add_var("x", ub=5, obj=1)
    >>> _ = m.add_constr("need", {"x": 1}, ">=", 8)
    >>> env = RepairEnv(m)
    >>> obs, info = env.reset()
    >>> info["status"], info["iis"]
    ('INFEASIBLE', None)
    >>> obs, r, term, trunc, info = env.step("GET_IIS")
    >>> info["iis"]
    ['need', 'x.ub']
    >>> obs, r, term, trunc, info = env.step("SET_BOUNDS x 0 10")
    >>> info["status"], info["objective"], info["history"][-1]["changed"]
    ('OPTIMAL', 8.0, ['x.ub'])
    >>> obs, r, term, trunc, info = env.step("SUBMIT x.ub")
    >>> term, trunc, r       # user model: terminal reward is the outcome (+30, optimum unverifiable)
    (True, False, 30.0)
    """

    def __init__(self, problem: Instance | LinearModel, config: EnvConfig | None = None):
        self.config = config or EnvConfig()
        if self.config.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.config.max_turns}")
        if isinstance(problem, Instance):
            # The display name is the family: an instance's own name or id may encode its error type.
            self._start = problem.sabotaged.copy()
            self._start.name = problem.family
            self._root_cause: list[str] | None = list(problem.root_cause)
            self._original_objective: float | None = float(problem.original_objective)
            self._original: LinearModel | None = problem.original
            self._injected: list[dict] = list(problem.meta.get("errors", []))
        elif isinstance(problem, LinearModel):
            self._start = problem
            self._root_cause = None
            self._original_objective = None
            self._original, self._injected = None, []
        else:
            raise TypeError(f"RepairEnv needs an Instance or a LinearModel, got {type(problem).__name__}")
        self._start.check_license()
        self.reward_name = self._choose_reward()
        self._started = False

    # -- public API --------------------------------------------------------------------------------
    @property
    def has_ground_truth(self) -> bool:
        return self._root_cause is not None

    @property
    def model(self) -> LinearModel:
        """The current model (do not mutate)."""
        return self._model

    @property
    def done(self) -> bool:
        return self._done

    @property
    def trajectory(self) -> list[StepRecord]:
        return list(self._trajectory)

    def reset(self) -> tuple[str, dict]:
        self._t0 = time.perf_counter()
        self._model = self._start
        self._step = 0
        self._done = False
        self._submitted = False
        self._truncated = False
        self._diagnosis: list[str] | None = None
        self._trajectory: list[StepRecord] = []
        self._history: list[dict] = []
        self._last: dict = {"action": None, "error": None, "result": None}
        self._rewards: dict | None = None
        self._solve_current()
        self._initial_status = self._status
        self._first_feasible_step = 0 if self._feasible else None
        self._initial_iis_size = self._hidden_iis_size()
        self._started = True
        return self._render(), self._info()

    def step(self, action_text: str) -> tuple[str, float, bool, bool, dict]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        if not isinstance(action_text, str):
            raise TypeError(f"an action is a string, got {type(action_text).__name__}")
        t0 = time.perf_counter()
        self._step += 1
        rec = dict(action=None, verb=None, error=None, changed=[], iis_size=None, iis_requested=False,
                   iis_tokens=None, slack=None, diagnosis=None)
        try:
            action = parse_action(action_text)
            rec.update(action=str(action), verb=action.verb)
            result = self._dispatch(action, rec)
        except ActionError as e:
            rec["error"] = str(e)
            result = f"ERROR: {e}. The step is used; the model is unchanged."
        if not self._submitted and self._step >= self.config.max_turns:
            self._truncated = True
            result += f"\nStep limit ({self.config.max_turns}) reached without SUBMIT: the episode is over."
        self._done = self._submitted or self._truncated
        self._record(action_text, rec, result, time.perf_counter() - t0)
        reward = self._terminal_reward() if self._done else 0.0
        info = self._info()
        if self._done:
            info["reward_components"] = dict(self._rewards)
        return self._render(), reward, self._submitted, self._truncated, info

    def truncate(self, reason: str) -> float:
        """End a running episode from outside, as a timeout (e.g. an LM agent whose context is full): it
        counts as truncated without SUBMIT, rewarded like the step limit. Returns the terminal reward."""
        if not self._started or self._done:
            raise RuntimeError("truncate() needs a running episode")
        self._truncated = self._done = True
        self._last = {**self._last, "result": f"{self._last.get('result') or ''}\nEpisode ended: {reason}."}
        return self._terminal_reward()

    def outcome(self) -> EpisodeOutcome:
        """The episode summary (only once the episode is over)."""
        if not self._started or not self._done:
            raise RuntimeError("outcome() is available once the episode is over (SUBMIT or step limit)")
        return EpisodeOutcome(
            steps=self._step, max_turns=self.config.max_turns, submitted=self._submitted,
            truncated=self._truncated, diagnosis=self._diagnosis, final_status=self._status,
            final_objective=self._objective if self._feasible else None, feasible_end=self._feasible,
            first_feasible_step=self._first_feasible_step, faithful=self._faithful(),
            exact_repair=(None if self._original is None else
                          bool(self._faithful()) and undone(self._model, self._original, self._injected)),
            original_objective=self._original_objective, root_cause=self._root_cause,
            initial_status=self._initial_status, initial_iis_size=self._initial_iis_size,
            rewards=dict(self._rewards), wall_time=time.perf_counter() - self._t0,
            trajectory=list(self._trajectory),
        )

    # -- actions -----------------------------------------------------------------------------------
    def _dispatch(self, action: Action, rec: dict) -> str:
        verb = action.verb
        if verb == "GET_IIS":
            return self._get_iis(rec)
        if verb == "CHECK_SLACK":
            return self._check_slack(rec)
        if verb == "INSPECT":
            return inspect_text(self._model, action.args[0])
        if verb == "SUBMIT":
            return self._submit(action, rec)
        if verb == "RESET":
            self._model = self._start
            self._after_change(rec)
            return f"model reset to the one the episode started with; {self._resolved()}"
        before = self._model
        after = apply_action(before, action)  # ActionError -> error observation, model unchanged
        rec["changed"], description = describe_change(before, after, action)
        self._model = after
        self._after_change(rec)
        return f"{description}; {self._resolved()}"

    def _resolved(self) -> str:
        if self._solve_error is None:
            return f"re-solved: {self._status}"
        return f"re-solved: {self._status} ({self._solve_error})"

    def _get_iis(self, rec: dict) -> str:
        if self._status != "INFEASIBLE":
            return f"no IIS: the model is {self._status}, not INFEASIBLE"
        rec["iis_requested"] = True
        if self._iis is None and self._iis_error is None:
            try:
                self._iis = self._hidden_iis or compute_iis(self._model, self.config.solve_time_limit)
            except SolverError as e:
                self._iis_error = str(e)
        if self._iis is None:  # this search, or the hidden one of track_iis, failed on this model
            return f"GET_IIS found no IIS for this model ({self._iis_error}); use CHECK_SLACK / INSPECT"
        self._iis_shown = True
        rec.update(iis_size=self._iis.size, iis_tokens=self._iis.tokens())
        note = "" if self._iis.minimal else " (not proven minimal: the IIS search hit the time limit)"
        return (f"IIS computed: {self._iis.size} members ({len(self._iis.constraints)} constraints, "
                f"{len(self._iis.lower_bounds) + len(self._iis.upper_bounds)} bounds){note}")

    def _check_slack(self, rec: dict) -> str:
        if self._status != "INFEASIBLE":
            return f"nothing to relax: the model is {self._status}, not INFEASIBLE"
        try:
            n_vars, n_constrs = relaxation_size(self._model)
            over = n_vars > LICENSE_LIMIT or n_constrs > LICENSE_LIMIT
            found = None if over else min_violation_result(self._model, self.config.solve_time_limit,
                                                           self.config.slack_work_limit)
        except SolverError as e:
            self._slack_unavailable = f"CHECK_SLACK found no relaxation for this model ({e}); use GET_IIS / INSPECT"
            return self._slack_unavailable
        if found is None:
            self._slack_unavailable = (
                f"CHECK_SLACK is not available for this model: its feasibility relaxation has {n_vars} "
                f"variables and {n_constrs} constraints, beyond the license limit of {LICENSE_LIMIT}. "
                "Use GET_IIS and INSPECT instead.")
            return self._slack_unavailable
        self._slack = found.amounts
        self._slack_text = slack_items(self._model, found.amounts, found.rhs_shift)
        rec["slack"] = dict(self._slack)
        if not self._slack:
            return ("no constraint or bound needs to move by more than 1e-7: the infeasibility is within "
                    "the solver's tolerances")
        note = "" if found.proven else " (the smallest found within the solver's limit, not proven minimal)"
        return ("minimum total violation " + fmt_num(sum(self._slack.values())) + note + "; these must move: "
                + self._slack_text)

    def _submit(self, action: Action, rec: dict) -> str:
        tokens = diagnosis_tokens(action)
        self._diagnosis = tokens
        self._submitted = True
        rec["diagnosis"] = tokens
        bad = unknown_tokens(self._model, tokens)
        note = f" (these name nothing in the model: {', '.join(bad)})" if bad else ""
        return f"diagnosis received: {' '.join(tokens)}{note}. The episode is over."

    # -- solver state ------------------------------------------------------------------------------
    def _solve_current(self) -> None:
        self._solve_error: str | None = None  # SolverError of this solve, shown with the status
        try:
            res = solve(self._model, self.config.solve_time_limit, keep_values=False)
        except SolverError as e:
            res, self._solve_error = SolveResult(SOLVER_ERROR_STATUS), str(e)
        self._status = res.status
        self._feasible = res.status == FEASIBLE_STATUS
        self._objective = res.objective if self._feasible else None
        self._iis: IIS | None = None  # the IIS of the current model, once asked for
        self._iis_shown = False
        self._hidden_iis: IIS | None = None  # computed for the trajectory only (track_iis)
        self._iis_error: str | None = None  # SolverError of an IIS search of the current model (hidden or asked)
        self._slack: dict[str, float] | None = None
        self._slack_text = ""  # the answer as the agent reads it (slack_items)
        self._slack_unavailable: str | None = None

    def _hidden_iis_size(self) -> int | None:
        if not self.config.track_iis or self._status != "INFEASIBLE":
            return None
        try:
            self._hidden_iis = compute_iis(self._model, self.config.solve_time_limit)
        except SolverError as e:  # kept for GET_IIS to report, not searched for again
            self._iis_error = str(e)
            return None
        return self._hidden_iis.size

    def _after_change(self, rec: dict) -> None:
        self._solve_current()
        if self._feasible and self._first_feasible_step is None:
            self._first_feasible_step = self._step
        rec["iis_size"] = self._hidden_iis_size()

    def _faithful(self) -> bool | None:
        if self._original_objective is None:
            return None
        return self._feasible and objectives_match(self._objective, self._original_objective)

    def _choose_reward(self) -> str:
        name = self.config.reward
        if name is None:
            return "composite" if self.has_ground_truth else "outcome"
        if name not in REWARD_COMPONENTS:
            raise ValueError(f"reward must be one of {REWARD_COMPONENTS}, got {name!r}")
        if name in ("composite", "diagnosis") and not self.has_ground_truth:
            raise ValueError(f"reward {name!r} needs a root cause; a user model has none (use 'outcome')")
        return name

    def _terminal_reward(self) -> float:
        self._rewards = reward_components(
            self._feasible, self._faithful(), self._diagnosis, self._root_cause, self._step,
            self.config.max_turns, self.config.reward_weights)
        return float(self._rewards[self.reward_name])

    # -- records -----------------------------------------------------------------------------------
    def _record(self, action_text: str, rec: dict, result: str, wall: float) -> None:
        self._last = {"action": rec["action"] or action_text.strip(), "error": rec["error"], "result": result}
        self._history.append({"step": self._step, "action": self._last["action"], "ok": rec["error"] is None,
                              "changed": list(rec["changed"]), "status": self._status,
                              "result": result.splitlines()[0]})
        self._trajectory.append(StepRecord(
            index=self._step, action_text=action_text, result=result, status=self._status,
            feasible=self._feasible, objective=self._objective, wall_time=wall, **rec))

    def _info(self) -> dict:
        iis = self._iis if self._iis_shown else None
        return {
            "step": self._step, "max_turns": self.config.max_turns,
            "steps_left": self.config.max_turns - self._step,
            "status": self._status, "feasible": self._feasible, "objective": self._objective,
            "iis": iis.tokens() if iis else None, "iis_minimal": iis.minimal if iis else None,
            "slack": dict(self._slack) if self._slack is not None else None,
            "slack_unavailable": self._slack_unavailable,
            "last_action": self._last["action"], "last_error": self._last["error"],
            "last_result": self._last["result"], "history": [dict(h) for h in self._history],
            "constraint_names": list(self._model.constrs), "variable_names": list(self._model.vars),
            "model": self._model, "done": self._done,
        }

    # -- observation text --------------------------------------------------------------------------
    def _render(self) -> str:
        c = self.config
        lines = [f"OR-Debug. Step {self._step} of {c.max_turns} ({c.max_turns - self._step} left).",
                 status_line(self._status, self._objective, c.solve_time_limit)]
        if self._solve_error is not None:
            lines.append(f"Solver error: {self._solve_error}")
        if self._last["action"] is not None:
            lines += [f"Last action: {self._last['action']}", f"Result: {self._last['result']}"]
        recent = self._history[-c.history_len - 1:-1] if c.history_len else []
        if recent:
            lines.append("Earlier actions:")
            lines += [f"  {h['step']}. {h['action']} -> {h['result']}" for h in recent]
        if self._iis_shown:
            lines.append(f"IIS of the current model ({self._iis.size} members): "
                         + ", ".join(self._iis.tokens()))
            lines += [f"  {tok}: {text}" for tok, text in bound_lines(self._model, self._iis)]
        if self._slack_unavailable is None and self._slack:
            lines.append("Must move (minimum total violation): " + self._slack_text)
        if self._done:
            lines.append("The episode is over.")
            return "\n".join(lines)
        if c.show_model or self._step == 0:
            lines.append(self._model_text())
        if self._step == 0 or self._last["error"] is not None:  # the grammar again only after a mistake
            lines.append("Actions: " + " | ".join(grammar.USAGE.values()))
            lines.append("Repair the model so it is feasible while keeping its intended optimum, then SUBMIT "
                         "the constraints/bounds you blame (bound tokens: <var>.lb, <var>.ub, <var>.type).")
        return "\n".join(lines)

    def _model_text(self) -> str:
        m = self._model
        n_vars, n_constrs = m.size
        if n_constrs <= self.config.full_model_max_constraints:
            return render_text(m)
        n_int = sum(v.vtype != "C" for v in m.vars.values())
        word = "minimize" if m.sense == "min" else "maximize"
        summary = (f"Model {m.name}: {word}; {n_vars} variables ({n_int} integer), {n_constrs} constraints "
                   f"(more than {self.config.full_model_max_constraints}: not listed in full; "
                   "INSPECT <name> shows any row or variable).")
        if self._iis_shown and self._iis.constraints:
            return summary + "\nRows of the IIS:\n" + render_text(m, rows=self._iis.constraints)
        return summary + "\nCall GET_IIS to see the rows that conflict."


# -- text helpers ------------------------------------------------------------------------------------
def status_line(status: str, objective: float | None, time_limit: float) -> str:
    """One line for the solver status.

    >>> status_line("OPTIMAL", 12.5, 10)
    'Solver status: OPTIMAL (feasible and bounded), objective 12.5'
    >>> status_line("NUMERIC", None, 10)
    'Solver status: NUMERIC (not feasible-and-bounded)'
    """
    meaning = STATUS_MEANING.get(status, "not feasible-and-bounded")
    if status == "TIME_LIMIT":
        meaning = f"no answer within {fmt_num(time_limit)} s: not proven feasible-and-bounded"
    line = f"Solver status: {status} ({meaning})"
    if status == FEASIBLE_STATUS and objective is not None:
        line += f", objective {fmt_num(objective)}"
    return line


def round_up(x: float, digits: int = 6) -> float:
    """``x`` > 0 rounded up to ``digits`` significant digits (a value already that short is kept).

    >>> round_up(13.333333), round_up(40.0), round_up(2.5e-7)
    (13.3334, 40.0, 2.5e-07)
    """
    if not (x > 0 and math.isfinite(x)):
        return x
    q = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return float(fmt_num(math.ceil(x / q - 1e-6) * q))  # the 1e-6: x / q of a short x is an integer up to float error


def slack_items(model: LinearModel, amounts: dict[str, float], rhs_shift: dict[str, float]) -> str:
    """CHECK_SLACK's answer as text: ``<token> by <amount>`` each, the amount rounded *up* to 6 significant
    digits (so moving by the amount as read suffices; rounded to nearest, 13.33333 would read 13.3333 and
    leave the model infeasible); an equality row also says where its rhs must go (its direction is not
    implied by its sense, as an inequality's or a bound's is).

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=3); _ = m.add_constr("bal", {"x": 1}, "==", 5)
    >>> slack_items(m, {"bal": 2.0, "x.ub": 40 / 3}, {"bal": -2.0})
    'bal by 2 (rhs 5 -> 3), x.ub by 13.3334'
    """
    out = []
    for tok, amount in amounts.items():
        c = model.constrs.get(tok)
        item = f"{tok} by {fmt_num(round_up(amount))}"
        if c is not None and c.sense == "==" and tok in rhs_shift:
            item += f" (rhs {fmt_num(c.rhs)} -> {fmt_num(c.rhs + rhs_shift[tok])})"
        out.append(item)
    return ", ".join(out)


def bound_lines(model: LinearModel, iis: IIS) -> list[tuple[str, str]]:
    """(token, text) of the IIS bound members, e.g. ('x.ub', 'x <= 5')."""
    out = [(f"{v}.lb", f"{v} >= {fmt_num(model.vars[v].lb)}") for v in iis.lower_bounds]
    out += [(f"{v}.ub", f"{v} <= {fmt_num(model.vars[v].ub)}") for v in iis.upper_bounds]
    return out


def inspect_text(model: LinearModel, name: str) -> str:
    """INSPECT: a constraint row with the bounds of its variables, or a variable with its bounds, type,
    objective coefficient and rows. Bound tokens (``x.ub``) inspect their variable.

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=4, obj=2); _ = m.add_constr("c", {"x": 3}, "<=", 9)
    >>> print(inspect_text(m, "x.ub"))
    variable x: 0 <= x <= 4; type continuous; objective coefficient 2; in 1 constraint(s): c
    """
    if name in model.constrs:
        c = model.constrs[name]
        bounds = "; ".join(fmt_bounds(model.vars[v]) for v in c.coeffs)
        return f"constraint {fmt_constr(c)}; bounds of its variables: {bounds or 'none'}"
    base, dot, suffix = name.rpartition(".")
    var_name = name if name in model.vars else base if dot and f".{suffix}" in grammar.BOUND_SUFFIXES else None
    if var_name is None or var_name not in model.vars:
        raise ActionError(f"no constraint or variable named {name!r}")
    v = model.vars[var_name]
    rows = model.columns()[var_name]
    shown = ", ".join(rows[:NAME_LIST_LIMIT]) + (f", ... ({len(rows) - NAME_LIST_LIMIT} more)"
                                                 if len(rows) > NAME_LIST_LIMIT else "")
    kind = {"C": "continuous", "I": "integer", "B": "binary"}[v.vtype]
    return (f"variable {var_name}: {fmt_bounds(v).replace('  (integer)', '').replace('  (binary)', '')}; type {kind}; "
            f"objective coefficient {fmt_num(v.obj)}; in {len(rows)} constraint(s): {shown or 'none'}")


def describe_change(before: LinearModel, after: LinearModel, action: Action) -> tuple[list[str], str]:
    """The diagnosis tokens a mutating action changed and a one-line description.

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=4); _ = m.add_constr("c", {"x": 1}, "<=", 9)
    >>> a = parse_action("SET_BOUNDS x 0 6")
    >>> describe_change(m, apply_action(m, a), a)
    (['x.ub'], 'x: 0 <= x <= 6 (was 0 <= x <= 4)')
    """
    verb, target = action.verb, action.args[0]
    if verb == "RELAX" and target not in before.constrs:  # a bound token, x.lb / x.ub
        var = target.rpartition(".")[0]
        return [target], f"{var}: {fmt_bounds(after.vars[var])} (was {fmt_bounds(before.vars[var])})"
    if verb == "DROP":
        return [target], f"dropped {fmt_constr(before.constrs[target])}"
    if verb in ("RELAX", "SET_RHS", "FLIP_SENSE", "SET_COEF"):
        return [target], f"{fmt_constr(after.constrs[target])} (was {fmt_constr(before.constrs[target]).split(': ', 1)[1]})"
    old, new = before.vars[target], after.vars[target]
    if verb == "SET_BOUNDS":
        changed = [f"{target}.lb"] * (old.lb != new.lb) + [f"{target}.ub"] * (old.ub != new.ub)
        return changed, f"{target}: {fmt_bounds(new)} (was {fmt_bounds(old)})"
    if verb == "SET_VTYPE":
        names = {"C": "continuous", "I": "integer", "B": "binary"}
        changed = [f"{target}.type"] if old.vtype != new.vtype else []
        return changed, f"{target} is now {names[new.vtype]} (was {names[old.vtype]})"
    raise AssertionError(f"describe_change got non-mutating {verb}")


def undone(model: LinearModel, original: LinearModel, errors: list[dict]) -> bool:
    """Is every injected change (``Instance.meta['errors']``) back as it was in ``original``: each changed row
    with its sense, right-hand side and coefficients, each changed variable with its bounds and type, each
    added row gone? Numbers within 1e-9 (relative). Faithful recovery compares optimal objectives only, so
    it counts e.g. a DROP of a flipped row that never binds; this does not. Edits elsewhere are not judged.

    >>> m = LinearModel("t"); _ = m.add_var("x", ub=4); _ = m.add_constr("c", {"x": 1}, "<=", 9)
    >>> typo = m.copy(); typo.constrs["c"].rhs = 0.9
    >>> errors = [{"kind": "rhs", "target": "c"}]
    >>> undone(typo, m, errors), undone(apply_action(typo, parse_action("SET_RHS c 9")), m, errors)
    (False, True)
    >>> undone(apply_action(typo, parse_action("DROP c")), m, errors)
    False
    """
    def close(a: float, b: float) -> bool:
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)

    for e in errors:
        t = e["target"]
        if e["kind"] == "add":
            if t in model.constrs:
                return False
        elif e["kind"] in ("vtype", "bound"):
            v, w = model.vars.get(t), original.vars[t]
            if v is None or v.vtype != w.vtype or not (close(v.lb, w.lb) and close(v.ub, w.ub)):
                return False
        else:
            c, d = model.constrs.get(t), original.constrs[t]
            if c is None or c.sense != d.sense or not close(c.rhs, d.rhs) or set(c.coeffs) != set(d.coeffs) \
                    or not all(close(c.coeffs[k], d.coeffs[k]) for k in d.coeffs):
                return False
    return True


class Policy(Protocol):
    """What the env's runners need from a policy (LLM or not). Optional: ``act_batch(observations,
    infos) -> list[str]`` with ``batch_safe = True`` for ``run_lockstep``, and ``reset(seed=None)``,
    called at each episode start."""

    def act(self, observation: str, info: dict) -> str: ...


# -- running a policy ------------------------------------------------------------------------------
def run_episode(env: RepairEnv, policy: Policy, seed: int | None = None) -> EpisodeOutcome:
    """One episode: ``policy.reset(seed=seed)`` (when the policy has ``reset``), then ``act`` until the
    episode ends."""
    if hasattr(policy, "reset"):
        policy.reset(seed=seed)
    obs, info = env.reset()
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        if terminated or truncated:
            return env.outcome()


def run_lockstep(envs: list[RepairEnv], policy: Policy) -> list[EpisodeOutcome]:
    """Several episodes at once through ``policy.act_batch`` (one call per step for all unfinished
    episodes: what an LLM policy needs to batch generation). The policy must be ``batch_safe``: its action
    may depend only on (observation, info), since one object serves every episode."""
    if not getattr(policy, "batch_safe", False):
        raise ValueError(f"{type(policy).__name__} keeps per-episode state (batch_safe is not True); "
                         "run its episodes one by one with run_episode")
    pending = [env.reset() for env in envs]
    active = list(range(len(envs)))
    while active:
        actions = policy.act_batch([pending[i][0] for i in active], [pending[i][1] for i in active])
        if len(actions) != len(active):
            raise ValueError(f"act_batch returned {len(actions)} actions for {len(active)} observations")
        for i, action in zip(active, actions):
            obs, _, _, _, info = envs[i].step(action)
            pending[i] = (obs, info)
        active = [i for i in active if not envs[i].done]
    return [env.outcome() for env in envs]


# -- PRM step labels (seeds/001 Strategy 2) --------------------------------------------------------
def step_progress_label(step: StepRecord, prev_iis_size: int | None, root_cause: list[str] | None) -> float:
    """Solver-feedback label of one step, first rule that applies:

    1.0  solved: a change (or RESET) left the model OPTIMAL; or the IIS shrank: the IIS of the model
         after the step is smaller than the last known one (``prev_iis_size``);
    0.5  correct diagnosis: a SUBMIT that names at least one root-cause token;
    0.2  diagnostic action: GET_IIS, CHECK_SLACK, INSPECT;
    0.0  no progress (including malformed actions).

    >>> s = StepRecord(index=2, action_text="FLIP_SENSE c", action="FLIP_SENSE c", verb="FLIP_SENSE",
    ...                error=None, result="...", changed=["c"], status="INFEASIBLE", feasible=False,
    ...                objective=None, iis_size=2, iis_requested=False, iis_tokens=None, slack=None,
    ...                diagnosis=None, wall_time=0.01)
    >>> step_progress_label(s, prev_iis_size=3, root_cause=["c"])      # IIS shrank from 3 to 2
    1.0
    >>> step_progress_label(s, prev_iis_size=2, root_cause=["c"])      # a change, no progress
    0.0
    """
    if step.error is not None or step.verb is None:
        return 0.0
    changed_model = step.verb in grammar.MUTATING or step.verb == "RESET"
    if changed_model and step.feasible:
        return 1.0
    if changed_model and step.iis_size is not None and prev_iis_size is not None and step.iis_size < prev_iis_size:
        return 1.0
    if step.verb == "SUBMIT" and root_cause and set(step.diagnosis or []) & set(root_cause):
        return 0.5
    if step.verb in DIAGNOSTIC_VERBS:
        return 0.2
    return 0.0


def progress_labels(outcome: EpisodeOutcome) -> list[float]:
    """``step_progress_label`` for every step of a finished episode (the IIS size carries forward)."""
    labels, prev = [], outcome.initial_iis_size
    for step in outcome.trajectory:
        labels.append(step_progress_label(step, prev, outcome.root_cause))
        if step.iis_size is not None:
            prev = step.iis_size
        elif step.feasible:
            prev = 0
    return labels
