"""LinearModel, text rendering, MPS/LP round trips, the license limit and the Gurobi wrapper."""
import math
from pathlib import Path

import pytest

from ordebug_lib.ordebug import solver
from ordebug_lib.ordebug.model import INF, LinearModel, ModelError, render_text
from ordebug_lib.ordebug.solver import read_model, write_model

NETLIB = Path(__file__).resolve().parents[2] / "shared" / "data" / "netlib-infeasible"


def two_products() -> LinearModel:
    m = LinearModel("two_products", "max")
    m.add_var("make_widget", lb=0, obj=30)
    m.add_var("make_gadget", lb=0, ub=40, obj=45, vtype="I")
    m.add_constr("cap_assembly", {"make_widget": 2, "make_gadget": 3}, "<=", 100)
    m.add_constr("contract_widget", {"make_widget": 1}, ">=", 20)
    return m


def test_render_text_is_exact():
    assert render_text(two_products()) == (
        "Model two_products: maximize 30 make_widget + 45 make_gadget\n"
        "Constraints:\n"
        "  cap_assembly: 2 make_widget + 3 make_gadget <= 100\n"
        "  contract_widget: 1 make_widget >= 20\n"
        "Bounds:\n"
        "  0 <= make_widget\n"
        "  0 <= make_gadget <= 40  (integer)"
    )


def test_render_rows_subset_shows_only_those_rows_and_their_variables():
    text = render_text(two_products(), rows=["contract_widget"])
    assert "cap_assembly" not in text and "make_gadget" not in text
    assert "(showing 1 of 2 constraints, 1 of 2 variables)" in text


def test_builder_rejects_bad_input():
    m = two_products()
    with pytest.raises(ModelError, match="duplicate"):
        m.add_var("make_widget")
    with pytest.raises(ModelError, match="unknown variable"):
        m.add_constr("c", {"nope": 1}, "<=", 1)
    with pytest.raises(ModelError, match="sense"):
        m.add_constr("c", {"make_widget": 1}, "<", 1)


def test_solve_hand_computed_optimum():
    # max 30w + 45g, 2w + 3g <= 100, w >= 20, g <= 40 integer.
    # Per hour of assembly w earns 15 and g earns 15: tie; the optimum is 30*50 = 1500 (any w >= 20).
    res = solver.solve(two_products())
    assert res.status == "OPTIMAL" and math.isclose(res.objective, 1500.0)
    assert res.values["make_widget"] >= 20 - 1e-9


def test_fingerprint_ignores_names_only_when_asked_and_negative_zero():
    a, b = two_products(), two_products()
    b.vars = {("y" if k == "make_gadget" else k): v for k, v in b.vars.items()}
    b.vars["y"].name = "y"
    for c in b.constrs.values():
        c.coeffs = {("y" if k == "make_gadget" else k): x for k, x in c.coeffs.items()}
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint(names=False) == b.fingerprint(names=False)
    b.obj_constant = -0.0
    assert a.fingerprint(names=False) == b.fingerprint(names=False)
    b.constrs["cap_assembly"].rhs = 101
    assert a.fingerprint(names=False) != b.fingerprint(names=False)


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_file_round_trip_keeps_everything(tmp_path, suffix):
    m = two_products()
    m.add_var("free_x", lb=-INF, ub=INF, obj=-1.5)
    m.add_var("pick", vtype="B", obj=2)
    m.add_constr("link", {"free_x": 1, "pick": -4, "make_widget": 0.25}, "==", -3)
    back = read_model(write_model(m, tmp_path / f"m{suffix}"))
    assert back.fingerprint() == m.fingerprint()
    assert back.vars["free_x"].lb == -INF and back.vars["free_x"].ub == INF


def test_dict_round_trip():
    m = two_products()
    assert LinearModel.from_dict(m.to_dict()).fingerprint() == m.fingerprint()


def test_license_limit_is_a_clear_error(tmp_path):
    m = LinearModel("big")
    for i in range(2001):
        m.add_var(f"x{i}")
    with pytest.raises(ModelError, match="at most 2000"):
        solver.solve(m)
    import gurobipy as gp
    gm = gp.Model(env=solver.gurobi_env())
    gm.addVars(2001, name="x")
    gm.write(str(tmp_path / "big.lp"))
    with pytest.raises(ModelError, match="2001 variables"):
        read_model(tmp_path / "big.lp")


def test_iis_and_min_violation_on_a_bound_conflict():
    m = LinearModel("b")
    m.add_var("x", lb=0, ub=2)
    m.add_var("y", lb=0, ub=10)
    m.add_constr("need_x", {"x": 1}, ">=", 3)
    m.add_constr("y_small", {"y": 1}, "<=", 5)
    iis = solver.compute_iis(m)
    assert iis.tokens() == ["need_x", "x.ub"] and iis.size == 2
    viol = solver.min_violation(m)
    assert set(viol) <= {"need_x", "x.ub"} and math.isclose(sum(viol.values()), 1.0)


def test_iis_of_a_feasible_model_is_an_error():
    with pytest.raises(solver.SolverError, match="not INFEASIBLE"):
        solver.compute_iis(two_products())


def test_slacks_and_objective_tolerance():
    m = two_products()
    s = solver.slacks(m, {"make_widget": 20, "make_gadget": 10})
    assert s == {"cap_assembly": 100 - 70, "contract_widget": 0}
    assert solver.objectives_match(1500.0 + 1e-4, 1500.0)  # 1e-6 * 1500 = 1.5e-3
    assert not solver.objectives_match(1500.01, 1500.0)
    assert not solver.objectives_match(None, 1500.0)


def test_netlib_itest2_matches_its_readme():
    m = read_model(NETLIB / "itest2.mps")
    assert m.size == (4, 9)
    assert solver.solve(m).status == "INFEASIBLE"
    iis = solver.compute_iis(m)
    assert len(iis.constraints) == 3 and not iis.lower_bounds and not iis.upper_bounds


def test_copy_is_independent_and_equal():
    m = two_products()
    c = m.copy()
    assert c.fingerprint() == m.fingerprint() and c is not m
    c.constrs["cap_assembly"].coeffs["make_widget"] = 5
    c.vars["make_gadget"].ub = 1
    c.add_var("extra")
    assert m.constrs["cap_assembly"].coeffs["make_widget"] == 2 and m.vars["make_gadget"].ub == 40
    assert "extra" not in m.vars


def test_min_violation_result_says_whether_it_is_proven():
    from ordebug_lib.ordebug.saboteur import make_instance

    lp = make_instance("production_planning", "A", "easy", seed=0).sabotaged
    found = solver.min_violation_result(lp, work_limit=0.1)
    assert found.proven and found.amounts == solver.min_violation(lp)
    milp = make_instance("staffing", "A", "easy", seed=1).sabotaged  # v2 seed 0 is proven within 0.1 units; seed 1 stalls
    stalled = solver.min_violation_result(milp, work_limit=0.1)
    assert not stalled.proven and sum(stalled.amounts.values()) > 0
    assert solver.min_violation_result(milp, work_limit=0.1) == stalled  # deterministic
