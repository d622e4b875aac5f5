"""Recovery demonstrations never carry the answer: a near miss or rejected action draws its value from its
own target, never a number of the true repair, and the demos still end in a successful episode."""
import math

import pytest

from ordebug_lib.ordebug.actions import GRAMMAR, parse_action
from ordebug_lib.ordebug.env import RepairEnv
from ordebug_lib.ordebug.families import FAMILIES
from ordebug_lib.ordebug.saboteur import GenerationError, make_instance
from ordebug_lib.policy.ordebug_episodes import episode_env_config, recovery_transcripts

KINDS = ("near_miss", "rejected_action")
NUMERIC_TYPES = "CHI"  # one numeric repair each (coefficient, bound, rhs); E and G: several repairs


def _make(family, error_type, difficulty, seed):
    try:
        return make_instance(family, error_type, difficulty, seed)
    except GenerationError:  # a family that cannot make this cell: the test needs instances, not a grid
        return None


@pytest.fixture(scope="module")
def instances():
    cells = [(f, t, d, s) for f in FAMILIES for t in NUMERIC_TYPES for d in ("easy", "medium") for s in (0, 1)]
    cells += [(f, t, "easy", 0) for f in FAMILIES for t in "EG"]
    return [i for i in (_make(*c) for c in cells) if i is not None]


@pytest.fixture(scope="module")
def demos(instances):
    """(instance, transcript, mistake action) of every kept near_miss / rejected_action demo."""
    out = []
    for inst in instances:
        for t in recovery_transcripts(inst, KINDS, seed=0)[0]:
            actions = [m["content"] for m in t.messages if m["role"] == "assistant"]
            out.append((inst, t, parse_action(actions[t.trained_turns[0] - 1])))
    return out


def _numbers(action):
    return [float(x) for k, x in zip(GRAMMAR[action.verb], action.args) if k in ("n", "b")]


def _current(model, action, k):
    """The value the k-th numeric argument of ``action`` replaces in ``model`` (None: no such place)."""
    verb, args = action.verb, action.args
    if verb == "SET_RHS":
        return model.constrs[args[0]].rhs if args[0] in model.constrs else None
    if verb == "SET_COEF":
        c = model.constrs.get(args[0])
        return None if c is None else c.coeffs.get(args[1], 0.0)
    if verb == "SET_BOUNDS":
        v = model.vars.get(args[0])
        return None if v is None else (v.lb, v.ub)[k]
    return None


def _written(inst):
    """Numbers the true repair writes: those that differ from the value they replace in the sabotaged model."""
    out = set()
    for a in map(parse_action, inst.true_repair):
        out |= {x for k, x in enumerate(_numbers(a)) if _current(inst.sabotaged, a, k) != x}
    return out


def _real_target(inst, mistake):
    """The mistake's action with the names of the model: a rejected action's misspelt name completed from
    the true repair action it misspells."""
    name = mistake.args[0]
    if name in inst.sabotaged.constrs or name in inst.sabotaged.vars:
        return mistake
    for a in map(parse_action, inst.true_repair):
        if a.verb == mistake.verb and a.args and a.args[0][:-1] == name:
            return type(a)(a.verb, (a.args[0], *mistake.args[1:]))
    raise AssertionError(f"{mistake} names nothing of {inst.id} and misspells no true-repair action")


def _one_digit(x):
    """A round number d x 10^k."""
    return x != 0 and math.isfinite(x) and float(f"{x:.0e}") == x


def test_no_mistake_holds_a_number_of_the_true_repair(instances, demos):
    kinds_by_type = {(inst.error_type, t.policy) for inst, t, _ in demos}
    for et in NUMERIC_TYPES:  # both kinds exist where the repair is a number (measured: 20-40 demos each)
        assert {(et, f"recovery:{k}") for k in KINDS} <= kinds_by_type
    assert sum(inst.error_type in NUMERIC_TYPES for inst, _, _ in demos) >= 60
    n_valued = 0
    for inst, t, mistake in demos:
        true_numbers = {x for a in map(parse_action, inst.true_repair) for x in _numbers(a)}
        nums = _numbers(mistake)
        assert not set(nums) & _written(inst), (inst.id, inst.true_repair, str(mistake))  # never the answer
        real = _real_target(inst, mistake)
        changed = []
        for k, x in enumerate(nums):
            current = _current(inst.sabotaged, real, k)
            if mistake.verb == "SET_BOUNDS" and x == current:
                continue  # the bound it keeps: the target's own, shown in the model listing
            changed.append(x)
            # drawn, not copied: no number of the true repair; a slip of its own target's value or round
            assert x not in true_numbers, (inst.id, inst.true_repair, str(mistake))
            assert x != current and (_one_digit(x) or x in (round(current * 10, 9), round(current / 10, 9))), \
                (inst.id, str(mistake), current)
        assert changed or not nums, str(mistake)  # a valued mistake changes at least one number
        n_valued += bool(nums)
    assert n_valued >= 60


def test_the_demos_still_end_in_a_successful_episode(demos):
    for inst, t, mistake in demos:
        actions = [m["content"].removeprefix("<action>").removesuffix("</action>")
                   for m in t.messages if m["role"] == "assistant"]
        env = RepairEnv(inst, episode_env_config())
        env.reset()
        for a in actions:
            env.step(a)
        o = env.outcome()
        assert t.success and o.submitted and o.faithful and set(o.diagnosis) == set(inst.root_cause)
        submit = parse_action(actions[-1])
        assert submit.verb == "SUBMIT" and set(submit.args) == set(inst.root_cause)
        cont = actions[t.trained_turns[0]:]
        assert cont[-1 - len(inst.true_repair):-1] == list(inst.true_repair)  # the true repair, then SUBMIT
        if t.policy == "recovery:near_miss":  # the true repair's verb on another target, then RESET
            assert cont[0] == "RESET" and len(cont) == len(inst.true_repair) + 2
            same_verb = [parse_action(a) for a in inst.true_repair if parse_action(a).verb == mistake.verb]
            assert same_verb and all(a.args[:1] != mistake.args[:1] or a.verb == "SET_COEF" and
                                     a.args[:2] != mistake.args[:2] for a in same_verb), str(mistake)
        else:  # refused by name, then the true repair directly
            assert len(cont) == len(inst.true_repair) + 1
            assert "ERROR: no " in t.messages[2 * t.trained_turns[0]]["content"]


def test_the_values_are_seeded_by_seed_and_instance(instances):
    def mistakes(inst, seed):
        kept = recovery_transcripts(inst, KINDS, seed=seed)[0]
        return sorted(m["content"] for t in kept for m in t.messages[:2 * t.trained_turns[0]]
                      if m["role"] == "assistant")

    sample = [i for i in instances if i.error_type in NUMERIC_TYPES][:12]
    assert all(mistakes(i, 0) == mistakes(i, 0) for i in sample)
    assert any(mistakes(i, 0) != mistakes(i, 1) for i in sample)
