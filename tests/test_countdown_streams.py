"""Search-stream traces (Stream of Search style): format, budgets, answers, statistics."""
import pytest

from ordebug_lib.tasks.countdown import countdown_reward, evaluate_expression, generate_instances, graduated_reward
from ordebug_lib.tasks.countdown_streams import (
    bfs_stream,
    children,
    dfs_stream,
    make_streams,
    stream_statistics,
)


def test_children_moves():
    # [2, 3]: 3+2=5, 3*2=6, 3-2=1 (3/2 is not an integer move)
    moves = [m for m, _ in children(((2, "2"), (3, "3")))]
    assert moves == ["3+2=5", "3*2=6", "3-2=1"]
    # [4, 2]: 4+2, 4*2, 4-2, 4/2
    assert [m for m, _ in children(((4, "4"), (2, "2")))] == ["4+2=6", "4*2=8", "4-2=2", "4/2=2"]
    # equal numbers: no subtraction to 0, division to 1 allowed
    assert [m for m, _ in children(((5, "5"), (5, "5")))] == ["5+5=10", "5*5=25", "5/5=1"]


def test_dfs_stream_exact_text():
    tr = dfs_stream([2, 3, 4], 14)
    # closest-to-14 heuristic ranks 4*3=12 first (|14−12| = 2), then 12+2 = 14 is the first leaf tried
    assert tr.text == (
        "Goal 14 from [2, 3, 4]\n"
        "[2, 3, 4] 4*3=12 -> [2, 12]\n"
        "[2, 12] 12+2=14 -> [14] goal\n"
        "Reached 14\n"
        "<answer>(4 * 3) + 2</answer>"
    )
    assert tr.reached_goal and tr.nodes == 2
    assert countdown_reward(tr.text, [2, 3, 4], 14) == 1.0


def test_dfs_backtracks_and_marks_dead_ends():
    tr = dfs_stream([3, 7, 25, 50], 75, max_nodes=500)
    assert tr.reached_goal
    assert " no\n" in tr.text  # leaves that missed
    assert "dead end, back to" in tr.text  # explicit backtracking
    assert evaluate_expression(tr.answer) == 75


def test_budget_exhausted_still_answers():
    # 1 node is not enough to reduce 4 numbers; the stream says so and answers with a greedy completion
    tr = dfs_stream([3, 7, 25, 50], 74, max_nodes=1)
    assert not tr.reached_goal and tr.nodes == 1
    assert "Budget of 1 nodes spent without reaching 74" in tr.text
    assert "finish " in tr.text
    assert tr.text.endswith(f"<answer>{tr.answer}</answer>")
    assert graduated_reward(tr.text, [3, 7, 25, 50], 74) in (0.3, 0.5, 0.7)  # valid numbers, wrong value
    assert countdown_reward(tr.text, [3, 7, 25, 50], 74) == 0.1


def test_bfs_stream_levels_and_beam():
    tr = bfs_stream([2, 3, 4], 14, max_nodes=100, beam_width=2)
    assert tr.reached_goal
    lines = tr.text.splitlines()
    assert lines[1] == "level 1"
    # level 1 of [2, 3, 4]: (2,3) → 3+2, 3*2, 3-2; (2,4) → 4+2, 4*2, 4-2, 4/2; (3,4) → 4+3, 4*3, 4-3
    # = 3 + 4 + 3 = 10 children on lines 2..11, then the beam of 2 on line 12
    assert all(" -> [" in line for line in lines[2:12])
    assert lines[12].startswith("keep ") and lines[12].count("[") == 2
    assert lines[13] == "level 2"
    assert evaluate_expression(tr.answer) == 14


def test_trace_length_grows_with_budget():
    lengths = [len(dfs_stream([3, 7, 25, 50], 1, max_nodes=n).text) for n in (5, 20, 80)]
    assert lengths[0] < lengths[1] < lengths[2]


def test_make_streams_about_half_reach_goal():
    insts = generate_instances(100, seed=0, num_numbers=(3, 4))
    traces = make_streams(insts, seed=1)  # default budget range (3, 40)
    stats = stream_statistics(traces)
    assert stats["n"] == 100
    # measured 0.51 on 1000 instances; a loose band so the claim "about half" is checked
    assert 0.35 <= stats["fraction_reaching_goal"] <= 0.65
    assert stats["length_min"] <= stats["length_median"] <= stats["length_max"]
    assert {"dfs", "bfs"} <= set(stats)
    for tr, inst in zip(traces, insts):
        assert tr.text.endswith(f"<answer>{tr.answer}</answer>")
        expected = 1.0 if tr.reached_goal else 0.1
        assert countdown_reward(tr.text, list(inst.numbers), inst.target) == expected
    # reproducible
    assert make_streams(insts[:10], seed=1) == traces[:10]


def test_stream_errors():
    with pytest.raises(ValueError):
        dfs_stream([3, 4], 7, max_nodes=0)
    with pytest.raises(ValueError):
        dfs_stream([3, 4], 7, heuristic="astar")
    with pytest.raises(ValueError):
        bfs_stream([3, 4], 7, beam_width=0)
    with pytest.raises(ValueError):
        stream_statistics([])


def test_greedy_finish_can_reach_goal_and_says_so():
    # BFS beam search whose budget runs out on level 1; the greedy finish then lands on 94 = 57 + 44 + 86 − 93
    tr = bfs_stream([44, 57, 86, 93], 94, max_nodes=24, beam_width=2, heuristic="closest")
    assert "Budget of 24 nodes spent" in tr.text
    assert tr.reached_goal
    assert tr.text.endswith("finish 187-93=94 -> [94]\nReached 94\n<answer>((57 + 44) + 86) - 93</answer>")
