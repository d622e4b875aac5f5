"""Small OR-Debug instances built by hand, with ground truth worked out on paper (no generator code).

* ``production_flip``  (A) max 7a + 4b + 6c; cap_assembly 2a + b + 3c <= 120 (sabotaged to >=);
  cap_paint a + b + c <= 30; demand_b b >= 5. Original optimum a = 25, b = 5: z* = 195.
  Sabotaged: 2a + b + 3c <= 3(a + b + c) - a - 2b <= 90 < 120, infeasible.
  RELAX cap_assembly 40 (>= 80) is feasible but unfaithful: forces c = 25, b = 5, z = 170.
* ``staffing_bound``   (H) min 100 day + 120 night; cover_total day + night >= 50; cover_night
  night >= 12; day <= 40; night <= 30 (sabotaged to 8). z* = 100·38 + 120·12 = 5240.
  Sabotaged, two conflicts: cover_night vs night <= 8, and cover_total vs day <= 40 + night <= 8
  (Gurobi's IIS is the second). Dropping both rows is feasible, z = 0: unfaithful.
* ``blend_type``       (B) max 3 batches + 2 liters; cap batches + liters <= 8.5; pour 2 liters == 5;
  batches integer <= 10, liters continuous <= 10 (sabotaged to integer: 2·liters = 5 has no integer
  solution). z* = 3·6 + 2·2.5 = 23.
* ``production_two``   (E) production_flip plus demand_b raised to 45 (> cap_paint's 30): two repairs.
"""
from __future__ import annotations

from ordebug_lib.ordebug.instance import Instance
from ordebug_lib.ordebug.model import LinearModel


def _production() -> LinearModel:
    m = LinearModel("production", "max")
    for name, profit in (("make_a", 7), ("make_b", 4), ("make_c", 6)):
        m.add_var(name, obj=profit)
    m.add_constr("cap_assembly", {"make_a": 2, "make_b": 1, "make_c": 3}, "<=", 120)
    m.add_constr("cap_paint", {"make_a": 1, "make_b": 1, "make_c": 1}, "<=", 30)
    m.add_constr("demand_b", {"make_b": 1}, ">=", 5)
    return m


def production_flip(instance_id: str = "hand-A-production") -> Instance:
    original = _production()
    sabotaged = original.copy()
    sabotaged.constrs["cap_assembly"].sense = ">="
    return Instance(instance_id, "production", "A", "easy", "semantic", 0, original, sabotaged,
                    root_cause=["cap_assembly"], true_repair=["FLIP_SENSE cap_assembly"],
                    original_objective=195.0, meta={"split": "test"})


def staffing_bound(instance_id: str = "hand-H-staffing") -> Instance:
    original = LinearModel("staffing", "min")
    original.add_var("day_staff", ub=40, obj=100)
    original.add_var("night_staff", ub=30, obj=120)
    original.add_constr("cover_total", {"day_staff": 1, "night_staff": 1}, ">=", 50)
    original.add_constr("cover_night", {"night_staff": 1}, ">=", 12)
    sabotaged = original.copy()
    sabotaged.vars["night_staff"].ub = 8
    return Instance(instance_id, "staffing", "H", "medium", "semantic", 0, original, sabotaged,
                    root_cause=["night_staff.ub"], true_repair=["SET_BOUNDS night_staff 0 30"],
                    original_objective=5240.0, meta={"split": "test"})


def blend_type(instance_id: str = "hand-B-blend") -> Instance:
    original = LinearModel("blend", "max")
    original.add_var("batches", ub=10, obj=3, vtype="I")
    original.add_var("liters", ub=10, obj=2)
    original.add_constr("cap", {"batches": 1, "liters": 1}, "<=", 8.5)
    original.add_constr("pour", {"liters": 2}, "==", 5)
    sabotaged = original.copy()
    sabotaged.vars["liters"].vtype = "I"
    return Instance(instance_id, "blend", "B", "easy", "semantic", 0, original, sabotaged,
                    root_cause=["liters.type"], true_repair=["SET_VTYPE liters C"],
                    original_objective=23.0, meta={"split": "test"})


def production_two(instance_id: str = "hand-E-production") -> Instance:
    inst = production_flip(instance_id)
    inst.sabotaged.constrs["demand_b"].rhs = 45
    inst.error_type, inst.difficulty = "E", "hard"
    inst.root_cause = ["cap_assembly", "demand_b"]
    inst.true_repair = ["FLIP_SENSE cap_assembly", "SET_RHS demand_b 5"]
    return inst


def all_instances() -> list[Instance]:
    return [production_flip(), staffing_bound(), blend_type(), production_two()]
