"""Problem families: feasible seeded models in their size tiers, with family-pattern names."""
import re

import pytest

from ordebug_lib.ordebug import families
from ordebug_lib.ordebug.families import FAMILIES, SIZE_TIERS, generate, injectable_rows, linking_rows, row_kind
from ordebug_lib.ordebug.model import LICENSE_LIMIT, ModelError
from ordebug_lib.ordebug.solver import solve

SEEDS = range(4)
EXPECTED_FAMILIES = {"production_planning", "transportation", "diet", "assignment", "facility_location",
                     "knapsack", "inventory", "staffing"}
MILP_FAMILIES = {"assignment", "facility_location", "knapsack", "staffing"}


def test_registry_has_the_eight_families_and_callables_match_generate():
    assert set(FAMILIES) == EXPECTED_FAMILIES
    for key, gen in FAMILIES.items():
        assert gen(1, 3).fingerprint() == generate(key, 1, 3).fingerprint()


@pytest.mark.parametrize("family", sorted(EXPECTED_FAMILIES))
def test_models_are_optimal_in_their_size_tier_and_named_by_family_kinds(family):
    for size, (lo, hi) in SIZE_TIERS.items():
        for seed in SEEDS:
            m = generate(family, size, seed)
            r = solve(m, keep_values=False)
            assert r.status == "OPTIMAL" and r.objective is not None, (family, size, seed, r.status)
            assert lo <= len(m.vars) <= hi, (family, size, seed, len(m.vars))
            assert m.name == family and m.is_mip == (family in MILP_FAMILIES)
            unnamed = [c for c in m.constrs if row_kind(family, c) is None]
            assert not unnamed, f"rows outside {family}'s kinds: {unnamed}"
            assert linking_rows(family, m), "every family defines an auxiliary total or links periods"
            assert all(m.constrs[c].sense == "==" for c in linking_rows(family, m))


@pytest.mark.parametrize("family", sorted(EXPECTED_FAMILIES))
def test_injectable_rows_are_new_rows_of_kinds_the_model_already_has(family):
    for seed in SEEDS:
        m = generate(family, 2, seed)
        templates = injectable_rows(family, m)
        assert templates, (family, seed)
        kinds = {row_kind(family, c) for c in m.constrs}
        for t in templates:
            assert t.name not in m.constrs
            assert row_kind(family, t.name) == t.kind and t.kind in kinds
            assert set(t.coeffs) <= set(m.vars)


def test_generation_is_deterministic_and_seeds_differ():
    for family in FAMILIES:
        a, b, c = generate(family, 2, 11), generate(family, 2, 11), generate(family, 2, 12)
        assert a.fingerprint() == b.fingerprint()
        assert a.fingerprint(names=False) != c.fingerprint(names=False)


def test_names_are_semantic():
    m = generate("transportation", 1, 0)
    assert any(re.fullmatch(r"ship_plant\d+_city[A-Z]+", v) for v in m.vars)
    assert any(re.fullmatch(r"demand_city[A-Z]+", c) for c in m.constrs)
    p = generate("production_planning", 1, 0)
    assert "make_widget" in p.vars and any(c.startswith("min_output_") for c in p.constrs)
    assert any(c.startswith("cap_") for c in p.constrs)


@pytest.mark.parametrize("family", sorted(EXPECTED_FAMILIES))
def test_oversized_request_is_refused_with_the_license_message(family):
    with pytest.raises(ModelError, match=f"at most {LICENSE_LIMIT}"):
        generate(family, 1000, 0)


def test_sizes_beyond_the_tiers_still_build_within_the_license():
    m = generate("diet", 5, 0)
    assert len(m.vars) > SIZE_TIERS[3][1]
    m.check_license()
    assert solve(m, keep_values=False).status == "OPTIMAL"


def test_bad_requests_fail_clearly():
    with pytest.raises(ModelError, match="unknown problem family"):
        generate("scheduling", 1, 0)
    with pytest.raises(ModelError, match="size must be a positive integer"):
        generate("diet", 0, 0)
    with pytest.raises(ModelError, match="seed must be a non-negative integer"):
        generate("diet", 1, -1)
    assert families.family_module("diet").KEY == "diet"
