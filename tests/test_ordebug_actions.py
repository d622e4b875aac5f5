"""The action grammar (actions.py) on well-formed and malformed input: every failure is an ActionError
with a message an agent can act on, never another exception."""
import doctest
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordebug_lib.ordebug import actions
from ordebug_lib.ordebug.actions import (Action, ActionError, apply_action, diagnosis_tokens, extract_action_text,
                                         parse_action, unknown_tokens)
from ordebug_lib.ordebug.model import INF, LinearModel


def small() -> LinearModel:
    m = LinearModel("t", "min")
    m.add_var("x", ub=10, obj=1)
    m.add_var("y", obj=2, vtype="I")
    m.add_constr("cap", {"x": 1, "y": 1}, "<=", 8)
    m.add_constr("bal", {"x": 1, "y": -1}, "==", 0)
    return m


def test_module_doctests_pass():
    assert doctest.testmod(actions, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize("text, verb, args", [
    ("GET_IIS", "GET_IIS", ()),
    ("  check_slack  ", "CHECK_SLACK", ()),
    ("Inspect x.ub", "INSPECT", ("x.ub",)),
    ("RELAX cap 1e-3", "RELAX", ("cap", "1e-3")),
    ("set_bounds x -inf inf", "SET_BOUNDS", ("x", "-inf", "inf")),
    ("SET_VTYPE y c", "SET_VTYPE", ("y", "C")),
    ("SUBMIT cap cap x.ub", "SUBMIT", ("cap", "cap", "x.ub")),
    ("I will look first.\n<action>GET_IIS</action> then <action>DROP cap</action>", "DROP", ("cap",)),
    ("thinking...\n\nFLIP_SENSE cap\n\n", "FLIP_SENSE", ("cap",)),
])
def test_well_formed(text, verb, args):
    assert parse_action(text) == Action(verb, args)


@pytest.mark.parametrize("text, message", [
    ("", "empty action"),
    ("   \n\t ", "empty action"),
    ("<action>  </action>", "empty action"),
    ("FLY_SENSE c1", "unknown action 'FLY_SENSE'; valid actions: GET_IIS, CHECK_SLACK"),
    ("GET_IIS now", "GET_IIS takes 0 argument(s), got 1; usage: GET_IIS"),
    ("RELAX cap", "RELAX takes 2 argument(s), got 1; usage: RELAX <constraint|var.lb|var.ub> <amount>"),
    ("SET_COEF cap x", "usage: SET_COEF <constraint> <variable> <value>"),
    ("SET_BOUNDS x 0", "usage: SET_BOUNDS <variable> <lb> <ub>"),
    ("RELAX cap ten", "expected a number, got 'ten'"),
    ("RELAX cap nan", "expected a finite number, got 'nan'"),
    ("SET_RHS cap inf", "expected a finite number, got 'inf'"),
    ("SET_COEF cap x 1,5", "expected a number, got '1,5'"),
    ("SET_BOUNDS x low 3", "expected a number, got 'low'"),
    ("SET_VTYPE x Q", "variable type must be C, I or B, got 'Q'"),
    ("SUBMIT", "name at least one constraint or bound"),
    ("<action>GET_IIS\nDROP cap</action>", "an action is one line"),
    ("A" * 2001, "at most 2000"),
])
def test_malformed_input_gives_actionable_message(text, message):
    with pytest.raises(ActionError) as err:
        parse_action(text)
    assert message in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("RELAX cap 0", "RELAX amount must be positive"),
    ("RELAX cap -2", "RELAX amount must be positive"),
    ("RELAX bal 1", "bal is an equality; RELAX needs an inequality"),
    ("RELAX y.ub 1", "y.ub is infinite: there is no bound to relax"),
    ("RELAX x.lb 0", "RELAX amount must be positive"),
    ("RELAX z.ub 1", "no constraint named 'z.ub'"),
    ("FLIP_SENSE bal", "only <= and >= can be flipped"),
    ("DROP x", "no constraint named 'x' (that is a variable)"),
    ("SET_BOUNDS cap 0 1", "no variable named 'cap' (that is a constraint)"),
    ("SET_COEF cap z 1", "no variable named 'z'"),
    ("SET_BOUNDS x 5 1", "lower bound 5 exceeds upper bound 1"),
    ("SET_BOUNDS x inf inf", "a lower bound cannot be +inf"),
    ("SET_BOUNDS x -inf -inf", "nor an upper bound -inf"),
    ("GET_IIS", "GET_IIS does not change the model"),
    ("SUBMIT cap", "SUBMIT does not change the model"),
])
def test_apply_rejects_what_the_model_cannot_take(text, message):
    with pytest.raises(ActionError) as err:
        apply_action(small(), parse_action(text))
    assert message in str(err.value)


def test_apply_returns_a_new_model_and_leaves_the_input_alone():
    m = small()
    before = m.fingerprint()
    out = apply_action(m, parse_action("RELAX cap 2"))
    assert out.constrs["cap"].rhs == 10 and m.fingerprint() == before
    out = apply_action(m, parse_action("SET_COEF cap x 0"))
    assert "x" not in out.constrs["cap"].coeffs
    out = apply_action(m, parse_action("SET_BOUNDS x -inf inf"))
    assert (out.vars["x"].lb, out.vars["x"].ub) == (-INF, INF)
    out = apply_action(m, parse_action("SET_VTYPE x I"))
    assert out.vars["x"].vtype == "I" and out.vars["x"].ub == 10  # bounds kept
    out = apply_action(m, parse_action("SET_VTYPE x B"))
    assert out.vars["x"].vtype == "B" and (out.vars["x"].lb, out.vars["x"].ub) == (0, 1)  # clipped, as in files
    assert m.fingerprint() == before


def test_relax_of_a_bound_token_moves_exactly_that_bound():
    # CHECK_SLACK names bounds as x.ub / x.lb; RELAX takes the same token, so its answer is actionable as read
    m = small()
    out = apply_action(m, parse_action("RELAX x.ub 2.5"))
    assert (out.vars["x"].lb, out.vars["x"].ub) == (0, 12.5) and out.constrs == m.constrs
    out = apply_action(m, parse_action("RELAX x.lb 3"))
    assert (out.vars["x"].lb, out.vars["x"].ub) == (-3, 10)
    assert (m.vars["x"].lb, m.vars["x"].ub) == (0, 10)  # input untouched


def test_diagnosis_and_unknown_tokens():
    assert diagnosis_tokens(parse_action("SUBMIT cap x.ub cap y.type")) == ["cap", "x.ub", "y.type"]
    with pytest.raises(ActionError, match="only SUBMIT"):
        diagnosis_tokens(parse_action("GET_IIS"))
    assert unknown_tokens(small(), ["cap", "x.ub", "y.type", "x", "z.lb", "cap.ub", "x.foo"]) == \
        ["x", "z.lb", "cap.ub", "x.foo"]


def test_extract_action_text_rules():
    assert extract_action_text("<ACTION> drop cap </ACTION>") == "drop cap"
    assert extract_action_text("no tag\nlast line") == "last line"
    assert extract_action_text("") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_only_ever_raises_action_error(text):
    try:
        action = parse_action(text)
    except ActionError as e:
        assert str(e)
        return
    assert action.verb in actions.GRAMMAR
    if action.mutates:
        try:
            apply_action(small(), action)
        except ActionError:
            pass  # the point of this test: ActionError is the only failure


verbs = st.sampled_from(sorted(actions.GRAMMAR))
tokens = st.sampled_from(["cap", "bal", "x", "y", "x.ub", "zz", "1", "-inf", "inf", "nan", "0", "-3.5", "B", "1e400"])


@settings(max_examples=300, deadline=None)
@given(verbs, st.lists(tokens, max_size=4))
def test_grammar_shaped_input_only_ever_raises_action_error(verb, args):
    m = small()
    try:
        action = parse_action(" ".join([verb, *args]))
        if action.mutates:
            out = apply_action(m, action)
            for v in out.vars.values():
                assert not math.isnan(v.lb) and not math.isnan(v.ub) and v.lb <= v.ub
    except ActionError:
        pass


def test_numbers_beyond_the_solvers_range_are_refused():
    """A coefficient of -1e308 after a RELAX crashed Gurobi's IIS search (SIGSEGV; fuzz_actions.py at
    action 355,509 of 10^6): such numbers are an ActionError now, an observation the agent reads."""
    from ordebug_lib.ordebug.actions import MAX_MAGNITUDE
    from ordebug_lib.ordebug.env import RepairEnv
    from ordebug_lib.ordebug.saboteur import make_instance

    for line in ("SET_COEF c x -1e308", "SET_RHS c 1e16", "RELAX c 2e15", "SET_BOUNDS x 0 1e100"):
        with pytest.raises(ActionError, match="beyond"):
            parse_action(line)
    assert parse_action(f"SET_RHS c {MAX_MAGNITUDE:g}").args[1] == "1e+15"
    assert parse_action("SET_BOUNDS x -inf inf").args == ("x", "-inf", "inf")
    env = RepairEnv(make_instance("staffing", "I", "hard", seed=0))
    env.reset()
    env.step("RELAX cover_thu_00 6.0")
    info = env.step("SET_COEF def_payroll pt_thu_06 -1e308")[4]  # the crash's two actions
    assert "beyond" in info["last_error"]
