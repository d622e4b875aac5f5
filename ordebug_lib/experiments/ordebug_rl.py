"""E3–E5 (seeds/000, 002; brief §3): multi-turn RL on OR-Debug from one SFT warm start.

The arms, all from the same warm start (``policy.ordebug_sft``), training instances (the benchmark's train
split), seed and data order, each evaluated greedily on the benchmark's disjoint test split:

===============  ==============================================  =========================================
arm              what changes (``GRPORunConfig`` fields)         why
===============  ==============================================  =========================================
``sft``          no RL: evaluation only                          the SFT row of seeds/000's table
``grpo``         advantage (r − mean)/(std + ε), per-sequence    GRPO (DeepSeekMath arXiv 2402.03300),
                 mean loss, β = 0.04                             β of its Eq. 3–4
``dgro``         the DGRO paper's loss (``loss_type='dgro'``):   DGRO (arXiv 2505.12951, its loss
                 −β₁ (r − V) log π_θ(y|x) + β₂ (log π_θ(y|x)     L_DGRO and gradient); V the group mean
                 / π_src(y|x))², V = group mean (advantage       (Kimi k1.5 arXiv 2501.12599 §2.3.2);
                 'dr_grpo'), π_src the sampling policy, β = 0;   needs a reused generation (shared
                 ``dgro_beta_1``, ``dgro_beta_2``; one arm per   ``num_iterations`` ≥ 2); reward scales:
                 reward scale (β₁ → c·β₁)                        the paper's reward-range study
``dgro_seeds``   advantage β_reward·(r − mean)/max(std, √v_min), seeds/000's variance-scaled advantage
                 KL coefficient ``beta`` (their β_kl) 0.001,     (it cites DGRO; not its objective): Adam
                 ``dgro_beta_reward`` 2.0, ``dgro_min_variance`` makes it GRPO with β = β_kl/β_reward
                 0.01 (``SEEDS_DGRO``)                           wherever the floor does not bind
``baseline``     GRPO as above                                   the reference arm of the DAPO ablation
``no_kl``        β = 0                                           DAPO §2.3 (arXiv 2503.14476)
``asym_clip``    ε_high = 0.28                                   DAPO §3.1 clip-higher
``dynamic``      dynamic sampling (zero-std groups refilled)     DAPO §3.2
``token_loss``   token-mean loss + overlong filtering            DAPO §3.3–3.4 (``loss_type='dapo'``,
                                                                 ``mask_truncated_completions``)
``curriculum``   GRPO as above, trained in stages on the train   seeds/003 Task 4: easy → easy+medium →
                 split's difficulties ``CURRICULUM``; stage k    medium+hard → hard, the same total
                 starts from stage k−1's weights                 number of optimizer steps as ``grpo``
===============  ==============================================  =========================================

Every other setting (steps, group size, turns, learning rate, reward, temperature, ``num_iterations``) is
shared and may not set a per-arm field (``arm_jobs`` refuses it).

**The two DGRO arms.** ``dgro_seeds`` is what seeds/000 called DGRO: GRPO's advantage times β_reward with a
floor v_min under the group variance, and β_kl as the k3 KL coefficient. Wherever the floor does not bind
(every informative group's reward variance ≥ v_min, which on the composite reward's −25 … 100 scale is
essentially always for v_min = 0.01; ``ordebug/dgro/floor_binding_frac`` logs it), its advantages are exactly
β_reward × GRPO's, the clipped surrogate is linear in the advantage, so its loss is β_reward × (GRPO's loss with
β = β_kl/β_reward): every gradient is GRPO's with β = β_kl/β_reward times the constant β_reward, and Adam,
whose step m/(√v + ε) is invariant to a constant gradient scale up to ε, takes the same steps. With seeds/000's
β_kl = 0.001 and β_reward = 2 the arm is GRPO with β = 0.0005 (``tests/test_dgro_paper.py`` trains both from
the same weights and seed and ends with the same parameters). ``dgro`` is the paper's objective instead: a
sequence-level policy-gradient term scaled by β₁ and a penalty β₂ (log π_θ/π_src)² to the policy that sampled
the batch, which is zero (with zero gradient) on the first update of a generation, so the arm needs the shared
``num_iterations`` ≥ 2 (``GRPORunConfig.validate`` refuses a schedule where β₂ could never act), and its
knob (``KNOBS``) is the logged (log π_θ/π_src)² of the reused updates. Its reward-range study
(``reward_range_scales``) runs one ``dgro`` arm per reward scale c: with V the group mean, a reward c·r + b
gives β₁ (c·r + b − V_c) = (c·β₁)(r − V), so a scale is the arm's β₁ times c against the same β₂ (a shift
cancels), which Adam does not cancel because β₂ stays.

Training rewards are compared only between arms of one reward definition; arms are compared on task
metrics (RR, RR@k, faithful recovery, DA, steps) of the test split, never on reward means (brief §3.3).

Each arm runs in its own process (``python -m ordebug_lib.experiments.ordebug_rl spec.json``, see
``jobs.py``) and writes ``run_config.json`` and ``metrics.jsonl`` (trained arms), ``results.sqlite`` (one
row per test episode, ``ordebug.results``), ``eval.json`` and ``done.json`` into its directory. A curriculum arm trains its stages one after another in
its one process (``train_curriculum``): ``stage_<k>/`` holds each stage's ``run_config.json`` and
``metrics.jsonl``; the arm's own ``metrics.jsonl`` concatenates them with a global ``step``, ``stage`` and
``stage_step``, and ``curriculum.json`` records the plan (difficulties, prompts, steps, timings, reference).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..policy.data import BASELINES
from .jobs import Job, mark_done
from .stats import first_last_means

MODULE = "ordebug_lib.experiments.ordebug_rl"
BASELINE_LABEL = {name: f"baseline: {name}" for name in BASELINES}
GRPO_BETA = 0.04  # DeepSeekMath arXiv 2402.03300 Eq. 3–4
# fields an arm sets; the shared settings may not
PER_ARM_FIELDS = ("advantage_method", "loss_type", "beta", "epsilon_high", "dynamic_sampling",
                  "mask_truncated_completions", "dgro_beta_1", "dgro_beta_2", "dgro_beta_reward", "dgro_min_variance",
                  "seed", "save_final")
SEEDS_DGRO = {"beta": 0.001, "dgro_beta_reward": 2.0, "dgro_min_variance": 0.01}
"""seeds/000's settings of its variance-scaled advantage: β_kl 0.001 (the KL coefficient), β_reward 2.0, v_min 0.01."""
REWARD_RANGES = {"outcome": (-50.0, 100.0), "diagnosis": (0.0, 100.0), "efficiency": (0.0, 100.0),
                 "composite": (-25.0, 100.0)}
"""The range of each OR-Debug reward component with its default weights (``ordebug.rewards``)."""
TABLE_METRICS = ("RR", "RR@5", "RR@10", "RR@15", "RR@20", "faithful_recovery", "DA", "avg_steps")
CURRICULUM = (("easy",), ("easy", "medium"), ("medium", "hard"), ("hard",))
"""The stages of seeds/003 Task 4: the difficulties of the train-split instances each stage trains on."""


@dataclass(frozen=True)
class Knob:
    """What an arm changes, as the run's own metrics show it (``metrics.jsonl`` of the arm)."""

    metric: str
    """The logged metric (TRL's or ``ordebug/...`` of ``training.trainer``)."""
    acted_above: float
    """The knob acted at a step where the metric exceeds this."""
    what: str
    required: bool = True
    """A trained arm whose knob never acted fails (``run_arm``) unless the experiment allows it."""


GRPO_FIELDS = dict(advantage_method="grpo", loss_type="grpo", beta=GRPO_BETA, epsilon_high=0.2,
                   dynamic_sampling=False, mask_truncated_completions=False)
"""The ``GRPORunConfig`` fields of GRPO (DeepSeekMath arXiv 2402.03300), over which every arm sets its own."""


def _dgro_fields(arm: "OrdebugArm") -> dict:
    beta_1 = arm.settings.get("dgro_beta_1", _config_default("dgro_beta_1"))
    beta_2 = arm.settings.get("dgro_beta_2", _config_default("dgro_beta_2"))
    return {"advantage_method": "dr_grpo", "loss_type": "dgro", "beta": 0.0,
            "dgro_beta_1": float(beta_1 * arm.reward_scale), "dgro_beta_2": float(beta_2)}


def _dgro_seeds_fields(arm: "OrdebugArm") -> dict:
    return {"advantage_method": "dgro", **{k: float(v) for k, v in {**SEEDS_DGRO, **arm.settings}.items()}}


@dataclass(frozen=True)
class ArmKind:
    """One entry of ``ARMS`` (see the module table)."""

    label: str
    """The arm's row in the tables."""
    fields: dict | Callable[["OrdebugArm"], dict] | None
    """The ``GRPORunConfig`` fields it sets over ``GRPO_FIELDS`` (a function of the arm where its settings or
    reward scale enter); None: it does not train ('sft')."""
    knob: Knob | None = None
    """What it changes, as its own logs show it (``knob_activity``); None: nothing to prove (GRPO itself)."""
    settings: tuple[str, ...] = ()
    """The ``GRPORunConfig`` fields a notebook may set for it (``make_arms(dgro={kind: {...}})``), one spelling,
    the config's (the DGRO arms)."""


ARMS: dict[str, ArmKind] = {
    "sft": ArmKind("SFT (no RL)", None),
    "grpo": ArmKind("GRPO", {}),
    "dgro": ArmKind("DGRO", _dgro_fields, settings=("dgro_beta_1", "dgro_beta_2"), knob=Knob(
        "ordebug/dgro/sq_log_ratio", 1e-6, "mean (log π_θ(y|x)/π_src(y|x))² of the sequences, the quantity β₂ "
        "penalises (0 on a generation's first update; above 1e-6, past the float noise of recomputing the same "
        "log-probabilities, the policy has moved from π_src and β₂ acts)")),
    "dgro_seeds": ArmKind("seeds' DGRO (variance-scaled advantage)", _dgro_seeds_fields,
                          settings=("beta", "dgro_beta_reward", "dgro_min_variance"), knob=Knob(
        "ordebug/dgro/floor_binding_frac", 0.0, "share of informative groups under the seeds' variance floor (0: the "
        "arm is GRPO with advantages scaled by β_reward, which Adam cancels: GRPO with β = β_kl/β_reward)",
        required=False)),
    "baseline": ArmKind("DAPO ablation: baseline (GRPO)", {}),
    "no_kl": ArmKind("no_kl (β = 0)", {"beta": 0.0}),
    "asym_clip": ArmKind("asym_clip (ε_high 0.28)", {"epsilon_high": 0.28}, knob=Knob(
        "clip_ratio/high_mean", 0.0, "share of tokens whose ratio passed 1 + ε_high (clip-higher clipped; "
        "on-policy, with one update per generation, the ratio is 1 and it never can)")),
    "dynamic": ArmKind("dynamic sampling", {"dynamic_sampling": True}, knob=Knob(
        "ordebug/dynamic_sampling/rounds", 1.0, "generation rounds per step (above 1: zero-std groups were replaced "
        "by fresh ones)")),
    "token_loss": ArmKind("token_loss (token mean + overlong filter)",
                          {"loss_type": "dapo", "mask_truncated_completions": True}, knob=Knob(
        "completions/clipped_ratio", 0.0, "share of episodes whose last action hit its token budget (the overlong "
        "filter masks them)")),
    "curriculum": ArmKind("GRPO curriculum (easy → hard)", {}),  # GRPO, staged data (train_curriculum)
}
"""Every arm kind, in the tables' order: adding an arm is one entry here (its label, its fields over GRPO's, the
knob that proves it acted). The knobs follow DAPO arXiv 2503.14476 §3.1-3.4 and DGRO arXiv 2505.12951 (β₂'s
penalty to the sampling policy). The seeds' variance floor is reported, not required: where it never binds the
arm is GRPO with β = β_kl/β_reward, which is a finding, not a broken run."""
KINDS = tuple(ARMS)
LABEL = {k: a.label for k, a in ARMS.items()}
KNOBS = {k: a.knob for k, a in ARMS.items() if a.knob is not None}
"""The knob of each ablation arm (``ARMS``)."""
DGRO_SETTINGS = {k: a.settings for k, a in ARMS.items() if a.settings}
"""The ``GRPORunConfig`` fields a notebook may set for each DGRO arm (``make_arms(dgro={kind: {...}})``): one
spelling, the config's. The paper arm's defaults are ``GRPORunConfig``'s, the seeds' arm's ``SEEDS_DGRO``."""


@dataclass(frozen=True)
class OrdebugArm:
    """One arm (see the module table)."""

    kind: str
    """One of ``KINDS``; 'sft' only evaluates the warm start."""
    seed: int = 0
    """RL seed (sampling, data order)."""
    settings: dict = dataclasses.field(default_factory=dict)
    """DGRO arms: ``GRPORunConfig`` fields of ``DGRO_SETTINGS[kind]`` overriding the arm's defaults."""
    reward_scale: float = 1.0
    """'dgro' only: the reward-range study's scale c of the reward (run as β₁ → c·β₁, see the module docstring)."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown arm kind {self.kind!r}; kinds: {KINDS}")
        allowed = DGRO_SETTINGS.get(self.kind, ())
        bad = set(self.settings) - set(allowed)
        if bad:
            raise ValueError(f"unknown setting(s) {sorted(bad)} for a {self.kind!r} arm; settings: {list(allowed)}")
        for k, v in self.settings.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ValueError(f"{self.kind} setting {k} must be a number, got {v!r}")
        if not (isinstance(self.reward_scale, (int, float)) and self.reward_scale > 0):
            raise ValueError(f"reward_scale must be a positive number, got {self.reward_scale!r}")
        if self.reward_scale != 1 and self.kind != "dgro":
            raise ValueError(f"reward_scale is the DGRO paper's reward-range study ('dgro' arms), not {self.kind!r}'s")

    @classmethod
    def from_dict(cls, d: dict) -> "OrdebugArm":
        """An arm from its ``dataclasses.asdict`` (an arm spec). Specs written before issue 21 carry
        ``dgro_beta_kl``, ``dgro_beta_reward`` and ``dgro_min_variance`` on every arm: unused except by their
        'dgro' arm, which was the seeds' variance-scaled advantage and is read as a 'dgro_seeds' arm.

        >>> old = {"kind": "dgro", "seed": 1, "dgro_beta_kl": 0.001, "dgro_beta_reward": 2.0, "dgro_min_variance": 0.01}
        >>> a = OrdebugArm.from_dict(old); a.kind, a.settings["beta"], a.name
        ('dgro_seeds', 0.001, 'dgro_seeds-s1')
        >>> OrdebugArm.from_dict({"kind": "grpo", "seed": 0, "dgro_beta_kl": 0.001}) == OrdebugArm("grpo")
        True
        """
        d = dict(d)
        legacy = {k: d.pop(k) for k in ("dgro_beta_kl", "dgro_beta_reward", "dgro_min_variance") if k in d}
        if legacy and d.get("kind") == "dgro":
            d["kind"] = "dgro_seeds"
            d["settings"] = {"beta": legacy.get("dgro_beta_kl", SEEDS_DGRO["beta"]),
                             "dgro_beta_reward": legacy.get("dgro_beta_reward", SEEDS_DGRO["dgro_beta_reward"]),
                             "dgro_min_variance": legacy.get("dgro_min_variance", SEEDS_DGRO["dgro_min_variance"])}
        return cls(**d)

    @property
    def name(self) -> str:
        scale = "" if self.reward_scale == 1 else f"-r{self.reward_scale:g}"
        return f"{self.kind}{scale}-s{self.seed}"

    @property
    def label(self) -> str:
        """The arm's row in the tables: ``LABEL[kind]``, with the reward scale of a reward-range arm."""
        return LABEL[self.kind] + ("" if self.reward_scale == 1 else f", reward ×{self.reward_scale:g}")

    @property
    def trains(self) -> bool:
        return ARMS[self.kind].fields is not None

    def run_fields(self) -> dict:
        """The ``GRPORunConfig`` fields that define this arm (see the module table).

        >>> OrdebugArm("no_kl").run_fields()["beta"], OrdebugArm("asym_clip").run_fields()["epsilon_high"]
        (0.0, 0.28)
        >>> f = OrdebugArm("dgro", settings={"dgro_beta_1": 0.5}, reward_scale=4).run_fields()
        >>> f["loss_type"], f["advantage_method"], f["beta"], f["dgro_beta_1"]
        ('dgro', 'dr_grpo', 0.0, 2.0)
        >>> f = OrdebugArm("dgro_seeds").run_fields(); f["advantage_method"], f["beta"], f["dgro_beta_reward"]
        ('dgro', 0.001, 2.0)
        """
        fields = ARMS[self.kind].fields
        if fields is None:
            raise ValueError(f"arm kind {self.kind!r} does not train")
        return {**GRPO_FIELDS, **(fields(self) if callable(fields) else fields)}


def _config_default(name: str):
    from ..training.config import GRPORunConfig

    return {f.name: f.default for f in dataclasses.fields(GRPORunConfig)}[name]


def make_arms(kinds: Sequence[str], seeds: Sequence[int] = (0,), dgro: dict | None = None) -> list[OrdebugArm]:
    """The arms of ``kinds`` for every seed, trained arms first (they take longest), 'sft' once (seed 0:
    greedy evaluation does not depend on the RL seed). ``dgro``: the settings of the DGRO arms by kind,
    ``{"dgro": {dgro_beta_1, dgro_beta_2, reward_scales}, "dgro_seeds": {beta, dgro_beta_reward,
    dgro_min_variance}}`` (``DGRO_SETTINGS``); ``reward_scales`` (default [1]) makes one 'dgro' arm per scale
    (the paper's reward-range study; ``reward_range_scales``).

    >>> [a.name for a in make_arms(["sft", "grpo", "dgro"], seeds=[0, 1])]
    ['grpo-s0', 'dgro-s0', 'grpo-s1', 'dgro-s1', 'sft-s0']
    >>> [a.name for a in make_arms(["dgro", "dgro_seeds"], dgro={"dgro": {"reward_scales": [1, 0.05]}})]
    ['dgro-s0', 'dgro-r0.05-s0', 'dgro_seeds-s0']
    """
    dgro = dict(dgro or {})
    legacy = set(dgro) & {"beta_kl", "beta_reward", "min_variance"}
    if legacy:
        raise ValueError(
            f"dgro settings {sorted(legacy)} are those of seeds/000's variance-scaled advantage, whose arm is now "
            "'dgro_seeds' ('dgro' is the DGRO paper's objective, arXiv 2505.12951; issue 21): list 'dgro_seeds' in "
            "the arms and write dgro: {dgro_seeds: {beta: 0.001, dgro_beta_reward: 2.0, dgro_min_variance: 0.01}} "
            "(and, for the paper's arm, dgro: {dgro: {dgro_beta_1: ..., dgro_beta_2: ..., reward_scales: [...]}})")
    bad = set(dgro) - set(DGRO_SETTINGS)
    if bad:
        raise ValueError(f"unknown DGRO arm(s) {sorted(bad)} in the dgro settings; DGRO arms: {list(DGRO_SETTINGS)}")
    unused = [k for k in dgro if k not in kinds]
    if unused:
        raise ValueError(f"dgro settings for {unused}, which are not among the arms {list(kinds)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"arm kinds repeat: {list(kinds)}")
    paper = dict(dgro.get("dgro", {}))
    scales = paper.pop("reward_scales", [1.0])
    if not isinstance(scales, (list, tuple)) or not scales or len(set(scales)) != len(scales):
        raise ValueError(f"dgro reward_scales must be a non-empty list of distinct positive numbers, got {scales!r}")
    settings = {"dgro": paper, "dgro_seeds": dict(dgro.get("dgro_seeds", {}))}
    arms = []
    for s in seeds:
        for k in kinds:
            if k == "sft":
                continue
            for c in (scales if k == "dgro" else [1.0]):
                arms.append(OrdebugArm(k, s, settings=settings.get(k, {}), reward_scale=c))
    return arms + ([OrdebugArm("sft", 0)] if "sft" in kinds else [])


def reward_range_scales(ranges: Sequence[Sequence[float]], reward: str = "composite") -> list[float]:
    """The reward scales c (``make_arms(dgro={"dgro": {"reward_scales": ...}})``) that map the range of the
    ``reward`` component (``REWARD_RANGES``) onto each (lo, hi) of ``ranges``: c = (hi − lo)/(its hi − its lo).
    The shift of that map cancels in r − V (V the group mean), so the scale is the whole of a range's effect.

    >>> reward_range_scales([(-25, 100), (-1, 1), (-3, 3)])
    [1.0, 0.016, 0.048]
    """
    if reward not in REWARD_RANGES:
        raise ValueError(f"unknown reward {reward!r}; ranges known for {sorted(REWARD_RANGES)}")
    lo0, hi0 = REWARD_RANGES[reward]
    out = []
    for r in ranges:
        lo, hi = (float(x) for x in r)
        if not hi > lo:
            raise ValueError(f"a reward range needs lo < hi, got {list(r)}")
        out.append((hi - lo) / (hi0 - lo0))
    return out


def knob_activity(kind: str, rows: Sequence[dict]) -> dict | None:
    """How the arm's knob acted over its logged steps (None for an arm without one).

    >>> rows = [{"step": 1, "clip_ratio/high_mean": 0.0}, {"step": 2, "clip_ratio/high_mean": 0.03}]
    >>> k = knob_activity("asym_clip", rows)
    >>> k["acted"], k["steps_active"], k["max"]
    (True, 1, 0.03)
    >>> knob_activity("asym_clip", rows[:1])["acted"], knob_activity("grpo", rows) is None
    (False, True)
    """
    knob = KNOBS.get(kind)
    if knob is None:
        return None
    values = [float(r[knob.metric]) for r in rows if r.get(knob.metric) is not None]
    active = [v for v in values if v > knob.acted_above]
    return {"metric": knob.metric, "what": knob.what, "required": knob.required, "steps_logged": len(values),
            "steps_active": len(active), "max": max(values) if values else None,
            "mean": sum(values) / len(values) if values else None, "acted": bool(active)}


def check_knob(arm_name: str, knob: dict | None, require: bool = True) -> None:
    """Raise if the arm's required knob never acted (``knob_activity``), unless ``require`` is False."""
    if knob is not None and knob["required"] and not knob["acted"] and require:
        raise RuntimeError(f"{arm_name}: its knob never acted ({knob['metric']} was at most {knob['max']} over "
                           f"{knob['steps_logged']} logged steps: {knob['what']}); the arm measures nothing it "
                           "claims. Its evaluation is in eval.json; change the schedule (e.g. num_iterations ≥ 2 "
                           "for clip-higher) or pass require_knobs=False to keep such a run")


TASK_FIELDS = {"max_turns": "max_turns", "max_new_tokens_per_turn": "max_new_tokens"}
"""RL fields (``GRPORunConfig``) that are the evaluation's settings (under their name there): one task, one value."""


def one_task(grpo: dict, max_turns: int, max_new_tokens: int, max_prompt_tokens: int) -> dict:
    """The shared GRPO settings with the episode of the evaluation: RL trains the task it is evaluated on.

    RL's episode budget ``max_turns`` is the evaluation's (the observations say "step k of K"
    and the efficiency reward counts K), its ``max_new_tokens_per_turn`` the evaluation's ``max_new_tokens``,
    and its context ``max_context_tokens`` = ``max_prompt_tokens`` + ``max_new_tokens``: a turn whose prompt
    passes ``max_prompt_tokens`` ends the episode as a timeout in both (evaluation with
    ``context_policy='end'``). Missing fields are filled in (``max_completion_length``: K × tokens per
    turn); a field set to another value raises.

    >>> g = one_task({"learning_rate": 1e-4}, max_turns=20, max_new_tokens=48, max_prompt_tokens=4048)
    >>> g["max_turns"], g["max_new_tokens_per_turn"], g["max_context_tokens"], g["max_completion_length"]
    (20, 48, 4096, 960)
    >>> one_task({"max_turns": 6}, 20, 48, 4048)
    Traceback (most recent call last):
    ...
    ValueError: grpo max_turns=6 but the evaluation's max_turns=20: RL would train another task than the one evaluated (leave max_turns out: it is the evaluation's)
    """
    out = dict(grpo)
    want = {"max_turns": max_turns, "max_new_tokens_per_turn": max_new_tokens,
            "max_context_tokens": max_prompt_tokens + max_new_tokens}
    for name, value in want.items():
        if name in out and out[name] != value:
            other = TASK_FIELDS.get(name)
            what = (f"the evaluation's {other}={value}" if other else
                    f"max_prompt_tokens + max_new_tokens = {max_prompt_tokens} + {max_new_tokens} = {value}")
            source = "the evaluation's" if other == name else other or "derived"
            raise ValueError(f"grpo {name}={out[name]} but {what}: RL would train another task than the one "
                             f"evaluated (leave {name} out: it is {source})")
        out[name] = value
    out.setdefault("max_completion_length", max_turns * max_new_tokens)
    return out


def arm_jobs(arms: Sequence[OrdebugArm], root: str | Path, warm_start_dir: str | Path, benchmark_dir: str | Path,
             grpo: dict, n_train: int | None = None, n_eval: int | None = None, max_turns: int = 20,
             max_new_tokens: int = 48, max_prompt_tokens: int = 3584, eval_batch_size: int = 64,
             eval_seed: int = 0, device: str = "auto", curriculum: Sequence[Sequence[str]] | None = None,
             require_knobs: bool = True) -> list[Job]:
    """One ``jobs.Job`` per arm, in ``root/<arm name>``. ``grpo``: the ``GRPORunConfig`` fields every arm
    shares (steps, group size, turns, learning rate, reward, temperature, ...); the evaluation settings
    (``max_turns`` of an episode, tokens per action, prompt limit) are the warm start's evaluation's, and
    RL's episodes are the same (``one_task``: its fields are filled in from them, a mismatch raises).
    ``curriculum``: the stages of a 'curriculum' arm (default ``CURRICULUM``), whose ``max_steps`` is the
    total over its stages (``stage_steps``); only curriculum arms' specs carry it. ``require_knobs``: an arm
    whose ``KNOBS`` entry never acted in its run fails (after writing its evaluation)."""
    clash = set(grpo) & set(PER_ARM_FIELDS)
    if clash:
        raise ValueError(f"{sorted(clash)} are set per arm, not in the shared GRPO settings")
    grpo = one_task(grpo, max_turns, max_new_tokens, max_prompt_tokens)
    from ..training.config import GRPORunConfig

    stages = check_stages(CURRICULUM if curriculum is None else curriculum)
    for a in arms:  # fail here, not in a subprocess
        if a.trains:
            cfg = GRPORunConfig.from_dict({**grpo, **a.run_fields(), "seed": a.seed})
            if a.kind == "curriculum":
                curriculum_configs(cfg, stages)
    root = Path(root)

    def spec(a):
        s = {"arm": dataclasses.asdict(a), "grpo": dict(grpo), "warm_start": str(Path(warm_start_dir).resolve()),
             "benchmark": str(Path(benchmark_dir).resolve()), "n_train": n_train, "n_eval": n_eval,
             "max_turns": max_turns, "max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens,
             "eval_batch_size": eval_batch_size, "eval_seed": eval_seed, "device": device, "context_policy": "end",
             "require_knobs": require_knobs}
        return {**s, "curriculum": [list(st) for st in stages]} if a.kind == "curriculum" else s

    return [Job(a.name, MODULE, root / a.name, spec(a)) for a in arms]


def split_instances(benchmark_dir: str | Path, n_train: int | None = None, n_eval: int | None = None):
    """(RL prompts: the train split, evaluation set: the test split) of the benchmark; the test split is
    disjoint from the train split by construction (``ordebug.dataset``), checked here on the ids."""
    from ..ordebug.dataset import load_benchmark

    train = load_benchmark(benchmark_dir, "train")[:n_train]
    test = load_benchmark(benchmark_dir, "test")[:n_eval]
    if not train or not test:
        raise ValueError(f"the benchmark at {benchmark_dir} has {len(train)} train and {len(test)} test instances; "
                         "build more per cell")
    both = {i.id for i in train} & {i.id for i in test}
    if both:
        raise ValueError(f"train and test splits share instances {sorted(both)[:3]}")
    return train, test


# -- curriculum (seeds/003 Task 4) ---------------------------------------------------------------------------
def check_stages(stages: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """The stages as tuples, each a non-empty list of known, distinct difficulties.

    >>> check_stages([["easy"], ["easy", "medium"]])
    (('easy',), ('easy', 'medium'))
    """
    from ..ordebug.instance import DIFFICULTIES

    out = tuple(tuple(s) for s in stages)
    if not out:
        raise ValueError("a curriculum needs at least one stage")
    for s in out:
        if not s or len(set(s)) != len(s) or set(s) - set(DIFFICULTIES):
            raise ValueError(f"curriculum stage {list(s)}: give distinct difficulties among {DIFFICULTIES}")
    return out


def stage_steps(total: int, n_stages: int) -> list[int]:
    """Optimizer steps of each stage: ``total`` split as evenly as possible, earlier stages taking the
    remainder; every stage gets at least one step.

    >>> stage_steps(12, 4), stage_steps(10, 4)
    ([3, 3, 3, 3], [3, 3, 2, 2])
    """
    if total < n_stages:
        raise ValueError(f"{total} RL steps cannot cover {n_stages} curriculum stages (at least one step each)")
    q, r = divmod(total, n_stages)
    return [q + (k < r) for k in range(n_stages)]


def curriculum_stages(instances: Sequence, stages: Sequence[Sequence[str]] = CURRICULUM) -> list[list]:
    """The instances each stage trains on: those whose ``difficulty`` is one of the stage's, in their
    order. A stage without instances raises (the benchmark lacks a difficulty).

    >>> from types import SimpleNamespace as I
    >>> insts = [I(id=1, difficulty="hard"), I(id=2, difficulty="easy"), I(id=3, difficulty="medium")]
    >>> [[i.id for i in s] for s in curriculum_stages(insts)]
    [[2], [2, 3], [1, 3], [1]]
    """
    out = []
    for s in check_stages(stages):
        got = [i for i in instances if i.difficulty in s]
        if not got:
            have = sorted({i.difficulty for i in instances})
            raise ValueError(f"curriculum stage {'+'.join(s)} has no instances (the instances' difficulties: {have})")
        out.append(got)
    return out


def curriculum_configs(cfg, stages: Sequence[Sequence[str]] = CURRICULUM) -> list:
    """One ``GRPORunConfig`` per stage: ``cfg`` with ``max_steps`` its share of ``cfg.max_steps`` (the
    total, as for the plain GRPO arm). Each stage is a fresh trainer (a fresh optimizer state), so a
    learning-rate schedule or warm-up would restart at every stage; they are refused to keep the
    comparison with one uninterrupted GRPO run about the data order only."""
    stages = check_stages(stages)
    if cfg.lr_scheduler_type != "constant" or cfg.warmup_steps:
        raise ValueError("a curriculum arm needs lr_scheduler_type 'constant' and warmup_steps 0 (each stage "
                         f"would restart the schedule), got {cfg.lr_scheduler_type!r}, warmup {cfg.warmup_steps}")
    return [dataclasses.replace(cfg, max_steps=n) for n in stage_steps(cfg.max_steps, len(stages))]


def _param_checksum(model) -> float:
    import torch

    with torch.no_grad():
        return float(sum(p.detach().double().abs().sum().item() for p in model.parameters()))


def train_curriculum(cfg, model, tokenizer, instances: Sequence, out_dir: str | Path,
                     stages: Sequence[Sequence[str]] = CURRICULUM, **overrides):
    """Train ``model`` on the stages one after another (``build_ordebug_trainer`` on each stage's
    instances, ``curriculum_configs`` steps, into ``out_dir/stage_<k>``, k from 1); stage k starts from
    stage k−1's weights. The KL reference (β > 0) stays the starting policy: TRL reloads it from
    ``model.config._name_or_path``, which training leaves alone (recorded per stage). Writes the
    concatenated ``metrics.jsonl`` (global ``step``, ``stage``, ``stage_step``, ``stage_difficulties``) and
    ``curriculum.json``; returns the trained model."""
    import gc

    import torch

    from ..training.logging import read_metrics
    from ..training.run import build_ordebug_trainer

    out = Path(out_dir)
    stages = check_stages(stages)
    configs = curriculum_configs(cfg, stages)
    parts = curriculum_stages(instances, stages)
    rows, record, offset = [], [], 0
    for k, (diffs, scfg, insts) in enumerate(zip(stages, configs, parts), start=1):
        d = out / f"stage_{k}"
        start_sum, reference = _param_checksum(model), getattr(model.config, "_name_or_path", None)
        t0 = time.perf_counter()
        trainer = build_ordebug_trainer(scfg, model, tokenizer, insts, d, **overrides)
        trainer.train()
        model = trainer.model
        train_s = time.perf_counter() - t0
        if trainer.state.global_step != scfg.max_steps:
            raise RuntimeError(f"stage {k} stopped at step {trainer.state.global_step}, not its {scfg.max_steps}")
        stage_rows = read_metrics(d / "metrics.jsonl")
        rows += [{**r, "step": r["step"] + offset, "stage": k, "stage_step": r["step"],
                  "stage_difficulties": "+".join(diffs)} for r in stage_rows]
        record.append({"stage": k, "difficulties": list(diffs), "steps": scfg.max_steps, "first_step": offset + 1,
                       "last_step": offset + scfg.max_steps, "n_instances": len(insts),
                       "n_left_out": len(trainer.ordebug_left_out), "train_s": train_s, "reference": reference,
                       "param_checksum_start": start_sum, "param_checksum_end": _param_checksum(model)})
        offset += scfg.max_steps
        del trainer  # its optimizer state and reference model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    with (out / "metrics.jsonl").open("w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    (out / "curriculum.json").write_text(json.dumps({"total_steps": cfg.max_steps, "stages": record}, indent=2) + "\n")
    return model


def run_arm(spec: dict, out_dir: str | Path) -> dict:
    """Train one arm (unless it is 'sft'), evaluate it on the test split, write its files; returns the summary."""
    import torch

    from ..ordebug.metrics import aggregate
    from ..policy.generation import SamplingConfig
    from ..policy.loader import load_policy, resolve_device
    from ..policy.ordebug_episodes import evaluate_lm
    from ..provenance import device_info

    out = Path(out_dir)
    arm = OrdebugArm.from_dict(spec["arm"])
    device = resolve_device(spec["device"])
    torch.manual_seed(arm.seed)
    train, test = split_instances(spec["benchmark"], spec["n_train"], spec["n_eval"])
    policy = load_policy(spec["warm_start"], device=device, seed=arm.seed)
    model, tok = policy.model, policy.tokenizer
    timings = {}
    if arm.trains:
        from ..training.config import GRPORunConfig
        from ..training.run import build_ordebug_trainer

        cfg = GRPORunConfig.from_dict({**spec["grpo"], **arm.run_fields(), "seed": arm.seed, "save_final": False})
        overrides = {"use_cpu": True} if device == "cpu" else {}
        t0 = time.perf_counter()
        if arm.kind == "curriculum":  # the stages one after another, each from the previous one's weights
            model = train_curriculum(cfg, model, tok, train, out, spec["curriculum"], **overrides)
        else:
            trainer = build_ordebug_trainer(cfg, model, tok, train, out, **overrides)
            trainer.train()
            model = trainer.model
        timings["train_s"] = time.perf_counter() - t0
    model.eval()
    t0 = time.perf_counter()
    sampling = SamplingConfig(max_new_tokens=spec["max_new_tokens"], temperature=0.0,
                              batch_size=spec["eval_batch_size"], seed=spec["eval_seed"])
    db = out / "results.sqlite"
    db.unlink(missing_ok=True)  # a rerun of this arm evaluates its new weights
    with torch.no_grad():
        df, episodes = evaluate_lm(model, tok, test, db, arm.name, seed=spec["eval_seed"], max_turns=spec["max_turns"],
                                   batch_size=spec["eval_batch_size"], sampling=sampling,
                                   max_prompt_tokens=spec["max_prompt_tokens"],
                                   context_policy=spec.get("context_policy", "trim"))
    timings["eval_s"] = time.perf_counter() - t0
    if len(df) != len(test):
        raise RuntimeError(f"{arm.name}: {len(df)} evaluation rows for {len(test)} test instances")
    agg = {k: (None if isinstance(v, float) and v != v else v) for k, v in aggregate(df).iloc[0].to_dict().items()}
    n_actions = sum(len(e.output_tokens) for e in episodes)
    arm_fields = {k: v for k, v in dataclasses.asdict(arm).items() if k != "settings"}
    arm_fields.update({f"setting_{k}": v for k, v in arm.settings.items()})  # flat: the summaries stay one table
    summary = {"arm": arm.name, **arm_fields, "n_train": len(train), **agg,
               "context_trims": sum(e.context_trims for e in episodes),
               "mean_output_tokens_per_action": sum(sum(e.output_tokens) for e in episodes) / max(1, n_actions)}
    knob = None
    if arm.trains:
        from ..training.logging import read_metrics

        knob = knob_activity(arm.kind, read_metrics(out / "metrics.jsonl"))
        if knob is not None:  # flat, so that the summaries stay one table (load_arm_results)
            summary.update({f"knob_{k}": v for k, v in knob.items() if k != "what"})
    (out / "eval.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    check_knob(arm.name, knob, spec.get("require_knobs", True))
    mark_done(out, spec, summary=summary, timings_s=timings, device=device_info())
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(f"usage: python -m {MODULE} SPEC.json")
    spec_path = Path(argv[0])
    summary = run_arm(json.loads(spec_path.read_text()), spec_path.parent)
    print(json.dumps({k: summary.get(k) for k in ("arm", "n", "RR", "RR@5", "faithful_recovery", "DA", "avg_steps")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- warm start --------------------------------------------------------------------------------------------
def warm_start_config(d: dict):
    """``OrdebugSFTConfig`` from a notebook's ``warm_start_config`` dict (``sft``: a dict of
    ``SFTRunConfig`` fields; lists become tuples). Unknown keys raise."""
    from ..policy.ordebug_sft import OrdebugSFTConfig
    from ..policy.sft import SFTRunConfig

    d = dict(d)
    names = {f.name for f in dataclasses.fields(OrdebugSFTConfig)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown OrdebugSFTConfig field(s) {sorted(unknown)}; valid: {sorted(names)}")
    sft = d.pop("sft", None)
    if sft is not None:
        sft_names = {f.name for f in dataclasses.fields(SFTRunConfig)}
        if set(sft) - sft_names:
            raise ValueError(f"unknown SFTRunConfig field(s) {sorted(set(sft) - sft_names)}")
        d["sft"] = SFTRunConfig(**sft)
    return OrdebugSFTConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# -- collecting results -------------------------------------------------------------------------------------
def load_arm_results(root: str | Path, arms: Sequence[OrdebugArm], instances: Sequence | None = None):
    """(summaries: one row per arm, rows: one row per arm and test episode, curves: one row per trained arm
    and logged step) as DataFrames. ``instances``: the test instances; every arm must have evaluated each
    once, and the rows' error type / difficulty / family are checked against them."""
    import pandas as pd

    from ..ordebug.results import load_results
    from ..training.logging import read_metrics

    root = Path(root)
    summaries, rows, curves = [], [], []
    meta = None if instances is None else {i.id: (i.error_type, i.difficulty, i.family) for i in instances}
    for a in arms:
        d = root / a.name
        done = json.loads((d / "done.json").read_text())
        summaries.append({**json.loads((d / "eval.json").read_text()), "label": a.label, **done["timings_s"]})
        r = load_results(d / "results.sqlite", policy=a.name).assign(arm=a.name, kind=a.kind, label=a.label,
                                                                      rl_seed=a.seed)
        if meta is not None:
            if sorted(r["instance_id"]) != sorted(meta):
                raise ValueError(f"{a.name} evaluated {len(r)} episodes, not each of the {len(meta)} test instances once")
            got = list(zip(r["error_type"], r["difficulty"], r["family"]))
            if got != [meta[i] for i in r["instance_id"]]:
                raise ValueError(f"{a.name}: stored error type / difficulty / family differ from the instances'")
        rows.append(r)
        if a.trains:
            for row in read_metrics(d / "metrics.jsonl"):
                curves.append({"arm": a.name, "kind": a.kind, "label": a.label, "seed": a.seed, **row})
    return pd.DataFrame(summaries), pd.concat(rows, ignore_index=True), pd.DataFrame(curves)


def baseline_rows(db_path: str | Path, names: Sequence[str], instances: Sequence, seed: int = 0):
    """The baseline ladder's episode rows on ``instances`` (written by ``data.parallel_baselines``)."""
    from ..ordebug.results import load_results

    df = load_results(db_path, seed=seed)
    ids = {i.id for i in instances}
    df = df[df["policy"].isin(list(names)) & df["instance_id"].isin(ids)]
    for n in names:
        if (df["policy"] == n).sum() != len(ids):
            raise ValueError(f"baseline {n!r} has {(df['policy'] == n).sum()} rows for {len(ids)} instances")
    return df.assign(arm=df["policy"], kind=df["policy"], label=df["policy"].map(BASELINE_LABEL), rl_seed=seed)


def _ordered_labels(rows) -> list[str]:
    """The labels in ``LABEL`` order, then the baselines'; a reward-range arm ("DGRO, reward ×c") right after
    its kind's label, by scale."""
    order = list(LABEL.values()) + list(BASELINE_LABEL.values())

    def key(label):
        if label in order:
            return order.index(label), 1.0
        base, _, scale = label.rpartition(", reward ×")
        return order.index(base), float(scale)

    return sorted(rows["label"].unique(), key=key)


def results_table(rows):
    """The seeds/000 table: per policy (SFT, each RL arm pooled over its seeds, each baseline) the
    episodes, seeds, RR, RR@5/10/15/20, faithful recovery, DA and average steps on the test split."""
    import pandas as pd

    from ..ordebug.metrics import aggregate

    agg = aggregate(rows, by="label")
    out = []
    for label in _ordered_labels(rows):
        g = rows[rows["label"] == label]
        out.append({"policy": label, "episodes": int(agg.loc[label, "n"]), "seeds": g["rl_seed"].nunique(),
                    **{m: float(agg.loc[label, m]) for m in TABLE_METRICS}})
    return pd.DataFrame(out)


PAIRED = {"faithful_recovery": "faithful", "DA": "diagnosis_recall", "RR@5": "rr_at_5"}
EPISODE_COLUMNS = ("arm", "kind", "label", "rl_seed", "instance_id", "family", "error_type", "difficulty", "steps",
                   "submitted", "truncated", "feasible_end", "faithful", "exact_repair", "diagnosis_recall",
                   "diagnosis_precision", *(f"rr_at_{k}" for k in (5, 10, 15, 20)), "failure_class")


def episode_table(rows):
    """The per-episode rows a report commits (no trajectories): enough to recompute every table and test."""
    missing = [c for c in EPISODE_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"episode rows lack {missing}")
    return rows[list(EPISODE_COLUMNS)].reset_index(drop=True)


def paired_to_reference(rows, reference: str = "sft", metrics: dict[str, str] = PAIRED):
    """Every other policy (arm kinds pooled over their RL seeds, baselines) against ``reference`` (a kind), per
    metric: the paired per-instance test (``stats.paired_test`` on each instance's value averaged over the seeds,
    so seeds on the same instances do not count as more instances), its 95% CI, the minimum detectable effect,
    the between-seed spread of the policy's mean and its SE (the reference, one evaluation, counts as fixed), and
    ``stats.verdict``: "beyond the CI", "within the seed spread" (only the problem CI excludes 0) or "not detected".

    >>> import pandas as pd
    >>> r = pd.DataFrame({"kind": ["sft"] * 4 + ["grpo"] * 8, "label": ["SFT (no RL)"] * 4 + ["GRPO"] * 8,
    ...                   "rl_seed": [0] * 4 + [0] * 4 + [1] * 4, "instance_id": list("abcd") * 3,
    ...                   "faithful": [0, 0, 1, 0] + [1, 0, 1, 0] + [1, 1, 1, 0]})
    >>> t = paired_to_reference(r, metrics={"faithful_recovery": "faithful"}).iloc[0]
    >>> t["policy"], int(t["instances"]), int(t["seeds"]), float(t["policy mean"]), float(t["reference mean"])
    ('GRPO', 4, 2, 0.625, 0.25)
    >>> round(float(t["diff"]), 3), round(float(t["se"]), 3), t["verdict"]   # per instance 1, .5, 0, 0
    (0.375, 0.239, 'not detected')
    >>> round(float(t["seed se"]), 3)   # seed means 0.5 and 0.75
    0.125
    """
    import pandas as pd

    from .stats import paired_test, seed_se, verdict

    ref = rows[rows["kind"] == reference]
    if ref.empty:
        raise ValueError(f"no episodes of the reference {reference!r}")
    if ref["rl_seed"].nunique() != 1:
        raise ValueError(f"the reference {reference!r} must be one evaluation, got seeds {sorted(ref['rl_seed'].unique())}")
    ref = ref.set_index("instance_id")
    out = []
    for label in [x for x in _ordered_labels(rows) if x not in set(ref["label"])]:
        g = rows[rows["label"] == label]
        for name, col in metrics.items():
            wide = g.pivot_table(index="instance_id", columns="rl_seed", values=col, aggfunc="mean")  # (instances, seeds)
            wide = wide.astype(float)
            if set(wide.index) != set(ref.index) or wide.isna().any().any():
                raise ValueError(f"{label}: not every seed evaluated the reference's instances ({name})")
            per_seed = wide.mean(axis=0)
            t = paired_test(wide.mean(axis=1).to_numpy(), ref.loc[wide.index, col].astype(float).to_numpy())
            spread = seed_se(per_seed)
            lo, hi = t["diff"] - 1.96 * t["se"], t["diff"] + 1.96 * t["se"]
            out.append({"policy": label, "metric": name, "instances": t["n"], "seeds": wide.shape[1],
                        "policy mean": t["a"], "reference mean": t["b"], "diff": t["diff"], "se": t["se"],
                        "ci low": lo, "ci high": hi, "p": t["p"], "mde": t["mde"],
                        "seed sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan"),
                        "seed se": spread, "verdict": verdict(t["diff"], t["se"], spread)})
    return pd.DataFrame(out)


def breakdown_table(rows, key: str, metrics: Sequence[str] = ("RR@5", "faithful_recovery", "DA", "avg_steps")):
    """One row per (policy, ``key`` value), e.g. key 'error_type' or 'difficulty': episodes and metrics."""
    from ..ordebug.metrics import aggregate

    agg = aggregate(rows, by=["label", key]).reset_index()
    agg["_o"] = agg["label"].map(_ordered_labels(rows).index)
    agg = agg.sort_values(["_o", key]).rename(columns={"label": "policy", "n": "episodes"})
    return agg[["policy", key, "episodes", *metrics]].reset_index(drop=True)


TREND_COLUMNS = {"ordebug/reward/mean": "reward", "ordebug/reward/std": "reward_std",
                 "ordebug/groups/zero_std_frac": "zero_std_frac", "ordebug/env/faithful_rate": "faithful_rate",
                 "ordebug/env/steps_mean": "steps"}


def curve_trends(curves):
    """Per trained arm: training reward, reward std, zero-std group fraction, faithful rate and episode
    steps over the first and the last quarter of training (NaN where a key was never logged)."""
    import numpy as np
    import pandas as pd

    out = []
    for arm, g in curves.sort_values("step").groupby("arm", sort=False):
        row = {"arm": arm, "label": g["label"].iloc[0], "steps": int(g["step"].max())}
        for col, short in TREND_COLUMNS.items():
            first, last = first_last_means(g[col].astype(float)) if col in g and g[col].notna().any() else (np.nan, np.nan)
            row[f"{short}_first"], row[f"{short}_last"] = first, last
        out.append(row)
    return pd.DataFrame(out)


def findings(table, trends, n_eval: int, seeds: Sequence[int], reward: str, tolerance: float | None = None,
             paired=None) -> list[str]:
    """Sentences computed from the results (no hand-written claims): each RL arm against SFT on RR@5,
    faithful recovery and DA (and whether it moves past SFT), where SFT stands on the baseline ladder, and
    the reward-variance trend of each trained arm. A change counts only beyond ``tolerance`` (default:
    ``stats.noise_band``, two binomial standard errors of the difference on ``n_eval`` episodes).

    With ``paired`` (``paired_to_reference``'s table) each RL arm's sentence is its paired per-instance test
    instead: the difference, its 95% CI, the MDE and ``stats.verdict`` per metric ("not detected", never "no").

    >>> import pandas as pd
    >>> t = pd.DataFrame({"policy": ["SFT (no RL)", "GRPO"], "RR@5": [.4, .5], "faithful_recovery": [.1, .1],
    ...                   "DA": [.2, .2], "avg_steps": [12.0, 11.0]})
    >>> pr = pd.DataFrame({"policy": ["GRPO"] * 3, "metric": ["RR@5", "faithful_recovery", "DA"],
    ...                    "instances": 378, "seeds": 3, "diff": [.1, .0, .0], "ci low": [.05, -.02, -.03],
    ...                    "ci high": [.15, .02, .03], "mde": [.04, .03, .04], "verdict": ["beyond the CI",
    ...                    "not detected", "not detected"]})
    >>> findings(t, pd.DataFrame(columns=["arm"]), 378, [0, 1, 2], "composite", paired=pr)[0]  # doctest: +NORMALIZE_WHITESPACE
    'GRPO against SFT, paired over 378 instances (3 RL seeds): RR@5 +10.0% (CI +5.0% to +15.0%, MDE 4.0%; beyond
     the CI); faithful_recovery +0.0% (CI -2.0% to +2.0%, MDE 3.0%; not detected); DA +0.0% (CI -3.0% to +3.0%,
     MDE 4.0%; not detected); average steps 12.0 → 11.0.'
    """
    from .stats import noise_band

    t = table.set_index("policy")
    sft = t.loc[LABEL["sft"]] if LABEL["sft"] in t.index else None
    out = []

    def band(a, b):
        return noise_band(a, b, n_eval) if tolerance is None else tolerance

    def verb(a, b):
        return "within noise" if abs(b - a) <= band(a, b) + 1e-12 else ("up" if b > a else "down")

    if sft is not None:
        for label in [p for p in t.index if p != LABEL["sft"] and not p.startswith("baseline")]:
            r = t.loc[label]
            if paired is not None and label in set(paired["policy"]):
                out.append(_paired_sentence(paired[paired["policy"] == label], label)
                           + f"; average steps {sft['avg_steps']:.1f} → {r['avg_steps']:.1f}.")
                continue
            parts = [f"{m} {sft[m]:.1%} → {r[m]:.1%} ({verb(sft[m], r[m])})" for m in ("RR@5", "faithful_recovery", "DA")]
            moved = [m for m in ("RR@5", "faithful_recovery", "DA") if r[m] - sft[m] > band(sft[m], r[m])]
            worse = [m for m in ("RR@5", "faithful_recovery", "DA") if sft[m] - r[m] > band(sft[m], r[m])]
            answer = ("Yes" if moved and not worse else "Mixed" if moved else "No")
            out.append(f"Does {label} move past SFT? {answer}: " + "; ".join(parts)
                       + f"; average steps {sft['avg_steps']:.1f} → {r['avg_steps']:.1f}.")
        ladder = [p for p in t.index if p.startswith("baseline")]
        if ladder:
            below = [p.split(": ")[1] for p in ladder if t.loc[p, "faithful_recovery"] - sft["faithful_recovery"]
                     > band(sft["faithful_recovery"], t.loc[p, "faithful_recovery"])]
            out.append(f"SFT's faithful recovery {sft['faithful_recovery']:.1%} against the ladder ("
                       + ", ".join(f"{p.split(': ')[1]} {t.loc[p, 'faithful_recovery']:.1%}" for p in ladder)
                       + "): " + (f"below {', '.join(below)}." if below else "at or above every baseline."))
    for _, r in trends.iterrows():
        out.append(f"{r['arm']}: training reward std ({reward} reward) {r['reward_std_first']:.3g} → "
                   f"{r['reward_std_last']:.3g}, zero-std groups {r['zero_std_frac_first']:.0%} → "
                   f"{r['zero_std_frac_last']:.0%} (first vs last quarter of {r['steps']} steps).")
    out.append(f"Evaluation: {n_eval} test-split instances (disjoint from the RL and SFT instances), greedy decoding; "
               + (f"single RL seed ({seeds[0]}): one episode is {1 / n_eval:.1%}, and differences of a few episodes "
                  "are within run-to-run noise." if len(seeds) == 1 else f"RL seeds {list(seeds)}, episodes pooled."))
    return out


def _paired_sentence(rows, label: str) -> str:
    """One policy's paired tests against SFT (rows of ``paired_to_reference`` for ``label``), in one sentence."""
    first = rows.iloc[0]
    parts = [f"{r['metric']} {r['diff']:+.1%} (CI {r['ci low']:+.1%} to {r['ci high']:+.1%}, MDE {r['mde']:.1%}; "
             f"{r['verdict']})" for _, r in rows.iterrows()]
    return (f"{label} against SFT, paired over {int(first['instances'])} instances ({int(first['seeds'])} RL seed"
            f"{'s' if int(first['seeds']) != 1 else ''}): " + "; ".join(parts))


def write_report(path: str | Path, title: str, intro: str, setup: dict, table, by_type, by_difficulty,
                 found: Sequence[str]) -> Path:
    """The markdown report: setup, the seeds/000 table, the breakdowns, the computed findings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", intro, "", "## Setup", ""]
    lines += [f"- **{k}**: {v}" for k, v in setup.items()]
    lines += ["", "## Results on the test split", "", table.to_markdown(index=False, floatfmt=".3g"), "",
              "## By error type", "", by_type.to_markdown(index=False, floatfmt=".3g"), "",
              "## By difficulty", "", by_difficulty.to_markdown(index=False, floatfmt=".3g"), "",
              "## Findings (computed)", ""]
    lines += [f"- {s}" for s in found]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- curriculum analysis ---------------------------------------------------------------------------------------
def stage_table(curves):
    """One row per (curriculum arm, stage) of the concatenated curves: difficulties, global steps, and
    the stage's mean training reward, reward std, zero-std group fraction, faithful rate and episode steps.
    Rewards of different stages come from different difficulty mixes, so they are not a learning curve."""
    import numpy as np
    import pandas as pd

    if "stage" not in curves or curves["stage"].isna().all():
        return pd.DataFrame(columns=["arm", "stage", "difficulties", "first_step", "last_step"])
    out = []
    for (arm, stage), g in curves[curves["stage"].notna()].groupby(["arm", "stage"], sort=True):
        row = {"arm": arm, "stage": int(stage), "difficulties": g["stage_difficulties"].iloc[0],
               "first_step": int(g["step"].min()), "last_step": int(g["step"].max())}
        for col, short in TREND_COLUMNS.items():
            row[short] = float(g[col].astype(float).mean()) if col in g and g[col].notna().any() else np.nan
        out.append(row)
    return pd.DataFrame(out)


def mark_stages(fig, stages, label_axes: int = 1) -> None:
    """Dashed vertical lines at the curriculum's stage boundaries on every panel of ``fig`` (a
    ``stage_table``), the stages' difficulties written at the top of the first ``label_axes`` panels."""
    if stages is None or not len(stages):
        return
    for i, ax in enumerate(fig.axes):
        for _, r in stages.drop_duplicates("stage").iterrows():
            if r["first_step"] > stages["first_step"].min():
                ax.axvline(r["first_step"] - 0.5, color="0.4", ls="--", lw=0.9)
            if i < label_axes:
                ax.text((r["first_step"] + r["last_step"]) / 2, 1.0, f"{int(r['stage'])}: {r['difficulties']}",
                        transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7, color="0.3")


def curriculum_findings(table, by_difficulty, stages, n_eval: int, metrics: Sequence[str] = ("RR@5", "faithful_recovery", "DA"),
                        tolerance: float | None = None) -> list[str]:
    """Sentences computed from the results: the curriculum arm against the plain GRPO arm (the same total
    RL steps) on the test split, overall and per difficulty (each on its own episode count), and each
    stage's training signal. A change counts only beyond ``tolerance`` (default ``stats.noise_band``)."""
    from .stats import noise_band

    cur, grpo = LABEL["curriculum"], LABEL["grpo"]
    t = table.set_index("policy")
    out = []
    if cur not in t.index or grpo not in t.index:
        return out

    def verb(a, b, n):
        band = noise_band(a, b, n) if tolerance is None else tolerance
        return "within noise" if abs(b - a) <= band + 1e-12 else ("up" if b > a else "down"), band

    calls = {m: verb(t.loc[grpo, m], t.loc[cur, m], n_eval) for m in metrics}
    up = [m for m, (v, _) in calls.items() if v == "up"]
    down = [m for m, (v, _) in calls.items() if v == "down"]
    answer = "Yes" if up and not down else "Mixed" if up else "No"
    out.append(f"Does the curriculum beat plain GRPO with the same number of RL steps? {answer}: "
               + "; ".join(f"{m} {t.loc[grpo, m]:.1%} → {t.loc[cur, m]:.1%} ({calls[m][0]}, band ±{calls[m][1]:.1%})"
                           for m in metrics)
               + f"; average steps {t.loc[grpo, 'avg_steps']:.1f} → {t.loc[cur, 'avg_steps']:.1f}.")
    bd = by_difficulty.set_index(["policy", "difficulty"])
    for diff in sorted(by_difficulty["difficulty"].unique(), key=["easy", "medium", "hard"].index):
        if (grpo, diff) not in bd.index or (cur, diff) not in bd.index:
            continue
        g, c = bd.loc[(grpo, diff)], bd.loc[(cur, diff)]
        n = int(c["episodes"])
        parts = [f"{m} {g[m]:.1%} → {c[m]:.1%} ({verb(g[m], c[m], n)[0]})" for m in metrics if m in bd.columns]
        out.append(f"{diff} test instances ({n} episode{'' if n == 1 else 's'}), GRPO → curriculum: " + "; ".join(parts) + ".")
    for _, r in stages.iterrows():
        out.append(f"{r['arm']} stage {r['stage']} ({r['difficulties']}, steps {r['first_step']}–{r['last_step']}): "
                   f"training reward std {r['reward_std']:.3g}, zero-std groups {r['zero_std_frac']:.0%}, "
                   f"faithful rate {r['faithful_rate']:.0%} (stage means; its difficulty mix differs from the others').")
    return out


def append_section(path: str | Path, title: str, text: str, df=None) -> Path:
    """Append a ``## title`` section (a paragraph and optionally a table) to a report."""
    path = Path(path)
    lines = ["", f"## {title}", "", text]
    if df is not None:
        lines += ["", df.to_markdown(index=False, floatfmt=".3g")]
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n")
    return path
