"""Copy rates of moves after CHECK_SLACK: the slack expert copies every name and number; changing a name or
a number in its trajectory is counted as not copied; the table reads a results database."""
import copy
import math

from ordebug_lib.experiments.copying import copy_counts, copy_rates, copy_table
from ordebug_lib.ordebug.baselines import RandomPolicy, SlackRelaxPolicy
from ordebug_lib.ordebug.env import RepairEnv, run_episode
from ordebug_lib.ordebug.results import evaluate, load_results
from ordebug_lib.ordebug.saboteur import make_instance

CELLS = [("diet", "A", 0), ("staffing", "H", 1), ("transportation", "D", 0), ("assignment", "B", 2)]


def _slack_trajectories():
    insts = [make_instance(f, t, "easy", seed=s) for f, t, s in CELLS]
    return insts, [run_episode(RepairEnv(i), SlackRelaxPolicy()).to_dict()["trajectory"] for i in insts]


def test_the_slack_expert_copies_every_name_and_number_and_edits_are_caught():
    _, trajs = _slack_trajectories()
    r = copy_rates(trajs)
    assert r["moves"] >= len(CELLS) and r["name_rate"] == 1.0 and r["amount_rate"] == 1.0 and r["refused"] == 0
    t = copy.deepcopy(trajs[0])
    move = next(s for s in t if s["verb"] in ("RELAX", "SET_RHS"))
    verb, target, number = move["action"].split()
    move["action"] = f"{verb} {target} {float(number) + 1}"
    assert copy_counts(t)["amount_copied"] == copy_counts(trajs[0])["amount_copied"] - 1
    move["action"] = f"{verb} {target}_x {number}"
    assert copy_counts(t)["name_copied"] == copy_counts(trajs[0])["name_copied"] - 1
    assert math.isnan(copy_rates([])["name_rate"])


def test_copy_table_has_one_row_per_policy_of_a_results_database(tmp_path):
    insts, _ = _slack_trajectories()
    db = tmp_path / "r.sqlite"
    evaluate(SlackRelaxPolicy(), insts, db, policy_name="slack")
    evaluate(RandomPolicy(seed=0), insts, db, policy_name="random")
    t = copy_table(load_results(db)).set_index("policy")
    assert list(t.index) == ["random", "slack"] and (t["episodes"] == len(insts)).all()
    assert t.loc["slack", "name_rate"] == 1.0 and t.loc["slack", "amount_rate"] == 1.0
