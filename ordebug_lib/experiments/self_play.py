"""E9 (issue 23; seeds/001 Strategies 1 and 4): GRPO on the warm start's failures, and self-play rounds.

Three arm kinds of ``ordebug_rl.ARMS`` train on instances chosen here; everything they choose reads the
train and val splits only (``weakness.CURRICULUM_SPLITS``), the test split is read by the evaluations that
report them. All three take the same optimizer steps (the shared ``grpo['max_steps']``) of the same episodes
per step as the plain ``grpo`` arm, so they see the same number of training episodes; only which instances
those episodes start from differs.

======================  =====================================================================================
arm kind                training set (``self_play`` parameters in brackets)
======================  =====================================================================================
``failure_curriculum``  Strategy 1: [n_failed] train-split instances the warm start failed in its greedy
                        evaluation (``failed_instances``; fewer if it failed fewer), plus [n_fresh] fresh
                        instances for the weak cells of its *val* profile, drawn ∝ learnability
                        (``weakness.generate_for_cells``, prior [prior])
``uniform_control``     the control of the same size: [n_failed] train-split instances drawn uniformly
                        (``uniform_draw``) from the same evaluated pool ([n_train_eval]) plus [n_fresh] fresh instances drawn uniformly over the train
                        split's cells (``uniform_profile``); the warm start's failure share of its train part
                        is recorded beside the curriculum's
``self_play``           Strategy 4: [rounds] rounds; round k profiles the round k−1 policy on val (round 1:
                        the warm start's evaluation), generates [n_fresh] instances for its cells ∝
                        learnability, and trains ``stage_steps(max_steps, rounds)[k-1]`` GRPO steps on them
                        from round k−1's weights; after each round the policy is evaluated on val (the next
                        profile) and, when [eval_test_rounds], on test (reported only)
======================  =====================================================================================

Every generated instance is checked again after ``generate_for_cells`` (``checked_generation``): it passes
``saboteur.validate`` and neither canonical fingerprint is among the benchmark's val/test fingerprints, the
train split's, or an earlier round's; a violation raises. Each arm records its set and the counts in
``self_play.json`` and puts the quantity its knob reads into every row of its ``metrics.jsonl``
(``ordebug/targeted/failed_share``, ``ordebug/targeted/fresh_accepted``, ``ordebug/self_play/generated_accepted``).

The KL reference of every round is the warm start (TRL reloads it from ``model.config._name_or_path``, as in
``ordebug_rl.train_curriculum``). The idea of training on what the solver fails and proposing tasks it solves
about half the time is Absolute Zero's (arXiv 2505.03335) and R-Zero's (arXiv 2508.05004); the learnability
weight is ``weakness.learnability``.

    >>> from types import SimpleNamespace as I
    >>> train = [I(id=f"t{k}", error_type="AB"[k % 2], difficulty="easy", family="diet") for k in range(6)]
    >>> rows = [dict(instance_id=f"t{k}", failure_class=None if k < 2 else "wrong_fix") for k in range(6)]
    >>> [i.id for i in failed_instances(rows, train, n=10, seed=0)]       # every failed one, when fewer than n
    ['t2', 't3', 't4', 't5']
    >>> [i.id for i in failed_instances(rows, train, n=3, seed=0)]        # three of the four, drawn for the seed
    ['t2', 't4', 't5']
    >>> len(uniform_draw(train, 3, seed=0)), uniform_profile(train)["learnability"].tolist()
    (3, [1.0, 1.0])
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .weakness import CELL, collect_episodes, generate_for_cells, instance_fingerprints, split_fingerprints, \
    weakness_profile

SELF_PLAY_KINDS = ("failure_curriculum", "uniform_control", "self_play")
DEFAULTS = {"rounds": 3, "n_failed": 8, "n_fresh": 8, "prior": 1.0, "max_draws": None, "eval_test_rounds": True,
            "n_train_eval": None, "warm_start_db": None, "warm_start_policy": "warm_start"}
"""The ``self_play`` parameters (module table); ``n_train_eval``: the first train-split prompts the warm start is
evaluated on, the pool both the curriculum and the control draw their train-split part from (None: all);
``warm_start_db``: the results store holding that greedy evaluation on the train and val splits under
``warm_start_policy`` (``evaluate_policy``)."""
KNOB_METRICS = {"failure_curriculum": "ordebug/targeted/failed_share",
                "uniform_control": "ordebug/targeted/fresh_accepted",
                "self_play": "ordebug/self_play/generated_accepted"}
RECORD = "self_play.json"


def check_self_play(d: Mapping | None) -> dict:
    """The ``self_play`` parameters with ``DEFAULTS`` filled in; unknown keys and bad values raise.

    >>> check_self_play({"rounds": 2})["n_fresh"]
    8
    >>> check_self_play({"round": 2})
    Traceback (most recent call last):
    ...
    ValueError: unknown self_play setting(s) ['round']; settings: ['rounds', 'n_failed', 'n_fresh', 'prior', 'max_draws', 'eval_test_rounds', 'n_train_eval', 'warm_start_db', 'warm_start_policy']
    """
    d = dict(d or {})
    bad = set(d) - set(DEFAULTS)
    if bad:
        raise ValueError(f"unknown self_play setting(s) {sorted(bad)}; settings: {list(DEFAULTS)}")
    out = {**DEFAULTS, **d}
    for k in ("rounds", "n_failed", "n_fresh"):
        if not isinstance(out[k], int) or isinstance(out[k], bool) or out[k] < 0:
            raise ValueError(f"self_play {k} must be an integer >= 0, got {out[k]!r}")
    if out["rounds"] < 1 or out["n_fresh"] < 1:
        raise ValueError("self_play needs rounds >= 1 and n_fresh >= 1 (every arm here trains on fresh instances)")
    if out["n_train_eval"] is not None and (not isinstance(out["n_train_eval"], int) or out["n_train_eval"] < 1):
        raise ValueError(f"self_play n_train_eval must be None or an integer >= 1, got {out['n_train_eval']!r}")
    if not isinstance(out["prior"], (int, float)) or out["prior"] < 0:
        raise ValueError(f"self_play prior must be a number >= 0, got {out['prior']!r}")
    return out


# -- training sets ---------------------------------------------------------------------------------------------
def _rng(seed: int, what: str) -> np.random.Generator:
    from ..ordebug.saboteur import derive_seed

    return np.random.default_rng(derive_seed(what, int(seed)))


def failed_instances(rows: Iterable[Mapping], instances: Sequence, n: int, seed: int) -> list:
    """Up to ``n`` of ``instances`` with a failed episode among ``rows`` (``weakness.collect_episodes`` rows:
    ``failure_class`` None for a success), drawn without replacement (deterministic for ``seed``), in the
    instances' order. An instance without episodes in ``rows`` raises: the failures must be those of an
    evaluation of exactly these instances."""
    rows = list(rows)
    seen = {r["instance_id"] for r in rows}
    missing = [i.id for i in instances if i.id not in seen]
    if missing:
        raise ValueError(f"{len(missing)} instances have no evaluated episode (e.g. {missing[0]}): evaluate the "
                         "policy on every train-split instance first (evaluate_policy)")
    failed = {r["instance_id"] for r in rows if r["failure_class"] is not None}
    pool = [k for k, i in enumerate(instances) if i.id in failed]
    take = sorted(_rng(seed, "failed").choice(len(pool), size=min(n, len(pool)), replace=False)) if pool else []
    return [instances[pool[k]] for k in take]


def uniform_draw(instances: Sequence, n: int, seed: int) -> list:
    """``n`` of ``instances`` drawn uniformly without replacement (all of them if fewer), in their order."""
    take = sorted(_rng(seed, "uniform").choice(len(instances), size=min(n, len(instances)), replace=False))
    return [instances[k] for k in take]


def uniform_profile(instances: Sequence) -> pd.DataFrame:
    """A profile for ``generate_for_cells`` with learnability 1 on every cell (``CELL``) of ``instances``:
    fresh instances drawn uniformly over the cells, the control's counterpart of a weakness profile."""
    cells = sorted({(i.error_type, i.difficulty, i.family) for i in instances})
    if not cells:
        raise ValueError("no instances: no cells to draw from")
    return pd.DataFrame({"learnability": 1.0}, index=pd.MultiIndex.from_tuples(cells, names=list(CELL)))


def checked_generation(profile: pd.DataFrame, n: int, seed: int, exclude: set[str], benchmark: str | Path,
                       tag: str, max_draws: int | None = None) -> tuple[list, dict]:
    """``weakness.generate_for_cells`` and the check the issue asks for, on its output: every instance passes
    ``saboteur.validate`` again and none of its fingerprints is among the val/test ones or ``exclude``
    (RuntimeError otherwise). Ids get the prefix ``tag`` (a training set's ids must be unique). Returns the
    instances and a record: counts asked / accepted / rejected per reason, and accepted per cell."""
    from ..ordebug.validation import validate

    gen = generate_for_cells(profile, n, seed, exclude, benchmark=benchmark, max_draws=max_draws)
    guard = split_fingerprints(benchmark, ("val", "test"))
    for inst in gen:
        problems = validate(inst)
        if problems:
            raise RuntimeError(f"generated instance {inst.id} fails validation: {problems}")
        fps = set(instance_fingerprints(inst))
        if fps & guard:
            raise RuntimeError(f"generated instance {inst.id} shares a fingerprint with the val/test split")
        if fps & exclude:
            raise RuntimeError(f"generated instance {inst.id} shares a fingerprint with the excluded instances")
        inst.id = f"{tag}-{inst.id}"
    rep = gen.report
    by_cell = rep[rep["accepted"] > 0]
    record = {"asked": n, "accepted": len(gen), "validated": len(gen), "val_test_collisions_after_check": 0,
              **{k: int(rep[k].sum()) for k in ("drawn", "rejected_collision", "rejected_invalid",
                                                "rejected_duplicate")},
              "cells_set_aside": int((rep["set_aside"] != "").sum()),
              "accepted_by_cell": [{**dict(zip(CELL, idx)), "learnability": float(r["learnability"]),
                                    "accepted": int(r["accepted"])} for idx, r in by_cell.iterrows()]}
    return list(gen), record


def _unique(instances: Sequence) -> list:
    ids = [i.id for i in instances]
    if len(set(ids)) != len(ids):
        raise ValueError("a training set holds the same instance id twice")
    return list(instances)


def targeted_set(kind: str, train: Sequence, benchmark: str | Path, conf: dict, seed: int) -> tuple[list, dict]:
    """The training set of a ``failure_curriculum`` or ``uniform_control`` arm (module table) and its record."""
    if kind not in ("failure_curriculum", "uniform_control"):
        raise ValueError(f"targeted_set builds the sets of failure_curriculum / uniform_control, not {kind!r}")
    db = conf["warm_start_db"]
    if not db:
        raise ValueError(f"a {kind} arm needs self_play['warm_start_db']: the warm start's train/val evaluation")
    train_rows = collect_episodes(db, conf["warm_start_policy"], "train")
    rows_of = {r["instance_id"] for r in train_rows}
    train = [i for i in train if i.id in rows_of]  # the evaluated pool: the same for the curriculum and the control
    failed_ids = {r["instance_id"] for r in train_rows if r["failure_class"] is not None}
    exclude = split_fingerprints(benchmark, ("train",))
    if kind == "failure_curriculum":
        base = failed_instances(train_rows, train, conf["n_failed"], seed)
        profile = weakness_profile(collect_episodes(db, conf["warm_start_policy"], "val"), prior=conf["prior"])
    else:
        base = uniform_draw(train, conf["n_failed"], seed)
        profile = uniform_profile(train)
    fresh, gen = checked_generation(profile, conf["n_fresh"], seed, exclude, benchmark, tag=f"{kind}-s{seed}",
                                    max_draws=conf["max_draws"])
    insts = _unique(base + fresh)
    record = {"kind": kind, "n_instances": len(insts), "n_train_split": len(base), "n_fresh": len(fresh),
              "n_failed_in_train_split_part": sum(i.id in failed_ids for i in base),
              "warm_start_train_failure_rate": len(failed_ids) / len(train_rows),
              "failed_share": sum(i.id in failed_ids for i in base) / len(insts),
              "train_split_ids": [i.id for i in base], "generation": gen,
              "profile": _profile_records(profile)}
    return insts, record


def _profile_records(profile: pd.DataFrame) -> list[dict]:
    return json.loads(profile.reset_index().to_json(orient="records"))


# -- evaluation ------------------------------------------------------------------------------------------------
def evaluate_model(model, tokenizer, instances: Sequence, db: str | Path, name: str, spec: Mapping) -> pd.DataFrame:
    """Greedy evaluation of ``model`` on ``instances`` into the results store ``db`` under ``name``, with the
    experiment's episode settings (``spec``: max_turns, max_new_tokens, max_prompt_tokens, eval_batch_size,
    eval_seed), as ``ordebug_rl.run_arm`` evaluates the test split."""
    import torch

    from ..policy.generation import SamplingConfig
    from ..policy.ordebug_lm_eval import evaluate_lm

    sampling = SamplingConfig(max_new_tokens=spec["max_new_tokens"], temperature=0.0,
                              batch_size=spec["eval_batch_size"], seed=spec["eval_seed"])
    model.eval()
    with torch.no_grad():
        df, _ = evaluate_lm(model, tokenizer, list(instances), db, name, seed=spec["eval_seed"],
                            max_turns=spec["max_turns"], batch_size=spec["eval_batch_size"], sampling=sampling,
                            max_prompt_tokens=spec["max_prompt_tokens"], context_policy="end")
    if len(df) != len(instances):
        raise RuntimeError(f"{name}: {len(df)} evaluation rows for {len(instances)} instances")
    return df


def evaluate_policy(model_dir: str | Path, splits: Mapping[str, Sequence], db: str | Path, device: str,
                    name: str = DEFAULTS["warm_start_policy"], **settings) -> dict[str, pd.DataFrame]:
    """The warm start's greedy evaluation on each split of ``splits`` (split -> instances; train / val only,
    never test: this evaluation chooses what the arms train on) into ``db``. ``settings``: the episode
    settings of ``evaluate_model``. Returns split -> rows."""
    from ..policy.loader import load_policy
    from .weakness import CURRICULUM_SPLITS

    bad = set(splits) - set(CURRICULUM_SPLITS)
    if bad:
        raise ValueError(f"evaluate_policy chooses training data: splits {sorted(bad)} refused (train / val only)")
    policy = load_policy(model_dir, device=device, trainable=False)
    out = {}
    for split, insts in splits.items():
        wrong = [i.id for i in insts if i.meta.get("split") != split]
        if wrong:
            raise ValueError(f"{len(wrong)} instances passed as {split} are not of that split (e.g. {wrong[0]})")
        out[split] = evaluate_model(policy.model, policy.tokenizer, insts, db, name, settings)
    return out


# -- training --------------------------------------------------------------------------------------------------
def _annotate(path: Path, extra: dict | Sequence[dict], rows: list[dict] | None = None) -> list[dict]:
    """Rewrite a ``metrics.jsonl`` with ``extra`` in every row (one dict, or one per row)."""
    from ..training.logging import read_metrics

    rows = read_metrics(path) if rows is None else rows
    extras = [extra] * len(rows) if isinstance(extra, Mapping) else list(extra)
    out = [{**r, **e} for r, e in zip(rows, extras)]
    with path.open("w") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    return out


def train_targeted(kind: str, cfg, model, tokenizer, train: Sequence, out_dir: str | Path, spec: Mapping,
                   seed: int, **overrides):
    """Train a ``failure_curriculum`` or ``uniform_control`` arm on its ``targeted_set`` (one GRPO run of the
    shared steps); writes ``self_play.json`` and the knob's column into ``metrics.jsonl``."""
    from ..training.run import build_ordebug_trainer

    out = Path(out_dir)
    conf = check_self_play(spec["self_play"])
    insts, record = targeted_set(kind, train, spec["benchmark"], conf, seed)
    t0 = time.perf_counter()
    trainer = build_ordebug_trainer(cfg, model, tokenizer, insts, out, **overrides)
    trainer.train()
    record.update(train_s=time.perf_counter() - t0, steps=trainer.state.global_step,
                  n_left_out=len(trainer.ordebug_left_out))
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    _annotate(out / "metrics.jsonl", {"ordebug/targeted/failed_share": record["failed_share"],
                                      "ordebug/targeted/fresh_accepted": record["n_fresh"]})
    return trainer.model


def train_self_play(cfg, model, tokenizer, train: Sequence, out_dir: str | Path, spec: Mapping, seed: int,
                    test: Sequence, val: Sequence, name: str, stage_configs, checksum, **overrides):
    """The self-play rounds (module table) into ``out_dir/round_<k>``; round k starts from round k−1's
    weights. ``stage_configs``, ``checksum``: ``ordebug_rl.curriculum_configs`` and ``ordebug_rl._param_checksum``
    (passed in by ``ordebug_rl.run_arm``, which imports this module: one definition, no import loop); a round
    is a stage of one GRPO run's steps, as a curriculum's stage is. Writes ``rounds.sqlite`` (val and test evaluations of every round, policy ``<name>-round<k>``),
    the concatenated ``metrics.jsonl`` (global ``step``, ``round``, ``round_step``, the knob's column) and
    ``self_play.json``; returns the trained model."""
    import dataclasses
    import gc

    import torch

    from ..training.logging import read_metrics
    from ..training.run import build_ordebug_trainer

    out = Path(out_dir)
    conf = check_self_play(spec["self_play"])
    if not conf["warm_start_db"]:
        raise ValueError("a self_play arm needs self_play['warm_start_db']: the warm start's val evaluation "
                         "is round 1's profile")
    steps = [c.max_steps for c in stage_configs(cfg, [["easy"]] * conf["rounds"])]  # constant lr, even split
    db_rounds = out / "rounds.sqlite"
    db_rounds.unlink(missing_ok=True)  # a rerun evaluates its new weights
    val_rows = collect_episodes(conf["warm_start_db"], conf["warm_start_policy"], "val")
    exclude = set(split_fingerprints(spec["benchmark"], ("train",)))
    rows, record, offset = [], [], 0
    for k, n_steps in enumerate(steps, start=1):
        d = out / f"round_{k}"
        profile = weakness_profile(val_rows, prior=conf["prior"])
        round_seed = 1000 * int(seed) + k  # one generation seed per (arm seed, round)
        insts, gen = checked_generation(profile, conf["n_fresh"], round_seed, exclude, spec["benchmark"],
                                        tag=f"sp-s{seed}-r{k}", max_draws=conf["max_draws"])
        for i in insts:
            exclude |= set(instance_fingerprints(i))  # never the same model in two rounds
        start_sum, reference = checksum(model), getattr(model.config, "_name_or_path", None)
        t0 = time.perf_counter()
        trainer = build_ordebug_trainer(dataclasses.replace(cfg, max_steps=n_steps), model, tokenizer, _unique(insts),
                                        d, **overrides)
        trainer.train()
        model = trainer.model
        train_s = time.perf_counter() - t0
        if trainer.state.global_step != n_steps:
            raise RuntimeError(f"round {k} stopped at step {trainer.state.global_step}, not its {n_steps}")
        left_out = len(trainer.ordebug_left_out)
        del trainer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        stage_rows = read_metrics(d / "metrics.jsonl")
        rows += [{**r, "step": r["step"] + offset, "round": k, "round_step": r["step"],
                  "ordebug/self_play/generated_accepted": gen["accepted"]} for r in stage_rows]
        t0 = time.perf_counter()
        val_df = evaluate_model(model, tokenizer, val, db_rounds, f"{name}-round{k}", spec)
        val_rows = collect_episodes(db_rounds, f"{name}-round{k}", "val")  # the next round's profile
        test_eval = k < len(steps) and conf["eval_test_rounds"]  # the last round's test evaluation is run_arm's
        if test_eval:
            evaluate_model(model, tokenizer, test, db_rounds, f"{name}-round{k}", spec)
        record.append({"round": k, "steps": n_steps, "first_step": offset + 1, "last_step": offset + n_steps,
                       "generation_seed": round_seed, "generation": gen, "n_instances": len(insts),
                       "n_left_out": left_out, "profile": _profile_records(profile),
                       "val_success_rate": float(val_df["failure_class"].eq("success").mean()),
                       "test_evaluated_here": bool(test_eval), "train_s": train_s,
                       "eval_s": time.perf_counter() - t0, "reference": reference,
                       "param_checksum_start": start_sum, "param_checksum_end": checksum(model)})
        offset += n_steps
    _annotate(out / "metrics.jsonl", [{}] * len(rows), rows)
    (out / RECORD).write_text(json.dumps({"kind": "self_play", "total_steps": cfg.max_steps, "settings": conf,
                                          "rounds": record}, indent=2, default=str) + "\n")
    return model


def train_arm(kind: str, cfg, model, tokenizer, train: Sequence, out_dir: str | Path, spec: Mapping, seed: int,
              name: str, test: Sequence, stage_configs, checksum, **overrides):
    """``ordebug_rl.run_arm``'s entry for the kinds of this module (``train_self_play`` for the last two)."""
    if kind == "self_play":
        from ..ordebug.dataset import load_benchmark

        return train_self_play(cfg, model, tokenizer, train, out_dir, spec, seed, test,
                               load_benchmark(spec["benchmark"], "val"), name, stage_configs, checksum, **overrides)
    return train_targeted(kind, cfg, model, tokenizer, train, out_dir, spec, seed, **overrides)


# -- reading the arms back -------------------------------------------------------------------------------------
def round_rows(arms_dir: str | Path, arms: Sequence, split: str = "test") -> pd.DataFrame:
    """The episode rows of every self-play round on ``split``: one row per (self_play arm, round, episode)
    with ``round`` (the last round's test rows are the arm's own ``results.sqlite``) and ``rl_seed``."""
    from ..ordebug.results import load_results

    frames = []
    for a in arms:
        if a.kind != "self_play":
            continue
        d = Path(arms_dir) / a.name
        rec = json.loads((d / RECORD).read_text())
        for r in rec["rounds"]:
            k = r["round"]
            if split == "test" and k == len(rec["rounds"]):
                df = load_results(d / "results.sqlite", policy=a.name)
            elif split == "test" and not r["test_evaluated_here"]:
                continue
            else:
                df = load_results(d / "rounds.sqlite", policy=f"{a.name}-round{k}")
                df = df[df["split"] == split]
            frames.append(df.assign(arm=a.name, kind="self_play", round=k, rl_seed=a.seed))
    if not frames:
        raise ValueError("no self_play arm among the arms")
    return pd.concat(frames, ignore_index=True)


def paired_rounds(round_rows_: pd.DataFrame, reference_rows: pd.DataFrame, reference: str,
                  metrics: Mapping[str, str]) -> pd.DataFrame:
    """Per round and metric, the self-play policies (averaged over their RL seeds per instance) against
    ``reference_rows`` (one policy, averaged over its seeds per instance when it has several), paired per
    instance (``stats.paired_test``): the difference, its 95% CI, the MDE, the seed SE of the difference
    (``stats.seed_se`` over both sides' seed means) and ``stats.verdict``. Rows must cover the same instances.
    ``metrics``: name -> episode column (``ordebug_report.PAIRED``)."""
    from .stats import paired_test, seed_se, verdict

    out = []
    ref_ids = set(reference_rows["instance_id"])
    for k, g in round_rows_.groupby("round", sort=True):
        if set(g["instance_id"]) != ref_ids:
            raise ValueError(f"round {k} covers other instances than the reference {reference!r}")
        for name, col in metrics.items():
            a = g.pivot_table(index="instance_id", columns="rl_seed", values=col, aggfunc="mean").astype(float)
            b = reference_rows.pivot_table(index="instance_id", columns="rl_seed", values=col,
                                           aggfunc="mean").astype(float).loc[a.index]
            if a.isna().any().any() or b.isna().any().any():
                raise ValueError(f"round {k}: not every seed evaluated every instance ({name})")
            t = paired_test(a.mean(axis=1).to_numpy(), b.mean(axis=1).to_numpy())
            spread = seed_se(a.mean(axis=0), b.mean(axis=0))
            out.append({"round": int(k), "reference": reference, "metric": name, "instances": t["n"],
                        "seeds": a.shape[1], "policy mean": t["a"], "reference mean": t["b"], "diff": t["diff"],
                        "se": t["se"], "ci low": t["diff"] - 1.96 * t["se"], "ci high": t["diff"] + 1.96 * t["se"],
                        "p": t["p"], "mde": t["mde"], "seed se": spread,
                        "verdict": verdict(t["diff"], t["se"], spread)})
    return pd.DataFrame(out)


def round_table(arms_dir: str | Path, arms: Sequence, val_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (self_play arm, round): steps, generated counts, the val success rate after the round and
    the test metrics (RR@5, faithful recovery, DA) of the round's policy where it was evaluated on test."""
    from ..ordebug.metrics import aggregate

    test = round_rows(arms_dir, arms, "test")
    out = []
    for a in arms:
        if a.kind != "self_play":
            continue
        rec = json.loads((Path(arms_dir) / a.name / RECORD).read_text())
        for r in rec["rounds"]:
            g = test[(test["arm"] == a.name) & (test["round"] == r["round"])]
            agg = aggregate(g).iloc[0] if len(g) else None
            gen = r["generation"]
            out.append({"arm": a.name, "round": r["round"], "steps": r["steps"], "generated": gen["accepted"],
                        "drawn": gen["drawn"], "rejected_collision": gen["rejected_collision"],
                        "rejected_invalid": gen["rejected_invalid"], "cells_drawn": len(gen["accepted_by_cell"]),
                        "val_success_rate": r["val_success_rate"], "test_episodes": len(g),
                        **{f"test_{m}": (float(agg[m]) if agg is not None else np.nan)
                           for m in ("RR@5", "faithful_recovery", "DA")}})
    return pd.DataFrame(out)


def round_profiles(arms_dir: str | Path, arm_name: str) -> list[pd.DataFrame]:
    """The weakness profile each round of ``arm_name`` drew from (round 1: the warm start's on val)."""
    rec = json.loads((Path(arms_dir) / arm_name / RECORD).read_text())
    return [pd.DataFrame(r["profile"]).set_index(list(CELL)) for r in rec["rounds"]]


__all__ = ["DEFAULTS", "KNOB_METRICS", "SELF_PLAY_KINDS", "check_self_play", "checked_generation", "evaluate_model",
           "evaluate_policy", "failed_instances", "paired_rounds", "round_profiles", "round_rows", "round_table",
           "targeted_set", "train_arm", "train_self_play", "train_targeted", "uniform_draw", "uniform_profile"]
