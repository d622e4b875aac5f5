"""The saboteur: every error type x difficulty gives valid instances that meet their definitions."""
import dataclasses
import re
from functools import lru_cache

import pytest

from ordebug_lib.ordebug.actions import apply_action, parse_action
from ordebug_lib.ordebug.families import FAMILIES, SIZE_TIERS, generate, row_kind
from ordebug_lib.ordebug.instance import DIFFICULTIES, ERROR_TYPES
from ordebug_lib.ordebug.model import LinearModel, ModelError, render_text
from ordebug_lib.ordebug.saboteur import (DIFFICULTY, RANDOM_ROW, RANDOM_VAR, GenerationError, is_infeasible,
                                          make_instance, sabotage, validate)

FAMILY_ORDER = list(FAMILIES)
CELLS = [(t, d) for t in ERROR_TYPES for d in DIFFICULTIES]
SEEDS = (0, 1)
LEAKY_WORDS = ("sabot", "force", "new", "inject", "error", "bug", "fix", "wrong", "bad")


@lru_cache(maxsize=None)
def instance_for(error_type: str, difficulty: str, seed: int, naming: str = "semantic"):
    """The first family (rotating with type and seed) that makes this cell; a family that cannot
    (e.g. knapsack rows for D/hard) is skipped as the benchmark builder skips it."""
    start = (ord(error_type) + seed) % len(FAMILY_ORDER)
    reasons = []
    for family in FAMILY_ORDER[start:] + FAMILY_ORDER[:start]:
        try:
            return make_instance(family, error_type, difficulty, seed, naming=naming, max_attempts=3)
        except GenerationError as e:
            reasons.append(str(e).splitlines()[-1])
    pytest.fail(f"no family makes {error_type}/{difficulty} seed {seed}: {reasons}")


def repaired_after(inst, n_errors: int):
    m = inst.sabotaged
    for d in inst.meta["errors"][:n_errors]:
        for line in d["repair"]:
            m = apply_action(m, parse_action(line))
    return m


@pytest.mark.parametrize("error_type,difficulty", CELLS)
def test_every_cell_gives_valid_instances_that_meet_the_definitions(error_type, difficulty):
    level = DIFFICULTY[difficulty]
    for seed in SEEDS:
        inst = instance_for(error_type, difficulty, seed)
        assert validate(inst) == [], (inst.id, validate(inst))
        orig, sab, meta = inst.original, inst.sabotaged, inst.meta
        errors = meta["errors"]
        lo, hi = SIZE_TIERS[level.size]
        assert lo <= meta["n_vars"] <= hi
        assert level.iis[0] <= meta["iis_size"] <= level.iis[1]
        assert 0 <= meta["single_drop_faithful_frac"] <= meta["single_drop_feasible_frac"] <= 1
        assert len(meta["single_drop"]) == meta["iis_size"]
        expected_errors = level.n_errors if error_type in "EG" else 1
        assert meta["n_errors"] == len(errors) == expected_errors
        assert inst.root_cause == [t for d in errors for t in d["root"]]
        if error_type == "A":
            assert sab.constrs[errors[0]["target"]].sense != orig.constrs[errors[0]["target"]].sense
        if error_type == "B":
            var = errors[0]["target"]
            assert inst.root_cause == [f"{var}.type"] and sab.vars[var].vtype != orig.vars[var].vtype
            assert inst.true_repair[0] == f"SET_VTYPE {var} {orig.vars[var].vtype}"
        if error_type == "C":
            row = errors[0]["target"]
            assert sab.constrs[row].coeffs != orig.constrs[row].coeffs and sab.constrs[row].rhs == orig.constrs[row].rhs
        if error_type == "D":
            row = inst.root_cause[0]
            assert row not in orig.constrs and len(sab.constrs) == len(orig.constrs) + 1
            assert inst.true_repair == [f"DROP {row}"]
        if error_type == "E":
            named = [d for d in errors if any(t in meta["iis"] for t in d["root"])]
            assert len(named) >= 2, "the first IIS shows at least two of the errors"
            for i in range(len(errors)):  # fixing all but one still leaves it infeasible
                m = sab
                for d in errors[:i] + errors[i + 1:]:
                    for line in d["repair"]:
                        m = apply_action(m, parse_action(line))
                assert is_infeasible(m)
        if error_type == "F":
            assert meta["n_linking_in_iis"] >= 1
            assert level.f_depth[0] <= meta["depth"] <= level.f_depth[1]
        if error_type == "G":
            assert len(meta["cascade"]) == len(errors)
            for k, stage in enumerate(meta["cascade"]):
                assert any(t in stage for t in errors[k]["root"])
                assert not any(t in stage for d in errors[k + 1:] for t in d["root"]), "later errors stay hidden"
            assert is_infeasible(repaired_after(inst, 1)), "still infeasible after the first repair"
        if error_type == "H":
            assert all(t.endswith((".lb", ".ub")) for t in inst.root_cause)
            assert all(a.startswith("SET_BOUNDS") for a in inst.true_repair)
        if error_type == "I":
            alts = meta["alternatives"]
            assert any(a["feasible"] and not a["faithful"] for a in alts)
            assert not any(a["faithful"] for a in alts)
            assert meta["single_drop_faithful_frac"] == 0


@pytest.mark.parametrize("error_type", ["A", "B", "D", "G", "H"])
def test_random_naming_hides_every_name_and_keeps_the_structure(error_type):
    sem = instance_for(error_type, "medium", 0)
    rnd = make_instance(sem.family, error_type, "medium", 0, naming="random", max_attempts=3)
    assert validate(rnd) == []
    assert rnd.id.startswith("model-") and sem.id.startswith(sem.family)
    for a, b in ((sem.original, rnd.original), (sem.sabotaged, rnd.sabotaged)):
        assert a.fingerprint(names=False) == b.fingerprint(names=False)
    assert all(re.fullmatch(RANDOM_VAR, v) for v in rnd.sabotaged.vars)
    assert all(re.fullmatch(RANDOM_ROW, c) for c in rnd.sabotaged.constrs)
    text = render_text(rnd.sabotaged)
    semantic_words = set(sem.sabotaged.vars) | set(sem.sabotaged.constrs) | {sem.family}
    assert not [w for w in semantic_words if re.search(rf"\b{re.escape(w)}\b", text)]
    for key in ("iis_size", "depth", "single_drop_feasible_frac", "single_drop_faithful_frac", "n_errors"):
        assert sem.meta[key] == rnd.meta[key], key


@pytest.mark.parametrize("family", FAMILY_ORDER)
def test_an_added_row_is_one_more_of_its_kind(family):
    inst = make_instance(family, "D", "easy", 0)
    added = inst.root_cause[0]
    kind = row_kind(family, added)
    assert kind is not None and kind in {row_kind(family, c) for c in inst.original.constrs}
    assert not any(w in added for w in LEAKY_WORDS)


def test_rows_and_columns_are_in_an_order_of_the_instance():
    """The generator lists rows by kind and entity; an instance shuffles them (and the columns) with a
    seed of its own, the same for both models, so the original is the sabotaged model minus the added row,
    in the same order. v1 kept the generator order: an added row was usually the model's last."""
    generated = generate("transportation", 1, 0)
    orders = set()
    for seed in range(4):
        inst = make_instance("transportation", "D", "easy", seed, max_attempts=1, base_seeds=[0])
        sab, orig = list(inst.sabotaged.constrs), list(inst.original.constrs)
        assert [r for r in sab if r != inst.root_cause[0]] == orig
        assert list(inst.sabotaged.vars) == list(inst.original.vars)
        assert set(orig) == set(generated.constrs) and set(inst.original.vars) == set(generated.vars)
        orders.add((tuple(orig), tuple(inst.original.vars)))
        assert inst.meta["canonical_original_fingerprint"] == generated.fingerprint(names=False)
    assert len(orders) == 4, "each instance has its own order"
    assert list(generated.constrs) not in [list(o[0]) for o in orders]


def test_no_name_or_id_says_what_was_done():
    for t, d in CELLS:
        inst = instance_for(t, d, 0)
        names = [*inst.sabotaged.vars, *inst.sabotaged.constrs, inst.sabotaged.name]
        assert not [n for n in names if any(w in n for w in LEAKY_WORDS)], inst.id
        assert re.fullmatch(r"[a-z_]+-[0-9a-f]{10}", inst.id)


def test_same_parameters_same_instance_other_seed_other_instance():
    a = make_instance("inventory", "C", "medium", 7)
    b = make_instance("inventory", "C", "medium", 7)
    c = make_instance("inventory", "C", "medium", 8)
    assert a.id == b.id != c.id
    assert a.sabotaged.fingerprint() == b.sabotaged.fingerprint() != c.sabotaged.fingerprint()
    assert (a.root_cause, a.true_repair, a.meta) == (b.root_cause, b.true_repair, b.meta)


def test_validate_reports_broken_instances():
    good = instance_for("C", "easy", 0)
    assert validate(good) == []
    cases = {
        "true_repair": dataclasses.replace(good, true_repair=[]),
        "root-cause": dataclasses.replace(good, root_cause=["no_such_row"]),
        "not INFEASIBLE": dataclasses.replace(good, sabotaged=good.original),
        "recorded": dataclasses.replace(good, original_objective=good.original_objective + 1.0),
        "variables": dataclasses.replace(good, difficulty="hard"),
    }
    for expected, broken in cases.items():
        problems = validate(broken)
        assert any(expected in p for p in problems), (expected, problems)


def test_bad_requests_fail_clearly():
    with pytest.raises(ModelError, match="unknown error type"):
        make_instance("diet", "Z", "easy", 0)
    with pytest.raises(ModelError, match="naming"):
        make_instance("diet", "A", "easy", 0, naming="hex")
    with pytest.raises(ModelError, match="unknown problem family"):
        make_instance("chess", "A", "easy", 0)
    with pytest.raises(ModelError, match="difficulty 'easy' is defined on models with 5-12 variables"):
        sabotage(generate("diet", 3, 0), "A", "easy")
    custom = generate("diet", 1, 0)
    custom.name = "my_model"
    with pytest.raises(GenerationError, match="type D needs a family model"):
        sabotage(custom, "D", "easy")


def test_a_user_model_can_be_sabotaged_without_a_family():
    m = LinearModel("plant", "max")
    for p, ub, profit in (("a", 40, 3), ("b", 30, 5), ("c", 50, 4), ("d", 20, 6), ("e", 60, 2)):
        m.add_var(p, 0, ub, "C", profit)
    m.add_constr("hours", {"a": 1, "b": 2, "c": 1, "d": 3, "e": 1}, "<=", 120)
    m.add_constr("contract_a", {"a": 1}, ">=", 15)
    inst = sabotage(m, "H", "easy", seed=3)
    assert inst.family == "custom" and validate(inst) == []


def test_a_base_the_solver_contradicts_itself_on_is_drawn_again(monkeypatch):
    """``make_instance('transportation', 'G', 'hard', 103)`` used to crash: a cascade candidate judged
    infeasible (zero objective) solved UNBOUNDED (its own objective) and compute_iis raised SolverError."""
    from ordebug_lib.ordebug import saboteur
    from ordebug_lib.ordebug.solver import SolverError

    real, calls = saboteur.sabotage, []

    def flaky(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise SolverError("IIS asked for a model that is UNBOUNDED, not INFEASIBLE")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(saboteur, "sabotage", flaky)
    inst = make_instance("production_planning", "H", "easy", 0, max_attempts=3)
    assert len(calls) == 1 + inst.meta["attempt"] and inst.meta["attempt"] >= 1 and validate(inst) == []
    monkeypatch.setattr(saboteur, "sabotage", lambda *a, **k: (_ for _ in ()).throw(SolverError("numerics")))
    with pytest.raises(GenerationError, match="solver: numerics"):
        make_instance("diet", "A", "easy", 0, max_attempts=2)
