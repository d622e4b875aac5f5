"""Search-stream traces for Countdown warm starts, in the spirit of Stream of Search (arXiv 2404.03683).

Stream of Search trains on the *whole search*, not only the solution: the text shows each operation
tried, the state it leads to, dead ends and backtracking, and many streams (about half, brief §6) never
reach the goal. We write our own compact format (one line per node generated), from two heuristic solvers:

- :func:`dfs_stream`: depth-first search, children ordered by a heuristic, backtracking on dead ends;
- :func:`bfs_stream`: level-by-level beam search that keeps the ``beam_width`` best children per level.

Both stop after ``max_nodes`` generated nodes (the budget that controls trace length, hence tokens) and
always end with an ``<answer>…</answer>``: the solution when the goal was reached, otherwise the
closest full expression found (or a greedy completion of the best partial state), so a failed stream
scores 0.1 under the seed reward and 0.3–0.7 under the graduated one (its answer uses every number).

Search moves use integer arithmetic only (as in Countdown and Stream of Search): a + b, a · b, a − b with
a > b, and a / b when b divides a; the reward accepts any exact expression, so an instance solvable only
through fractions is solvable but not found by these streams.

Example stream (``dfs_stream([2, 3, 4], 14)``)::

    Goal 14 from [2, 3, 4]
    [2, 3, 4] 4*3=12 -> [2, 12]
    [2, 12] 12+2=14 -> [14] goal
    Reached 14
    <answer>(4 * 3) + 2</answer>

Measured with the defaults of :func:`make_streams` (budget 3–40 nodes) on 1000 generated instances
(50/50 3 and 4 numbers, numbers 1–99, targets 10–100): 51.4% reach the goal (DFS 60%, BFS 43%;
3 numbers 73%, 4 numbers 30%); length median 522 characters (quartiles 318 / 866, max 1945), 17 lines.
With a 1024-token byte-level BPE trained on those streams, 300 held-out streams have median 285 tokens
(max 934): 43% fit in 256 tokens, 76% in 512, all in 1024. Raise ``max_nodes`` for longer streams.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from .countdown import CountdownInstance, evaluate_expression, uses_each_number_once

Item = tuple[int, str]  # (value, expression that produced it)
State = tuple[Item, ...]


@dataclass(frozen=True)
class SearchTrace:
    """One stream: ``text`` ends with ``<answer>{answer}</answer>``; ``reached_goal`` is True iff the answer
    evaluates to the target (found by the search, or by the greedy finish after the budget ran out)."""

    numbers: tuple[int, ...]
    target: int
    strategy: str
    heuristic: str
    text: str
    answer: str
    reached_goal: bool
    nodes: int


def _closest(values: Sequence[int], target: int) -> int:
    return min(abs(target - v) for v in values)


def _sum_gap(values: Sequence[int], target: int) -> int:
    return abs(target - sum(values))


HEURISTICS: dict[str, Callable[[Sequence[int], int], int]] = {
    "closest": _closest,  # distance from the target to the nearest number left
    "sum": _sum_gap,  # distance from the target to the sum of the numbers left
}


def _wrap(expr: str) -> str:
    return expr if expr.isdigit() else f"({expr})"


def children(state: State) -> list[tuple[str, State]]:
    """All integer moves from ``state``: (move text like ``"3*4=12"``, next state), in a fixed order.

    For each pair (i < j) with a = max, b = min of the two values: a+b, a*b, a-b if a > b, a/b if b | a
    and b > 0. The new number is appended after the untouched ones.
    Example: children(((2,"2"), (3,"3")))→ moves 3+2=5, 3*2=6, 3-2=1.
    """
    out = []
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            (va, ea), (vb, eb) = state[i], state[j]
            if vb > va:
                (va, ea), (vb, eb) = (vb, eb), (va, ea)
            rest = tuple(item for k, item in enumerate(state) if k not in (i, j))
            moves = [(va + vb, "+"), (va * vb, "*")]
            if va > vb:
                moves.append((va - vb, "-"))
            if vb > 0 and va % vb == 0:
                moves.append((va // vb, "/"))
            for value, op in moves:
                expr = f"{_wrap(ea)} {op} {_wrap(eb)}"
                out.append((f"{va}{op}{vb}={value}", rest + ((value, expr),)))
    return out


def _show(state: State) -> str:
    return "[" + ", ".join(str(v) for v, _ in state) + "]"


def _values(state: State) -> list[int]:
    return [v for v, _ in state]


class _Writer:
    """Accumulates trace lines and counts generated nodes against the budget."""

    def __init__(self, numbers: Sequence[int], target: int, max_nodes: int):
        if type(max_nodes) is not int or max_nodes < 1:
            raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")
        self.lines = [f"Goal {target} from {list(numbers)}"]
        self.nodes = 0
        self.max_nodes = max_nodes
        self.best_leaf: tuple[int, str] | None = None  # (|gap|, expression) of the closest full reduction
        self.target = target

    @property
    def spent(self) -> bool:
        return self.nodes >= self.max_nodes

    def visit(self, parent: State, move: str, child: State, note: str = "") -> None:
        self.nodes += 1
        self.lines.append(f"{_show(parent)} {move} -> {_show(child)}{' ' + note if note else ''}")
        if len(child) == 1:
            gap = abs(self.target - child[0][0])
            if self.best_leaf is None or gap < self.best_leaf[0]:
                self.best_leaf = (gap, child[0][1])


def _greedy_finish(state: State, target: int, score, writer: _Writer) -> str:
    """Reduce ``state`` to one number by always taking the heuristically best move (written as lines)."""
    while len(state) > 1:
        move, state = min(children(state), key=lambda mc: score(_values(mc[1]), target))
        writer.lines.append(f"finish {move} -> {_show(state)}")
    return state[0][1]


def _finish(writer: _Writer, reached: str | None, fallback: State, target: int, score) -> tuple[str, str, bool]:
    if reached is not None:
        writer.lines.append(f"Reached {target}")
        answer = reached
    else:
        writer.lines.append(f"Budget of {writer.max_nodes} nodes spent without reaching {target}")
        if writer.best_leaf is not None:
            answer = writer.best_leaf[1]
            writer.lines.append(f"Closest found: {evaluate_expression(answer)}")
        else:
            answer = _greedy_finish(fallback, target, score, writer)
            if evaluate_expression(answer) == target:  # the greedy finish can land on the target by itself
                writer.lines.append(f"Reached {target}")
                reached = answer
    writer.lines.append(f"<answer>{answer}</answer>")
    return "\n".join(writer.lines), answer, reached is not None


def _root(numbers: Sequence[int]) -> State:
    if len(numbers) < 2 or any(type(n) is not int or n < 0 for n in numbers):
        raise ValueError(f"need at least two non-negative int numbers, got {numbers!r}")
    return tuple((n, str(n)) for n in numbers)


def dfs_stream(numbers: Sequence[int], target: int, max_nodes: int = 60, heuristic: str = "closest") -> SearchTrace:
    """Depth-first search stream with heuristic child ordering and explicit backtracking.

    Each generated node is one line ``[state] move -> [child]``; a full reduction is marked ``goal`` or
    ``no``; a node whose children are exhausted is written ``[state] dead end, back to [parent]``.
    """
    if heuristic not in HEURISTICS:
        raise ValueError(f"unknown heuristic {heuristic!r}; expected one of {sorted(HEURISTICS)}")
    score = HEURISTICS[heuristic]
    root = _root(numbers)
    w = _Writer(numbers, target, max_nodes)

    def search(state: State, parent: State | None) -> str | None:
        ranked = sorted(children(state), key=lambda mc: score(_values(mc[1]), target))
        for move, child in ranked:
            if w.spent:
                return None
            if len(child) == 1:
                hit = child[0][0] == target
                w.visit(state, move, child, "goal" if hit else "no")
                if hit:
                    return child[0][1]
            else:
                w.visit(state, move, child)
                found = search(child, state)
                if found is not None:
                    return found
        if not w.spent and parent is not None:
            w.lines.append(f"{_show(state)} dead end, back to {_show(parent)}")
        return None

    reached = search(root, None)
    text, answer, ok = _finish(w, reached, root, target, score)
    return SearchTrace(tuple(numbers), target, "dfs", heuristic, text, answer, ok, w.nodes)


def bfs_stream(
    numbers: Sequence[int], target: int, max_nodes: int = 60, beam_width: int = 3, heuristic: str = "closest"
) -> SearchTrace:
    """Breadth-first beam search stream: expand every state of the level, keep the ``beam_width`` best.

    Lines: ``level k``, one line per generated child, then ``keep [..] [..]`` naming the beam.
    """
    if heuristic not in HEURISTICS:
        raise ValueError(f"unknown heuristic {heuristic!r}; expected one of {sorted(HEURISTICS)}")
    if type(beam_width) is not int or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    score = HEURISTICS[heuristic]
    root = _root(numbers)
    w = _Writer(numbers, target, max_nodes)
    frontier: list[State] = [root]
    reached: str | None = None
    level = 0
    while frontier and reached is None and not w.spent:
        level += 1
        w.lines.append(f"level {level}")
        next_level: list[State] = []
        for state in frontier:
            for move, child in children(state):
                if w.spent:
                    break
                if len(child) == 1:
                    hit = child[0][0] == target
                    w.visit(state, move, child, "goal" if hit else "no")
                    if hit:
                        reached = child[0][1]
                        break
                else:
                    w.visit(state, move, child)
                    next_level.append(child)
            if reached is not None or w.spent:
                break
        frontier = sorted(next_level, key=lambda s: score(_values(s), target))[:beam_width]
        if frontier and reached is None and not w.spent:
            w.lines.append("keep " + " ".join(_show(s) for s in frontier))
    fallback = frontier[0] if frontier else root
    text, answer, ok = _finish(w, reached, fallback, target, score)
    return SearchTrace(tuple(numbers), target, "bfs", heuristic, text, answer, ok, w.nodes)


def make_streams(
    instances: Iterable[CountdownInstance],
    seed: int = 0,
    max_nodes: int | tuple[int, int] = (3, 40),
    strategies: Sequence[str] = ("dfs", "bfs"),
    beam_widths: Sequence[int] = (1, 2, 3, 5),
    heuristics: Sequence[str] = ("closest", "sum"),
) -> list[SearchTrace]:
    """One stream per instance; strategy, heuristic, beam width and (if a range) budget drawn per instance
    from a seeded RNG, as Stream of Search mixes solvers. Every answer is checked to use each number once.

    The default budget range (3, 40) nodes was calibrated on a 50/50 mix of 3- and 4-number instances
    (numbers 1–99, targets 10–100): about half of the streams reach the goal (DFS more often than BFS,
    3 numbers far more often than 4). Larger budgets give longer streams and more successes.
    """
    rng = random.Random(seed)
    out = []
    for inst in instances:
        strategy = rng.choice(list(strategies))
        heuristic = rng.choice(list(heuristics))
        budget = max_nodes if isinstance(max_nodes, int) else rng.randint(*max_nodes)
        if strategy == "dfs":
            trace = dfs_stream(inst.numbers, inst.target, budget, heuristic)
        elif strategy == "bfs":
            trace = bfs_stream(inst.numbers, inst.target, budget, rng.choice(list(beam_widths)), heuristic)
        else:
            raise ValueError(f"unknown strategy {strategy!r}; expected 'dfs' or 'bfs'")
        if not uses_each_number_once(trace.answer, inst.numbers):
            raise AssertionError(f"stream answer {trace.answer!r} does not use {inst.numbers} exactly once")
        out.append(trace)
    return out


def stream_statistics(traces: Sequence[SearchTrace], length: Callable[[str], int] = len) -> dict:
    """Fraction of streams reaching the goal and the distribution of ``length(text)`` (characters by
    default; pass a tokenizer-based length for tokens): mean, min, quartiles, max, per strategy too.
    """
    if not traces:
        raise ValueError("no traces to summarise")

    def summary(ts: Sequence[SearchTrace]) -> dict:
        lengths = sorted(length(t.text) for t in ts)
        q = statistics.quantiles(lengths, n=4) if len(lengths) > 1 else [lengths[0]] * 3
        return {
            "n": len(ts),
            "fraction_reaching_goal": sum(t.reached_goal for t in ts) / len(ts),
            "length_mean": statistics.fmean(lengths),
            "length_min": lengths[0],
            "length_q1": q[0],
            "length_median": q[1],
            "length_q3": q[2],
            "length_max": lengths[-1],
        }

    out = summary(traces)
    for strategy in sorted({t.strategy for t in traces}):
        out[strategy] = summary([t for t in traces if t.strategy == strategy])
    return out
