"""E1 v2 across budgets, joined from its published parts (notebook 10's runs, one per session of device time).

E1 v2 did not fit one session: profile ``gpu_1024`` ran the 1024-token budget and ``gpu_short`` the 256- and
512-token budgets, each part training its own warm start with the same recipe on the same problems. What a
join may and may not compare:

===========================  =========================================================  ==========================
quantity                     definition                                                 valid because
===========================  =========================================================  ==========================
Δ_RL(L) = loss − warm start  paired per test problem at budget L (seeds averaged per     one part, one warm start
                             problem, ``countdown_e1.paired_tests``)
Δ_loss(L) = DR-GRPO − GRPO   the same, both losses from the part's one warm start        one part, one warm start
I(L₁, L₂) = Δ_loss(L₂) −     per problem p: [a(p) − b(p)] at L₂ minus [a(p) − b(p)] at   the same test problems in
Δ_loss(L₁)                   L₁, then ``stats.paired_test`` over the problems; seed SE   every part (checked)
                             √(s₁² + s₂²) from each budget's ``stats.seed_se``
===========================  =========================================================  ==========================

Accuracies themselves are not compared across parts: the warm starts differ (another SFT run of one recipe),
so a budget's level mixes the budget and the warm start. Δ_loss and its change with the budget (seeds/004's
claim: DR-GRPO degrades at long budgets) are differences within a part, comparable across parts.

``join_parts`` refuses parts whose settings differ beyond the budgets and scheduling keys (``FREE_KEYS``),
whose budgets overlap, whose test problems differ, or whose code was dirty. ``python -m
ordebug_lib.experiments.e1_parts ARCHIVE ...`` writes the joined report ``reports/countdown_grpo_vs_drgrpo_budgets.md``
with its CSVs, figure and provenance (the parts' archives and the commit that joined them).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Sequence

from .countdown_e1 import COMPARISONS, LOSS_LABEL, _per_problem, e1_table, paired_tests
from .stats import paired_test, seed_se, verdict

SLUG = "countdown_grpo_vs_drgrpo_budgets"
"""The joined report's file stem in ``reports/`` (its CSVs: ``_results``, ``_tests``, ``_interaction``)."""
FREE_KEYS = frozenset({"budgets", "parallel", "learning_rates", "sweep_budget", "run_dir"})
"""Parameters parts may differ in: which budgets a part runs, how many arms at a time, where it wrote, and the
sweep that chose the rate (run once, in the stopped run e1v2; both parts then fix the chosen rate in ``grpo``)."""
EPISODES = "reports/countdown_grpo_vs_drgrpo_episodes.csv"
ARMS = "reports/countdown_grpo_vs_drgrpo_arms.csv"


def load_part(archive: str | Path) -> dict:
    """One published part (``reports/published/10_countdown_grpo_vs_drgrpo.<profile>.<run id>``): its name,
    provenance, parameters, per-episode rows and per-arm summaries."""
    import pandas as pd

    archive = Path(archive)
    missing = [p for p in ("provenance.json", EPISODES, ARMS) if not (archive / p).exists()]
    if missing:
        raise FileNotFoundError(f"{archive} is not a published E1 run: no {', '.join(missing)}")
    prov = json.loads((archive / "provenance.json").read_text())
    if prov.get("notebook") != "10_countdown_grpo_vs_drgrpo":
        raise ValueError(f"{archive}: notebook {prov.get('notebook')!r}, not 10_countdown_grpo_vs_drgrpo")
    if prov.get("status") != "ok":
        raise ValueError(f"{archive}: run status {prov.get('status')!r}, not ok")
    return {"name": archive.name, "provenance": prov, "parameters": prov["parameters"],
            "episodes": pd.read_csv(archive / EPISODES), "arms": pd.read_csv(archive / ARMS)}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def same_problems(parts: Sequence[dict]) -> None:
    """Refuse parts whose test or val problems (id, numbers, target) are not the first part's."""
    key, first = ["problem", "numbers", "target"], parts[0]
    for split in ("test", "val"):
        ref_p = first["episodes"].loc[first["episodes"]["split"] == split, key].drop_duplicates().set_index("problem")
        for p in parts[1:]:
            other = p["episodes"].loc[p["episodes"]["split"] == split, key].drop_duplicates().set_index("problem")
            if set(ref_p.index) != set(other.index):
                raise ValueError(f"{p['name']}'s {split} problems are not {first['name']}'s "
                                 f"({len(set(ref_p.index) ^ set(other.index))} problem ids differ)")
            bad = (ref_p.loc[other.index] != other).any(axis=1).sum()
            if bad:
                raise ValueError(f"{p['name']}'s {split} problems are not {first['name']}'s ({bad} of {len(other)} "
                                 "differ in numbers or target)")


def join_parts(parts: Sequence[dict]):
    """(episodes, arms) of several parts with a ``part`` column, after checking that they are one experiment:
    the same parameters outside ``FREE_KEYS``, disjoint budgets, the same test and val problems, clean commits.

    >>> import pandas as pd
    >>> ep = lambda L, n: pd.DataFrame({"budget": [L], "split": ["test"], "problem": [0], "numbers": [n], "target": [5]})
    >>> part = lambda name, L, n=" 1 4", seed=0: {"name": name, "parameters": {"budgets": [L], "seeds": [seed]},
    ...     "provenance": {"git": {"commit": "abc", "dirty": False}}, "episodes": ep(L, n), "arms": pd.DataFrame({"a": [1]})}
    >>> len(join_parts([part("p1", 1024), part("p2", 256)])[0])
    2
    >>> join_parts([part("p1", 1024), part("p2", 256, seed=1)])
    Traceback (most recent call last):
    ValueError: p2 differs from p1 in seeds ([1] vs [0]): not one experiment
    >>> join_parts([part("p1", 1024), part("p2", 1024)])
    Traceback (most recent call last):
    ValueError: budgets [1024] are in more than one part
    >>> join_parts([part("p1", 1024), part("p2", 256, n="2 3")])
    Traceback (most recent call last):
    ValueError: p2's test problems are not p1's (1 of 1 differ in numbers or target)
    """
    import pandas as pd

    if len(parts) < 2:
        raise ValueError(f"join_parts needs at least 2 parts, got {len(parts)}")
    first, ref = parts[0], {k: v for k, v in _flat(parts[0]["parameters"]).items() if k.split(".")[0] not in FREE_KEYS}
    for p in parts:
        git = p["provenance"].get("git", {})
        if git.get("dirty") is not False:
            raise ValueError(f"{p['name']}: ran from a dirty or unknown tree ({git}): its code is not a commit")
        flat = {k: v for k, v in _flat(p["parameters"]).items() if k.split(".")[0] not in FREE_KEYS}
        for k in sorted(set(flat) | set(ref)):
            if flat.get(k) != ref.get(k):
                raise ValueError(f"{p['name']} differs from {first['name']} in {k} ({flat.get(k)} vs {ref.get(k)}): "
                                 "not one experiment")
    budgets = [set(int(b) for b in p["episodes"]["budget"].unique()) for p in parts]
    shared = set.union(*[a & b for a, b in itertools.combinations(budgets, 2)])
    if shared:
        raise ValueError(f"budgets {sorted(shared)} are in more than one part")
    same_problems(parts)
    episodes = pd.concat([p["episodes"].assign(part=p["name"]) for p in parts], ignore_index=True)
    arms = pd.concat([p["arms"].assign(part=p["name"]) for p in parts], ignore_index=True)
    return episodes, arms


def budget_interaction(episodes, a: str = "dr_grpo", b: str = "grpo", split: str = "test"):
    """Per pair of budgets L₁ < L₂: does a − b change with the budget? I = Δ(L₂) − Δ(L₁), paired per problem
    (the module's table), its 95% CI, MDE, seed SE and ``stats.verdict``.

    >>> import pandas as pd
    >>> rows = [{"kind": k, "budget": L, "seed": s, "arm": f"{k}@{L}-s{s}", "split": "test", "problem": p,
    ...          "outcome": "correct" if (k == "dr_grpo" and L == 512 and p < 3) or p == 9 else "failed"}
    ...         for k in ("grpo", "dr_grpo") for L in (256, 512) for s in (0, 1) for p in range(10)]
    >>> t = budget_interaction(pd.DataFrame(rows)).iloc[0]
    >>> t["comparison"], t["budgets"], [round(float(t[k]), 2) for k in ("diff at L1", "diff at L2", "interaction")]
    ('DR-GRPO − GRPO', '256 → 512', [0.0, 0.3, 0.3])
    """
    import pandas as pd

    budgets = sorted(int(L) for L in episodes["budget"].unique())
    rows = []
    for L1, L2 in itertools.combinations(budgets, 2):
        (a1, sa1), (b1, sb1) = _per_problem(episodes, a, L1, split), _per_problem(episodes, b, L1, split)
        (a2, sa2), (b2, sb2) = _per_problem(episodes, a, L2, split), _per_problem(episodes, b, L2, split)
        d1, d2 = a1 - b1.loc[a1.index], (a2 - b2.loc[a2.index]).loc[a1.index]
        t = paired_test(d2.to_numpy(), d1.to_numpy())
        s1, s2 = seed_se(sa1, sb1), seed_se(sa2, sb2)
        spread = float((s1 ** 2 + s2 ** 2) ** 0.5)
        rows.append({"comparison": f"{LOSS_LABEL[a]} − {LOSS_LABEL[b]}", "budgets": f"{L1} → {L2}", "L1": L1,
                     "L2": L2, "problems": t["n"], "diff at L1": t["b"], "diff at L2": t["a"],
                     "interaction": t["diff"], "se": t["se"], "ci low": t["diff"] - 1.96 * t["se"],
                     "ci high": t["diff"] + 1.96 * t["se"], "p": t["p"], "mde": t["mde"], "seed se": spread,
                     "verdict": verdict(t["diff"], t["se"], spread)})
    return pd.DataFrame(rows)


def across_warm_starts(strong, weak, budget: int, split: str = "test"):
    """Two runs of one budget that differ in their warm start only (e.g. ``gpu_strong_ws`` against
    ``gpu_short``), paired per problem on the same problems: per arm group (warm start, each loss), accuracy
    with the stronger warm start minus with the weaker, and per loss the change of the RL gain,
    [loss − warm start]_strong − [loss − warm start]_weak; each with its seed SE and ``stats.verdict``.

    >>> import pandas as pd
    >>> def run(ws_right, rl_right):
    ...     return pd.DataFrame([{"kind": k, "budget": 256, "seed": s, "arm": f"{k}-s{s}", "split": "test", "problem": p,
    ...         "outcome": "correct" if p < (ws_right if k == "warm_start" else rl_right) else "failed"}
    ...         for k in ("warm_start", "grpo", "dr_grpo") for s in (0, 1) for p in range(10)])
    >>> t = across_warm_starts(run(4, 7), run(2, 4), 256)
    >>> [(r["quantity"], round(float(r["diff"]), 2)) for _, r in t.iterrows()]
    [('warm start', 0.2), ('GRPO', 0.3), ('DR-GRPO', 0.3), ('GRPO − warm start', 0.1), ('DR-GRPO − warm start', 0.1)]
    """
    import pandas as pd

    rows = []

    def add(name, a, b, sa, sb):
        t = paired_test(a.to_numpy(), b.loc[a.index].to_numpy())
        spread = seed_se(sa, sb)
        rows.append({"budget": int(budget), "quantity": name, "strong": t["a"], "weak": t["b"], "diff": t["diff"],
                     "se": t["se"], "ci low": t["diff"] - 1.96 * t["se"], "ci high": t["diff"] + 1.96 * t["se"],
                     "p": t["p"], "mde": t["mde"], "seed se": spread, "verdict": verdict(t["diff"], t["se"], spread)})

    per = {(side, k): _per_problem(run, k, budget, split) for side, run in (("strong", strong), ("weak", weak))
           for k in ("warm_start", "grpo", "dr_grpo")}
    for k in ("warm_start", "grpo", "dr_grpo"):
        (a, sa), (b, sb) = per[("strong", k)], per[("weak", k)]
        add(LOSS_LABEL[k] if k != "warm_start" else "warm start", a, b, sa, sb)
    for k in ("grpo", "dr_grpo"):
        (a, sa), (wa, _) = per[("strong", k)], per[("strong", "warm_start")]
        (b, sb), (wb, _) = per[("weak", k)], per[("weak", "warm_start")]
        add(f"{LOSS_LABEL[k]} − warm start", a - wa.loc[a.index], (b - wb.loc[b.index]), sa, sb)
    return pd.DataFrame(rows)


def results_table(arms):
    """``countdown_e1.e1_table`` of the joined arms, with the part each budget ran in."""
    table = e1_table(arms)
    part = arms.drop_duplicates("max_completion_length").set_index("max_completion_length")["part"]
    return table.assign(part=table["max tokens"].map(part))


def budget_findings(table, tests, interaction) -> list[str]:
    """Sentences computed from the joined tables: per budget each loss against its warm start and DR-GRPO −
    GRPO, then how Δ_loss changes with the budget (seeds/004's DR-GRPO-at-long-budgets claim)."""
    def pct(x):
        return f"{x:+.1%}"

    out = []
    for L in sorted(tests["budget"].unique()):
        t = tests[tests["budget"] == L].set_index(["a", "b"])
        g, d, dg = t.loc[("grpo", "warm_start")], t.loc[("dr_grpo", "warm_start")], t.loc[("dr_grpo", "grpo")]
        part = table.loc[table["max tokens"] == L, "part"].iloc[0]
        out.append(f"{L} tokens ({part}; warm start {g['accuracy b']:.1%}): GRPO {pct(g['diff'])} "
                   f"({g['verdict']}), DR-GRPO {pct(d['diff'])} ({d['verdict']}) against the warm start; DR-GRPO − "
                   f"GRPO {pct(dg['diff'])} [95% CI {pct(dg['ci low'])}, {pct(dg['ci high'])}], {dg['verdict']} "
                   f"(MDE {dg['mde']:.1%}, seed SE {dg['seed se']:.1%}).")
    for _, r in interaction.iterrows():
        out.append(f"DR-GRPO − GRPO from {r['budgets']} tokens: {pct(r['diff at L1'])} → {pct(r['diff at L2'])}, "
                   f"a change of {pct(r['interaction'])} [95% CI {pct(r['ci low'])}, {pct(r['ci high'])}], "
                   f"{r['verdict']} (MDE {r['mde']:.1%}, seed SE {r['seed se']:.1%}).")
    longest = interaction.loc[interaction["L2"].idxmax()] if len(interaction) else None
    if longest is not None:
        worse = longest["ci high"] < 0 and longest["verdict"] == "beyond the CI"
        direction = "" if worse else (" (DR-GRPO's difference grows with the budget, the other way)"
                                      if longest["interaction"] > 0 else "")
        out.append("seeds/004's claim that DR-GRPO falls behind GRPO as the budget grows: "
                   + ("supported" if worse else "not detected") + f": from {int(longest['L1'])} to "
                   f"{int(longest['L2'])} tokens the change is {pct(longest['interaction'])}, {longest['verdict']}"
                   + direction + ".")
    out.append("Accuracy levels are not compared across parts: each part trained its own warm start.")
    return out


def budget_figure(tests, part_of: dict | None = None):
    """Two panels against the budget: each loss minus its warm start, and DR-GRPO − GRPO, with 95% paired CIs
    (error bars) and ±1.96 seed SE (shaded) where the seeds tell; a dotted line where the part (and so the
    warm start) changes, given ``part_of`` (budget -> part)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    panels = [(axes[0], [("grpo", "warm_start", "C0", -0.04), ("dr_grpo", "warm_start", "C3", 0.04)],
               "each loss − its warm start"), (axes[1], [("dr_grpo", "grpo", "C3", 0.0)], "DR-GRPO − GRPO")]
    for ax, pairs, title in panels:
        for a, b, colour, shift in pairs:
            t = tests[(tests["a"] == a) & (tests["b"] == b)].sort_values("budget")
            x = [L * 2 ** shift for L in t["budget"]]
            ax.errorbar(x, t["diff"], yerr=1.96 * t["se"], fmt="o-", color=colour, capsize=4,
                        label=f"{LOSS_LABEL[a]} − {LOSS_LABEL[b]}")
            if t["seed se"].notna().all():
                ax.fill_between(x, t["diff"] - 1.96 * t["seed se"], t["diff"] + 1.96 * t["seed se"], color=colour, alpha=0.12)
        ax.axhline(0, color="k", lw=0.8)
        budgets = sorted(int(L) for L in tests["budget"].unique())
        for lo, hi in zip(budgets, budgets[1:]):
            if part_of and part_of[lo] != part_of[hi]:
                ax.axvline((lo * hi) ** 0.5, color="grey", ls=":", lw=1.2)
                ax.text((lo * hi) ** 0.5, ax.get_ylim()[1], " another\n warm start", va="top", fontsize=7, color="grey")
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(L) for L in budgets])
        ax.set(xlabel="max completion tokens", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("test accuracy difference")
    fig.suptitle("E1 v2 per budget, paired on each part's warm start (bars: 95% paired CI; bands: ±1.96 seed SE)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def write_joined(archives: Sequence[str | Path], root: str | Path) -> list[Path]:
    """Join the parts, write ``reports/<SLUG>.md`` with ``_results`` / ``_tests`` / ``_interaction`` CSVs,
    ``figures/<SLUG>.png`` (+ pdf) and ``reports/provenance/<SLUG>.json`` under ``root``. A joined report of
    other parts is never overwritten (its provenance names its parts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..artifacts import save_figure
    from ..provenance import collect

    root = Path(root)
    parts = [load_part(a) for a in archives]
    names = [p["name"] for p in parts]
    prov_path = root / "reports" / "provenance" / f"{SLUG}.json"
    if prov_path.exists() and json.loads(prov_path.read_text()).get("parts") != names:
        raise FileExistsError(f"{prov_path} joins other parts ({json.loads(prov_path.read_text()).get('parts')}): "
                              "a joined report is not overwritten by another join")
    episodes, arms = join_parts(parts)
    table, tests, inter = results_table(arms), paired_tests(episodes, comparisons=COMPARISONS), budget_interaction(episodes)
    findings = budget_findings(table, tests, inter)
    cols = ["budget", "comparison", "a", "b", "accuracy a", "accuracy b", "diff", "se", "ci low", "ci high", "p",
            "mde", "seed se", "verdict"]
    tests = tests[cols]
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    table.to_csv(reports / f"{SLUG}_results.csv", index=False)
    tests.to_csv(reports / f"{SLUG}_tests.csv", index=False)
    inter.to_csv(reports / f"{SLUG}_interaction.csv", index=False)
    setups = [f"- **{p['name']}**: budgets {sorted(int(b) for b in p['episodes']['budget'].unique())}, commit "
              f"{p['provenance']['git']['commit']}, {p['provenance']['device'].get('gpu_name', 'cpu')}, "
              f"{p['provenance']['wall_time_s']:.0f} s, warm start held-out loss "
              f"{json.loads((Path(a) / 'metrics.json').read_text())['warm_start']['sft']['final_held_out_loss']:.3f}"
              for p, a in zip(parts, archives)]
    lines = ["# E1 v2 across budgets: GRPO vs DR-GRPO at 256, 512 and 1024 tokens, joined from its parts", "",
             f"Generated by `python -m ordebug_lib.experiments.e1_parts` from the published parts below (their "
             f"per-episode rows: `{EPISODES}` in each archive); provenance in `reports/provenance/{SLUG}.json`. Each "
             "budget is paired on its own part's warm start; see `ordebug_lib/experiments/e1_parts.py` for what "
             "may be compared across parts.", "", "## Parts", "", *setups, "",
             "## Results (test split)", "", table.to_markdown(index=False, floatfmt=".3g"), "",
             "## Paired per-problem tests, per budget (test split)", "", tests.to_markdown(index=False, floatfmt=".3g"), "",
             "## Does DR-GRPO − GRPO change with the budget? (paired per problem)", "",
             inter.to_markdown(index=False, floatfmt=".3g"), "", "## Findings (computed)", "",
             *[f"- {s}" for s in findings], ""]
    (reports / f"{SLUG}.md").write_text("\n".join(lines))
    fig = budget_figure(tests, dict(zip(table["max tokens"], table["part"])))
    figs = save_figure(fig, root, SLUG)
    plt.close(fig)
    prov_path.parent.mkdir(parents=True, exist_ok=True)
    prov = {"notebook": None, "script": "python -m ordebug_lib.experiments.e1_parts", "parts": names,
            "part_commits": {p["name"]: p["provenance"]["git"]["commit"] for p in parts},
            **collect(Path(__file__).resolve().parents[2])}  # the code that joined them, wherever it writes
    prov_path.write_text(json.dumps(prov, indent=2, default=str) + "\n")
    return [reports / f"{SLUG}.md", *figs, prov_path]


WARM_SLUG = "countdown_grpo_vs_drgrpo_warm_starts"
"""The warm-start comparison's file stem in ``reports/`` (``across_warm_starts``; its CSV ``_tests``)."""


def write_warm_starts(strong: str | Path, weak: str | Path, budget: int, root: str | Path) -> list[Path]:
    """``across_warm_starts`` of two published runs into ``reports/<WARM_SLUG>.md`` (+ ``_tests.csv``) and its
    provenance; refused unless the runs differ in their warm start's settings and nothing else (budgets and
    scheduling aside, ``FREE_KEYS``) and pair on the same problems."""
    from ..provenance import collect

    root = Path(root)
    parts = [load_part(strong), load_part(weak)]
    differ = {k for k, v in _flat(parts[0]["parameters"]).items() if _flat(parts[1]["parameters"]).get(k) != v}
    differ = {k for k in differ if k.split(".")[0] not in FREE_KEYS}
    if not differ or {k.split(".")[0] for k in differ} != {"warm_start_config"}:
        raise ValueError(f"the runs must differ in warm_start_config only; they differ in {sorted(differ) or 'nothing'}")
    same_problems(parts)
    for p in parts:
        if budget not in set(p["episodes"]["budget"]):
            raise ValueError(f"{p['name']} has no arms at {budget} tokens")
        if p["provenance"].get("git", {}).get("dirty") is not False:
            raise ValueError(f"{p['name']}: ran from a dirty or unknown tree: its code is not a commit")
    table = across_warm_starts(parts[0]["episodes"], parts[1]["episodes"], budget)

    def loss(archive):
        return json.loads((Path(archive) / "metrics.json").read_text())["warm_start"]["sft"]["final_held_out_loss"]

    ws = {p["name"]: {k.split(".", 1)[1]: _flat(p["parameters"])[k] for k in sorted(differ)} for p in parts}
    lines = [f"# E1 at {budget} tokens from two warm starts: what a stronger warm start changes", "",
             "Generated by `python -m ordebug_lib.experiments.e1_parts --warm-starts` from the published runs below, "
             "paired per test problem (each problem's correctness averaged over the seeds; the seed SE counts both "
             f"runs' seeds); provenance in `reports/provenance/{WARM_SLUG}.json`.", "",
             *[f"- **{side}**: {p['name']} (warm start {ws[p['name']]}, held-out loss {loss(a):.3f})"
               for side, p, a in (("strong", parts[0], strong), ("weak", parts[1], weak))], "",
             "## Strong − weak (test split)", "", table.to_markdown(index=False, floatfmt=".3g"), "",
             "Each side has one warm start (one SFT run), so the seed SE holds the RL seeds only: how far another "
             "SFT run of the same recipe moves a warm start is not measured here.", ""]
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    table.to_csv(reports / f"{WARM_SLUG}_tests.csv", index=False)
    (reports / f"{WARM_SLUG}.md").write_text("\n".join(lines))
    prov = root / "reports" / "provenance" / f"{WARM_SLUG}.json"
    prov.parent.mkdir(parents=True, exist_ok=True)
    prov.write_text(json.dumps({"script": "python -m ordebug_lib.experiments.e1_parts --warm-starts",
                                "parts": [p["name"] for p in parts], "budget": budget,
                                **collect(Path(__file__).resolve().parents[2])}, indent=2, default=str) + "\n")
    return [reports / f"{WARM_SLUG}.md", prov]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ordebug_lib.experiments.e1_parts", description=__doc__.split("\n")[0])
    ap.add_argument("archives", nargs="+", help="published parts: reports/published/10_countdown_grpo_vs_drgrpo.*"
                    " (with --warm-starts: the stronger warm start's run, then the weaker's)")
    ap.add_argument("--root", default=".", help="the repository root to write reports/ and figures/ into")
    ap.add_argument("--warm-starts", type=int, metavar="BUDGET",
                    help="compare two runs that differ in their warm start only, at this budget")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.warm_starts is not None:
        if len(args.archives) != 2:
            ap.error("--warm-starts takes exactly two archives: the stronger warm start's run, then the weaker's")
        for p in write_warm_starts(*args.archives, args.warm_starts, args.root):
            print(p)
        return 0
    for p in write_joined(args.archives, args.root):
        print(p)
    print((Path(args.root) / "reports" / f"{SLUG}.md").read_text().split("## Findings (computed)")[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
