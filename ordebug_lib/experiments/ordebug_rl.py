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
``prm_sum``      GRPO on c·r + λ·Σ_k p_k, p_k the PRM's score    seeds/001 Strategy 2 (summed PRM reward)
                 of step k (``step_credit='prm_sum'``)
``pure_min``     each action token gets PURE's min-form step     PURE arXiv 2504.15275 (``step_credit.py``)
                 advantage of the PRM's process rewards
``gigpo``        episode + anchor-state step advantages, no PRM  GiGPO arXiv 2505.10978 Eq. 3–8
===============  ==============================================  =========================================

The E9 arms (notebook 25) ``failure_curriculum``, ``uniform_control`` and ``self_play`` are GRPO on training sets
chosen from the warm start's train/val evaluation and generated instances (``self_play.py``, its table); their specs
carry the ``self_play`` settings.

The three step-credit arms (E8, notebook 24) need the PRM's ``prm_path`` in the shared settings, where it also
makes every trained arm log the reward-hacking detector (``training/trainer.py``).

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
What the arms wrote is read, tabulated, paired against SFT and reported by ``ordebug_report``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .jobs import Job, mark_done

MODULE = "ordebug_lib.experiments.ordebug_rl"
GRPO_BETA = 0.04  # DeepSeekMath arXiv 2402.03300 Eq. 3–4
# fields an arm sets; the shared settings may not
PER_ARM_FIELDS = ("advantage_method", "loss_type", "beta", "epsilon_high", "dynamic_sampling",
                  "mask_truncated_completions", "dgro_beta_1", "dgro_beta_2", "dgro_beta_reward", "dgro_min_variance",
                  "step_credit", "seed", "save_final")
SEEDS_DGRO = {"beta": 0.001, "dgro_beta_reward": 2.0, "dgro_min_variance": 0.01}
"""seeds/000's settings of its variance-scaled advantage: β_kl 0.001 (the KL coefficient), β_reward 2.0, v_min 0.01."""
REWARD_RANGES = {"outcome": (-50.0, 100.0), "diagnosis": (0.0, 100.0), "efficiency": (0.0, 100.0),
                 "composite": (-25.0, 100.0)}
"""The range of each OR-Debug reward component with its default weights (``ordebug.rewards``)."""
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

    @property
    def trains(self) -> bool:
        """Whether it trains (an RL arm) or only evaluates the warm start ('sft')."""
        return self.fields is not None


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
    # E8 (notebook 24): step credit from a PRM (its prm_path is in the experiment's shared grpo settings)
    "prm_sum": ArmKind("GRPO + summed PRM reward (seeds/001)", {"step_credit": "prm_sum"}, knob=Knob(
        "ordebug/step_credit/advantage_change", 0.0, "mean |A(c·r + λ·Σ_k p_k) − A(r)| over the batch (0: the PRM "
        "term left every advantage as the env reward's)")),
    "pure_min": ArmKind("PURE min-form credit (arXiv 2504.15275)", {"step_credit": "pure_min"}, knob=Knob(
        "ordebug/step_credit/within_episode_std", 0.0, "mean std of an episode's step advantages (0: every step got "
        "its episode's credit, as in GRPO)")),
    "gigpo": ArmKind("GiGPO anchor-state steps (arXiv 2505.10978)", {"step_credit": "gigpo"}, knob=Knob(
        "ordebug/gigpo/steps_in_shared_anchor_frac", 0.0, "share of steps whose anchor state another episode of "
        "the group shares (0: no step advantage, GiGPO is GRPO)")),
    # E9 (notebook 25): GRPO on chosen instances (experiments/self_play.py), the same steps and episodes as grpo
    "failure_curriculum": ArmKind("GRPO on the warm start's failures + weak cells", {}, knob=Knob(
        "ordebug/targeted/failed_share", 0.0, "share of its training set that the warm start failed on the train "
        "split (self_play.json; 0: it trained on none of the failures)")),
    "uniform_control": ArmKind("GRPO on uniform draws + uniform fresh (control)", {}, knob=Knob(
        "ordebug/targeted/fresh_accepted", 0.0, "fresh generated instances in its training set (0: the control "
        "lacks the curriculum's fresh half)")),
    "self_play": ArmKind("self-play rounds (weak cells ∝ learnability)", {}, knob=Knob(
        "ordebug/self_play/generated_accepted", 0.0, "validated, val/test-disjoint instances generated for the "
        "round the step belongs to (0: nothing was generated)")),
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
        return ARMS[self.kind].trains

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
    ValueError: grpo max_turns=6 but the evaluation's max_turns=20: RL would train another task than the one evaluated (leave max_turns out: it is the evaluation's max_turns)
    """
    out = dict(grpo)
    want = {"max_turns": max_turns, "max_new_tokens_per_turn": max_new_tokens,
            "max_context_tokens": max_prompt_tokens + max_new_tokens}
    for name, value in want.items():
        if name in out and out[name] != value:
            other = TASK_FIELDS.get(name)
            what = (f"the evaluation's {other}={value}" if other else
                    f"max_prompt_tokens + max_new_tokens = {max_prompt_tokens} + {max_new_tokens} = {value}")
            source = f"the evaluation's {other}" if other else "derived"
            raise ValueError(f"grpo {name}={out[name]} but {what}: RL would train another task than the one "
                             f"evaluated (leave {name} out: it is {source})")
        out[name] = value
    out.setdefault("max_completion_length", max_turns * max_new_tokens)
    return out


def arm_jobs(arms: Sequence[OrdebugArm], root: str | Path, warm_start_dir: str | Path, benchmark_dir: str | Path,
             grpo: dict, n_train: int | None = None, n_eval: int | None = None, max_turns: int = 20,
             max_new_tokens: int = 48, max_prompt_tokens: int = 3584, eval_batch_size: int = 64,
             eval_seed: int = 0, device: str = "auto", curriculum: Sequence[Sequence[str]] | None = None,
             require_knobs: bool = True, self_play: dict | None = None) -> list[Job]:
    """One ``jobs.Job`` per arm, in ``root/<arm name>``. ``grpo``: the ``GRPORunConfig`` fields every arm
    shares (steps, group size, turns, learning rate, reward, temperature, ...); the evaluation settings
    (``max_turns`` of an episode, tokens per action, prompt limit) are the warm start's evaluation's, and
    RL's episodes are the same (``one_task``: its fields are filled in from them, a mismatch raises).
    ``curriculum``: the stages of a 'curriculum' arm (default ``CURRICULUM``), whose ``max_steps`` is the
    total over its stages (``stage_steps``); only curriculum arms' specs carry it. ``require_knobs``: an arm
    whose ``KNOBS`` entry never acted in its run fails (after writing its evaluation). ``self_play``: the
    settings of the E9 arms (``self_play.check_self_play``), carried only by their specs."""
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
    from .self_play import SELF_PLAY_KINDS, check_self_play

    sp_kinds = [a.kind for a in arms if a.kind in SELF_PLAY_KINDS]
    if sp_kinds:
        sp = check_self_play(self_play)
        if not sp["warm_start_db"]:
            raise ValueError(f"arms {sorted(set(sp_kinds))} need self_play['warm_start_db'] (the warm start's "
                             "train/val evaluation: self_play.evaluate_policy)")
        sp["warm_start_db"] = str(Path(sp["warm_start_db"]).resolve())
        if "self_play" in sp_kinds:
            curriculum_configs(GRPORunConfig.from_dict({**grpo, **GRPO_FIELDS}), [["easy"]] * sp["rounds"])
    root = Path(root)

    def spec(a):
        s = {"arm": dataclasses.asdict(a), "grpo": dict(grpo), "warm_start": str(Path(warm_start_dir).resolve()),
             "benchmark": str(Path(benchmark_dir).resolve()), "n_train": n_train, "n_eval": n_eval,
             "max_turns": max_turns, "max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens,
             "eval_batch_size": eval_batch_size, "eval_seed": eval_seed, "device": device, "context_policy": "end",
             "require_knobs": require_knobs}
        if a.kind in SELF_PLAY_KINDS:
            return {**s, "self_play": sp}
        return {**s, "curriculum": [list(st) for st in stages]} if a.kind == "curriculum" else s

    return [Job(a.name, MODULE, root / a.name, spec(a)) for a in arms]


def split_instances(benchmark_dir: str | Path, n_train: int | None = None, n_eval: int | None = None):
    """(RL prompts: the train split, evaluation set: the test split) of the benchmark, ``n_train`` / ``n_eval`` of
    each spread over the (error type, difficulty) cells (``dataset.spread_over_cells``; None: all); the test split
    is disjoint from the train split by construction (``ordebug.dataset``), checked here on the ids."""
    from ..ordebug.dataset import load_benchmark, spread_over_cells

    train = spread_over_cells(load_benchmark(benchmark_dir, "train"), n_train)
    test = spread_over_cells(load_benchmark(benchmark_dir, "test"), n_eval)
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
    from ..policy.ordebug_lm_eval import evaluate_lm
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
        elif "self_play" in spec:  # E9's arms: their training sets are chosen in self_play.py
            from .self_play import train_arm

            model = train_arm(arm.kind, cfg, model, tok, train, out, spec, arm.seed, arm.name, test,
                              curriculum_configs, _param_checksum, **overrides)
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
        if knob is not None:  # flat, so that the summaries stay one table (ordebug_report.load_arm_results)
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
