"""One dataclass holds every knob of a GRPO-family run; each field's docstring cites where it comes from.

Papers cited below:
DeepSeekMath / GRPO (arXiv 2402.03300), DAPO (arXiv 2503.14476), Dr. GRPO (arXiv 2503.20783),
DGRO (arXiv 2505.12951), KRPO (arXiv 2505.07527), PURE (arXiv 2504.15275), GiGPO (arXiv 2505.10978); the
hybrid loss is seeds/004 §4.2 (brief §4); the variance-scaled advantage ``advantage_method='dgro'`` is
seeds/000's (it cites DGRO but is not its objective); the summed PRM term is seeds/001 Strategy 2.

``GRPORunConfig.to_grpo_config(output_dir)`` maps it onto TRL 1.16's ``GRPOConfig``. The non-obvious parts:

- ``scale_rewards`` is always ``"none"``: our trainer replaces TRL's advantages with
  ``ordebug_lib.advantages.compute_advantages`` (see ``trainer.py``); with "none" TRL's own computation is
  only r − mean, which we overwrite, and nothing of TRL's can re-standardise ours (e.g. cancel DGRO's
  β_reward and variance floor, brief §4).
- ``loss_type="hybrid"`` has no TRL counterpart: TRL is given ``"grpo"`` (any value would do) and our
  trainer's ``_compute_loss`` aggregates with ``ordebug_lib.losses.aggregate_loss(..., "hybrid")``.
- ``loss_type="dgro"`` (the DGRO paper's objective, ``ordebug_lib.losses.dgro_loss``) likewise: TRL is given
  ``"grpo"`` and our trainer computes the loss. It needs π_src ≠ π_θ on some updates (``validate``).
- ``use_bias_correction_kl`` defaults to False (the brief's plain β·k3), unlike TRL's True.
- ``beta`` is the KL coefficient; under the seeds' variance-scaled advantage it *is* their β_kl; the DGRO
  paper's objective has no KL to a reference (its β₂ term is to the sampling policy), so it needs β = 0.
- ``step_credit`` (multi-turn OR-Debug only): 'pure_min' and 'gigpo' give every action token the advantage of
  its step (``ordebug_lib.step_credit``), a (B, T) tensor TRL's loss takes as it is; 'prm_sum' changes the
  episode's reward (outcome + a summed PRM term) and keeps one advantage per episode.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..advantages import METHODS as ADVANTAGE_METHODS
from ..losses import LOSS_TYPES, SEQUENCE_LOSS_TYPES
from ..ordebug.rewards import REWARD_COMPONENTS
from ..policy.engine import ENGINES, EngineConfig
from ..step_credit import GIGPO_GAMMA, GIGPO_OMEGA, PRM_BASELINES, PURE_TEMPERATURE, STEP_CREDIT_METHODS

TRL_LOSS_TYPES = ("grpo", "dr_grpo", "dapo")  # loss types TRL aggregates itself; "hybrid" and "dgro" are ours


@dataclass
class GRPORunConfig:
    """Every setting of one GRPO-family training run (one docstring per field, citing its source)."""

    # -- advantages ---------------------------------------------------------------------------------
    advantage_method: str = "grpo"
    """Advantage estimator: 'grpo' (DeepSeekMath arXiv 2402.03300 §4.1.2: (r−mean)/(std+ε)), 'dr_grpo'
    (Dr. GRPO arXiv 2503.20783 §3.1: r−mean; also DGRO's r − V, arXiv 2505.12951, with ``loss_type='dgro'``),
    'dgro' (the seeds' variance-scaled advantage, seeds/000: β_reward·(r−b)/max(std, √min_var); not the DGRO
    paper's objective), 'krpo' (KRPO arXiv 2505.07527: Kalman baseline). Computed by
    ``ordebug_lib.advantages.compute_advantages``."""
    advantage_eps: float = 1e-4
    """ε added to the group std by 'grpo' and 'dgro' (TRL 1.16's 1e-4; DeepSeekMath arXiv 2402.03300 leaves it open)."""
    dgro_beta_reward: float = 1.0
    """β_reward of the seeds' variance-scaled advantage (``advantage_method='dgro'``, seeds/000): multiplies the
    advantage. Under Adam it only rescales β: the run equals GRPO with β/β_reward while the floor does not bind."""
    dgro_min_variance: float = 1e-2
    """Variance floor of the seeds' variance-scaled advantage (seeds/000): the group variance is never taken below this."""
    dgro_baseline: str = "mean"
    """Baseline b of the seeds' variance-scaled advantage: 'mean' (group mean) or 'kalman' (KRPO arXiv 2505.07527)."""
    krpo_q: float = 1e-5
    """KRPO process noise Q of the 1-D Kalman filter (arXiv 2505.07527)."""
    krpo_r: float = 1e-2
    """KRPO observation noise R of the 1-D Kalman filter (arXiv 2505.07527)."""
    krpo_state: str = "posterior"
    """KRPO: use the filter's 'posterior' x_{k|k} (the authors' code) or 'prior' x_{k|k−1} (arXiv 2505.07527)."""

    # -- step credit (multi-turn OR-Debug) -----------------------------------------------------------
    step_credit: str = "none"
    """How an OR-Debug episode's credit reaches its steps (``ordebug_lib.step_credit``). 'none': GRPO-family
    advantages of the episode reward (``advantage_method``), the same for every token. 'prm_sum': the seeds'
    summed PRM term (seeds/001 Strategy 2): the episode reward becomes prm_outcome_coef·r + prm_coef·Σ_k p_k (p_k
    the PRM's P(progress) of step k), then ``advantage_method`` as usual. 'pure_min': PURE's min-form credit (arXiv
    2504.15275): process rewards 2p_k − 1, soft-min weights at ``pure_temperature``, RLOO baseline
    ``pure_baseline``, the env reward times prm_outcome_coef as the verifiable reward; each action token gets its
    step's advantage. 'gigpo': GiGPO (arXiv 2505.10978 Eq. 8): the episode advantage (Eq. 3; F_norm the std under
    advantage_method='grpo', 1 under 'dr_grpo') plus gigpo_omega × the anchor-state step advantage (Eqs. 5–7) of
    the env's terminal reward discounted by gigpo_gamma. 'prm_sum' and 'pure_min' need ``prm_path``."""
    gigpo_gamma: float = GIGPO_GAMMA
    """GiGPO's discount γ of the step returns R_t = Σ_{k≥t} γ^{k−t} r_k (arXiv 2505.10978 Eq. 5; 0.95 in its
    released runs)."""
    gigpo_omega: float = GIGPO_OMEGA
    """GiGPO's weight ω of the step advantage in A^E + ω·A^S (arXiv 2505.10978 Eq. 8; 1 in its released runs)."""
    gigpo_anchor: str = "context"
    """What makes two steps one GiGPO anchor state (Eq. 6): 'context' the whole conversation before the step
    (observations and actions: with a deterministic env the same actions from the same instance reach the same
    model, so the state is exact and the policy's input identical); 'observation' the last observation text only
    (more and larger groups; with ``show_model=False`` two different models can show the same text)."""
    pure_temperature: float = PURE_TEMPERATURE
    """PURE's T of the soft-min weights softmax(−r/T) (arXiv 2504.15275; 0.1 in its released code)."""
    pure_baseline: str = "token"
    """PURE's RLOO baseline: 'token' (the other episodes' process return per action token times the step's tokens
    left: PURE's code, which its README prefers because 'step' favours episodes with fewer steps) or 'step'."""
    prm_coef: float = 1.0
    """λ of the summed PRM term (step_credit='prm_sum', seeds/001 Strategy 2): reward c·r + λ·Σ_k p_k."""
    prm_outcome_coef: float = 1.0
    """c, the weight of the env reward beside the PRM: 'prm_sum' c·r + λ·Σ p_k; 'pure_min' the verifiable reward's
    coefficient (arXiv 2504.15275, PURE-PRM+VR). The composite reward spans −25 … 100 and PRM terms [0, K] or
    [−1, 1]: choose c (e.g. 0.01) so that neither drowns the other."""
    prm_path: str | None = None
    """The PRM (``policy.prm.load_prm``: a saved PRM directory; a preset name builds a fresh untrained one, for
    tests) that scores every step of every rollout: the process rewards of 'prm_sum' / 'pure_min', and, with any
    step_credit, the PRM side of the reward-hacking detector (``ordebug/prm/*``, ``ordebug/hacking/*``). It must use
    the policy's tokenizer."""
    hacking_window: int = 10
    """Reward-hacking detector (``step_credit.HackingMonitor``, one point per generation round): W, the rounds
    whose OLS trends of the mean PRM score and the faithful-recovery rate are tested."""
    hacking_z: float = 2.0
    """Detector: the t statistic each trend must pass (PRM up > z, faithful recovery down < −z)."""
    hacking_persist: int = 3
    """Detector: consecutive rounds the condition must hold before a flag."""

    # -- loss ---------------------------------------------------------------------------------------
    loss_type: str = "grpo"
    """Aggregation of the per-token loss: 'grpo' (per-sequence mean, DeepSeekMath arXiv 2402.03300 Eq. 3),
    'dr_grpo' (Σ/(B·L_max), Dr. GRPO arXiv 2503.20783 §3.1), 'dapo' (token mean, DAPO arXiv 2503.14476 §3.3,
    the 'token-level loss'), 'hybrid' (α·dr_grpo + (1−α)·grpo, seeds/004 §4.2); or 'dgro', not an aggregation
    but DGRO's own sequence-level objective (arXiv 2505.12951, ``losses.dgro_loss``: β₁, β₂ below; with
    ``advantage_method='dr_grpo'``, β = 0, and a generation reused). Note TRL's default is 'dapo'."""
    hybrid_alpha: float | None = None
    """α of the hybrid loss (seeds/004 §4.2); None: α = min(1, L_max/512) (``losses.hybrid_alpha``)."""
    dgro_beta_1: float = 1.0
    """β₁ of DGRO's loss (arXiv 2505.12951, ``loss_type='dgro'``): scales the policy-gradient term
    −β₁ (r − V) log π_θ(y|x). Only the ratio β₁/β₂ matters under Adam; scaling the reward by c is β₁ → c·β₁
    (V is the group mean), which is how the paper's reward-range study is run (``experiments.ordebug_rl``)."""
    dgro_beta_2: float = 0.1
    """β₂ of DGRO's loss (arXiv 2505.12951): scales the penalty β₂ (log π_θ(y|x)/π_src(y|x))² to the sampling
    policy π_src (TRL's old log-probabilities of the generation). Zero, with zero gradient, on the first
    update of each generation: it acts only when a generation is reused (``num_iterations`` ≥ 2)."""
    epsilon_low: float = 0.2
    """Lower clip ε_low of the ratio (PPO arXiv 1707.06347 Eq. 7; DeepSeekMath arXiv 2402.03300 Eq. 3)."""
    epsilon_high: float = 0.2
    """Upper clip ε_high, DAPO's 'clip-higher' (arXiv 2503.14476 §3.1 uses 0.28); = ε_low is symmetric PPO."""
    beta: float = 0.04
    """KL coefficient β on the k3 estimator to the reference policy (DeepSeekMath arXiv 2402.03300 Eq. 3–4,
    β = 0.04). DAPO (arXiv 2503.14476 §2.3) removes it: 0. Under DGRO this is β_kl (arXiv 2505.12951). With
    β > 0 the reference is a frozen copy of the initial policy, or the adapter-disabled model under LoRA."""
    use_bias_correction_kl: bool = False
    """Multiply the k3 KL by the importance ratio (DeepSeek-V3.2 arXiv 2512.02556; TRL 1.16's default is True).
    False is the brief's plain β·k3 (DeepSeekMath arXiv 2402.03300 Eq. 4)."""

    # -- DAPO knobs ---------------------------------------------------------------------------------
    dynamic_sampling: bool = False
    """DAPO dynamic sampling (arXiv 2503.14476 §3.2): drop groups whose rewards all agree (zero std) and
    refill the batch with freshly sampled groups of new prompts."""
    dynamic_sampling_max_rounds: int = 4
    """Generation rounds per batch (the first included) before dynamic sampling gives up (DAPO arXiv
    2503.14476 §3.2 samples until full; a bound keeps a saturated policy from looping forever)."""
    dynamic_sampling_allow_partial: bool = False
    """When the rounds run out: False raises; True fills the batch with zero-std groups whose advantage is
    set to 0, and logs how many (``ordebug/dynamic_sampling/filled_zero_std_groups``)."""
    mask_truncated_completions: bool = False
    """DAPO overlong filtering (arXiv 2503.14476 §3.4): truncated completions get zero loss weight."""
    soft_overlong_cache: int = 0
    """DAPO soft overlong punishment (arXiv 2503.14476 Eq. 13) cache length L_cache, added as a reward term
    with L_max = max_completion_length; 0 turns it off. Single-turn tasks only."""

    # -- sampling -----------------------------------------------------------------------------------
    num_generations: int = 8
    """Group size G: completions sampled per prompt (DeepSeekMath arXiv 2402.03300 §4.1.2). The generation batch,
    per_device_train_batch_size × processes × steps_per_generation, must be a multiple of G (whole groups)."""
    max_completion_length: int = 256
    """L_max: generation budget per completion (multi-turn: model tokens of a whole episode); also the
    constant of Dr. GRPO's Σ/(B·L_max) (arXiv 2503.20783 §3.1)."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (DAPO arXiv 2503.14476 §4.1 uses 1.0)."""
    top_p: float = 1.0
    """Nucleus sampling mass of rollouts (1.0: off)."""

    # -- generation -----------------------------------------------------------------------------------
    engine: str = "generate"
    """Rollout backend (``policy.engine.ENGINES``). 'generate': TRL's own ``model.generate`` (Countdown) and
    ``model.generate`` per turn over the whole growing context (OR-Debug) — the reference. 'static': the static
    KV-cache engine (decode step captured as a CUDA graph on GPU; an OR-Debug episode keeps its cache across
    turns and prefills only each new observation). Same sampling (temperature, top_p); the engine runs in the
    model's dtype. ``benchmarks/rollouts.py`` and ``benchmarks/grpo_step.py`` time the two side by side."""
    engine_options: dict[str, Any] = field(default_factory=dict)
    """``policy.engine.EngineConfig`` fields of the 'static' engine (e.g. ``{"max_batch_size": 256}``)."""

    # -- optimisation -------------------------------------------------------------------------------
    learning_rate: float = 1e-6
    """AdamW learning rate (DAPO arXiv 2503.14476 §4.1: 1e-6 for a 32B model; small from-scratch
    presets need far larger)."""
    lr_scheduler_type: str = "constant"
    """transformers scheduler name (DAPO arXiv 2503.14476 §4.1: constant after warm-up)."""
    warmup_steps: int = 0
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay (DAPO arXiv 2503.14476 §4.1 uses 0.1)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (DAPO arXiv 2503.14476 §4.1: 1.0)."""
    per_device_train_batch_size: int = 8
    """Completions per device per micro-batch (a multiple of G keeps whole groups together)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step; with steps_per_generation = this, one generation per step."""
    steps_per_generation: int | None = None
    """Micro-batches per generated batch (TRL's ``steps_per_generation``; None: gradient_accumulation_steps,
    one generation per optimizer step). k samples k·per_device_train_batch_size completions at once and takes
    k / gradient_accumulation_steps optimizer updates on them, the later ones slightly off-policy (the clipped
    ratio covers it, PPO arXiv 1707.06347): decoding is latency-bound on small models, so a k times larger
    generation costs about the same time. E1's gpu profile: 64 x 16 = 1024 per round, 4 updates of 256."""
    num_iterations: int = 1
    """μ: optimizer passes over each generated batch (DeepSeekMath arXiv 2402.03300 Alg. 1); 1 is on-policy."""
    max_steps: int = 10
    """Optimizer steps."""
    seed: int = 0
    """Seed of data order, sampling and initialisation."""
    bf16: bool = False
    """bfloat16 mixed precision (GPU)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (TRL turns it on by default; the small presets do not need it)."""
    max_nonfinite_updates: int = 0
    """Optimizer steps whose gradient holds a NaN/inf that the run may skip (never apply: ``nonfinite.py``, each
    one recorded in ``nonfinite_updates.jsonl``) before it fails; 0 fails at the first. Mixed precision's
    convention (``torch.amp.GradScaler`` skips overflowed steps); a run that skipped any reports the count."""

    # -- reward -------------------------------------------------------------------------------------
    reward: str = "countdown"
    """Countdown: 'countdown' (1 / 0.1 / 0 seed reward) or 'graduated' (seeds/004 §4.2). OR-Debug: an env reward
    component — 'composite', 'outcome', 'diagnosis', 'efficiency' (seeds/003 Task 3). Never compare reward means
    across different reward definitions; compare task metrics (brief §3.3)."""

    # -- multi-turn OR-Debug ------------------------------------------------------------------------
    max_turns: int = 8
    """K: env steps per OR-Debug episode (``EnvConfig.max_turns``); brief §3.8: real multi-turn RL."""
    max_new_tokens_per_turn: int = 32
    """Generation budget of one action turn; an episode has at most K of them."""
    max_context_tokens: int = 4096
    """Longest prompt + transcript an episode may reach (the presets' context); exceeding it raises. A
    ``max_completion_length`` beyond it is refused (a completion must fit in the context)."""
    env_workers: int = 1
    """Processes stepping an OR-Debug batch's envs (``ordebug.env_batch.make_envs``): 1 steps them in the trainer's
    process, 0 uses one per CPU core. The episodes are identical either way (``tests/test_env_batch.py``)."""

    # -- run ----------------------------------------------------------------------------------------
    logging_steps: int = 1
    """Log (JSONL + CSV) every this many optimizer steps."""
    save_final: bool = True
    """Save the final policy (and tokenizer) to ``<run_dir>/final`` at the end."""
    extra_grpo_args: dict[str, Any] = field(default_factory=dict)
    """Further ``trl.GRPOConfig`` fields passed verbatim (must not clash with the ones set here)."""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on an inconsistent setting (never silently adjust one)."""
        self._check_types()
        if self.advantage_method not in ADVANTAGE_METHODS:
            raise ValueError(f"advantage_method must be one of {ADVANTAGE_METHODS}, got {self.advantage_method!r}")
        if self.loss_type not in LOSS_TYPES + SEQUENCE_LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES + SEQUENCE_LOSS_TYPES}, got {self.loss_type!r}")
        self._check_dgro()
        self._check_step_credit()
        if self.hybrid_alpha is not None:
            if self.loss_type != "hybrid":
                raise ValueError("hybrid_alpha is only used with loss_type='hybrid'")
            if not 0.0 <= self.hybrid_alpha <= 1.0:
                raise ValueError(f"hybrid_alpha must lie in [0, 1], got {self.hybrid_alpha}")
        if self.num_generations < 2:
            raise ValueError(f"num_generations (group size) must be ≥ 2, got {self.num_generations}")
        if self.beta < 0:
            raise ValueError(f"beta must be ≥ 0, got {self.beta}")
        if not (0 <= self.epsilon_low < 1 and self.epsilon_high >= 0):
            raise ValueError(f"need 0 ≤ epsilon_low < 1 and epsilon_high ≥ 0, got {self.epsilon_low}, {self.epsilon_high}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {self.engine!r}")
        if self.engine_options:
            if self.engine != "static":
                raise ValueError(f"engine_options are options of the 'static' engine; engine is {self.engine!r}")
            names = {f.name for f in dataclasses.fields(EngineConfig)}
            unknown = set(self.engine_options) - names
            if unknown:
                raise ValueError(f"unknown engine_options {sorted(unknown)}; valid: {sorted(names)}")
            EngineConfig(**self.engine_options)  # its own checks
        if self.engine != "generate":
            # the engine samples with temperature and top_p only; TRL options it would ignore are refused
            ignored = sorted(set(self.extra_grpo_args) & {
                "use_vllm", "top_k", "min_p", "repetition_penalty", "generation_kwargs", "cache_implementation",
                "use_transformers_paged", "use_transformers_continuous_batching"})
            if ignored:
                raise ValueError(f"engine={self.engine!r} generates itself; extra_grpo_args {ignored} would be ignored")
        if type(self.env_workers) is not int or self.env_workers < 0:
            raise ValueError(f"env_workers must be an int >= 0 (0: one per CPU core), got {self.env_workers!r}")
        if self.max_nonfinite_updates < 0:
            raise ValueError(f"max_nonfinite_updates must be >= 0 (0: fail at the first), got {self.max_nonfinite_updates}")
        if self.dynamic_sampling_max_rounds < 1:
            raise ValueError(f"dynamic_sampling_max_rounds must be ≥ 1, got {self.dynamic_sampling_max_rounds}")
        if self.soft_overlong_cache < 0 or self.soft_overlong_cache > self.max_completion_length:
            raise ValueError(f"soft_overlong_cache must lie in [0, max_completion_length], got {self.soft_overlong_cache}")
        if self.dgro_baseline not in ("mean", "kalman"):
            raise ValueError(f"dgro_baseline must be 'mean' or 'kalman', got {self.dgro_baseline!r}")
        if self.krpo_state not in ("posterior", "prior"):
            raise ValueError(f"krpo_state must be 'posterior' or 'prior', got {self.krpo_state!r}")
        if self.steps_per_generation is not None and (type(self.steps_per_generation) is not int
                                                      or self.steps_per_generation < 1):
            raise ValueError(f"steps_per_generation must be None or ≥ 1, got {self.steps_per_generation!r}")
        for name in ("max_turns", "max_new_tokens_per_turn", "max_completion_length", "max_steps",
                     "per_device_train_batch_size", "gradient_accumulation_steps", "num_iterations", "logging_steps",
                     "max_context_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.max_completion_length > self.max_context_tokens:
            raise ValueError(f"max_completion_length {self.max_completion_length} exceeds max_context_tokens "
                             f"{self.max_context_tokens}: a completion must fit in the model's context (raise "
                             "max_context_tokens only for a model with a longer one)")
        # TRL's GRPOConfig refuses this too, but only once a trainer is built (in an arm's subprocess, after
        # the warm start); WORLD_SIZE is the number of processes of an accelerate launch, unset (1) in a notebook
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        generation_batch = (self.per_device_train_batch_size * processes
                            * (self.steps_per_generation or self.gradient_accumulation_steps))
        if generation_batch % self.num_generations:
            raise ValueError(
                f"the generation batch per_device_train_batch_size × processes × steps_per_generation = "
                f"{self.per_device_train_batch_size} × {processes} × "
                f"{self.steps_per_generation or self.gradient_accumulation_steps} = {generation_batch} is not a "
                f"multiple of num_generations {self.num_generations}: a group would be split; make "
                "per_device_train_batch_size a multiple of num_generations")
        clash = set(self.extra_grpo_args) & set(self._grpo_kwargs("x"))
        if clash:
            raise ValueError(f"extra_grpo_args sets {sorted(clash)}, which GRPORunConfig already controls")

    def _check_dgro(self) -> None:
        """The DGRO paper's objective (loss_type='dgro') and the seeds' variance-scaled advantage
        (advantage_method='dgro') each take their own fields; a field of one set with the other off, or a
        paper run whose penalty to π_src could never act, is refused."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        off = [n for n in ("dgro_beta_1", "dgro_beta_2") if getattr(self, n) != defaults[n]]
        if self.loss_type != "dgro" and off:
            raise ValueError(f"{off} are DGRO's loss coefficients (arXiv 2505.12951), used only with loss_type='dgro' "
                             f"(loss_type is {self.loss_type!r})")
        off = [n for n in ("dgro_beta_reward", "dgro_min_variance", "dgro_baseline") if getattr(self, n) != defaults[n]]
        if self.advantage_method != "dgro" and off:
            raise ValueError(f"{off} are settings of the seeds' variance-scaled advantage, used only with "
                             f"advantage_method='dgro' (advantage_method is {self.advantage_method!r})")
        if self.loss_type != "dgro":
            return
        if not self.dgro_beta_1 > 0:
            raise ValueError(f"dgro_beta_1 (β₁) must be > 0, got {self.dgro_beta_1}")
        if not self.dgro_beta_2 > 0:
            raise ValueError(f"dgro_beta_2 (β₂) must be > 0, got {self.dgro_beta_2}: with β₂ = 0 the loss is "
                             "plain REINFORCE with a group-mean baseline, not DGRO")
        if self.advantage_method != "dr_grpo":
            raise ValueError(f"loss_type='dgro' takes r − V with V the group mean (arXiv 2505.12951), which is "
                             f"advantage_method='dr_grpo' (r − mean); got advantage_method={self.advantage_method!r}")
        if self.beta != 0:
            raise ValueError(f"loss_type='dgro' is the paper's two-term objective; its distance term is β₂'s, to the "
                             f"sampling policy, not a KL to a reference: set beta=0 (got {self.beta})")
        # TRL keeps π_src (old_per_token_logps) only when gradient_accumulation_steps is not a multiple of
        # steps_per_generation × num_iterations; otherwise every update is the first on its samples, π_src = π_θ
        spg = self.steps_per_generation or self.gradient_accumulation_steps
        if self.gradient_accumulation_steps % (spg * self.num_iterations) == 0:
            raise ValueError(
                f"loss_type='dgro' with num_iterations={self.num_iterations}, steps_per_generation={spg} and "
                f"gradient_accumulation_steps={self.gradient_accumulation_steps} (a multiple of their product): "
                "every update is the first on its samples, so π_src = π_θ, the penalty β₂ (log π_θ/π_src)² and its "
                "gradient are 0 and DGRO is REINFORCE with a group-mean baseline. Reuse each generation: "
                "num_iterations ≥ 2 (or steps_per_generation > gradient_accumulation_steps)")

    def _check_step_credit(self) -> None:
        """Step credit (``step_credit``) and the PRM: each knob only with the method that reads it, only on
        single-process multi-turn OR-Debug runs with a TRL-aggregated loss (the (B, T) advantages); bad values refused."""
        if self.step_credit not in STEP_CREDIT_METHODS:
            raise ValueError(f"step_credit must be one of {STEP_CREDIT_METHODS}, got {self.step_credit!r}")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        owners = {"gigpo_gamma": ("gigpo",), "gigpo_omega": ("gigpo",), "gigpo_anchor": ("gigpo",),
                  "pure_temperature": ("pure_min",), "pure_baseline": ("pure_min",), "prm_coef": ("prm_sum",),
                  "prm_outcome_coef": ("prm_sum", "pure_min")}
        for name, methods in owners.items():
            if getattr(self, name) != defaults[name] and self.step_credit not in methods:
                raise ValueError(f"{name} is a setting of step_credit in {methods}; step_credit is {self.step_credit!r}")
        if self.prm_path is not None and not (isinstance(self.prm_path, str) and self.prm_path):
            raise ValueError(f"prm_path must be None or a non-empty string, got {self.prm_path!r}")
        off = [n for n in ("hacking_window", "hacking_z", "hacking_persist") if getattr(self, n) != defaults[n]]
        if off and self.prm_path is None:
            raise ValueError(f"{off} are settings of the reward-hacking detector, which needs a PRM (prm_path)")
        if not (isinstance(self.hacking_window, int) and self.hacking_window >= 3):
            raise ValueError(f"hacking_window must be an int ≥ 3, got {self.hacking_window!r}")
        if not self.hacking_z > 0:
            raise ValueError(f"hacking_z must be > 0, got {self.hacking_z}")
        if not (isinstance(self.hacking_persist, int) and self.hacking_persist >= 1):
            raise ValueError(f"hacking_persist must be an int ≥ 1, got {self.hacking_persist!r}")
        if self.step_credit == "none" and self.prm_path is None:
            return
        if self.dynamic_sampling:
            raise ValueError("step_credit and prm_path with dynamic_sampling are not implemented (which groups are "
                             "informative depends on the step credit, and refilled rounds are not scored)")
        if self.reward not in REWARD_COMPONENTS:
            raise ValueError(f"step_credit and prm_path act on multi-turn OR-Debug episodes; reward {self.reward!r} is "
                             f"not an OR-Debug reward {REWARD_COMPONENTS}")
        if int(os.environ.get("WORLD_SIZE", "1")) != 1:
            raise ValueError("step_credit and prm_path are implemented for one process: a group's episodes may sit "
                             "on different processes, and their steps are not gathered")
        if self.step_credit == "none":
            return
        if self.step_credit in ("prm_sum", "pure_min") and self.prm_path is None:
            raise ValueError(f"step_credit={self.step_credit!r} scores the steps with a PRM: set prm_path")
        if self.loss_type not in TRL_LOSS_TYPES:
            raise ValueError(f"step_credit={self.step_credit!r} is implemented for the losses TRL aggregates "
                             f"{TRL_LOSS_TYPES}, not loss_type={self.loss_type!r}")
        if self.step_credit == "gigpo":
            if self.advantage_method not in ("grpo", "dr_grpo"):
                raise ValueError("step_credit='gigpo' takes its F_norm from advantage_method: 'grpo' (the std, "
                                 f"arXiv 2505.10978 Eq. 3) or 'dr_grpo' (1); got {self.advantage_method!r}")
            if not 0.0 <= self.gigpo_gamma <= 1.0:
                raise ValueError(f"gigpo_gamma must lie in [0, 1], got {self.gigpo_gamma}")
            if not (math.isfinite(self.gigpo_omega) and self.gigpo_omega >= 0):
                raise ValueError(f"gigpo_omega must be a finite number ≥ 0, got {self.gigpo_omega}")
            if self.gigpo_anchor not in ("context", "observation"):
                raise ValueError(f"gigpo_anchor must be 'context' or 'observation', got {self.gigpo_anchor!r}")
        if self.step_credit == "pure_min":
            if self.advantage_method != "grpo":
                raise ValueError("step_credit='pure_min' is PURE's own RLOO estimator; advantage_method would not "
                                 f"act (leave it 'grpo'), got {self.advantage_method!r}")
            if not (math.isfinite(self.pure_temperature) and self.pure_temperature > 0):
                raise ValueError(f"pure_temperature must be a finite number > 0, got {self.pure_temperature}")
            if self.pure_baseline not in PRM_BASELINES:
                raise ValueError(f"pure_baseline must be one of {PRM_BASELINES}, got {self.pure_baseline!r}")
        for name in ("prm_coef", "prm_outcome_coef"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")

    def gigpo_f_norm(self) -> str:
        """GiGPO's F_norm (arXiv 2505.10978 Eqs. 3, 7) under ``advantage_method``: 'std' for grpo, 'none' for dr_grpo."""
        return "std" if self.advantage_method == "grpo" else "none"

    def advantage_options(self) -> dict[str, Any]:
        """Keyword options of ``compute_advantages`` for ``advantage_method``."""
        m = self.advantage_method
        if m == "grpo":
            return {"eps": self.advantage_eps}
        if m == "dr_grpo":
            return {}
        if m == "dgro":
            opts = {"beta_reward": self.dgro_beta_reward, "min_variance": self.dgro_min_variance,
                    "eps": self.advantage_eps, "baseline": self.dgro_baseline}
            if self.dgro_baseline == "kalman":
                opts["kalman"] = {"q": self.krpo_q, "r": self.krpo_r}
            return opts
        return {"q": self.krpo_q, "r": self.krpo_r, "state": self.krpo_state}

    def trl_loss_type(self) -> str:
        """The ``loss_type`` handed to TRL ('grpo' for our hybrid and dgro, which our trainer computes itself)."""
        return self.loss_type if self.loss_type in TRL_LOSS_TYPES else "grpo"

    def _grpo_kwargs(self, output_dir: str) -> dict[str, Any]:
        return dict(
            output_dir=output_dir, num_generations=self.num_generations,
            max_completion_length=self.max_completion_length, temperature=self.temperature, top_p=self.top_p,
            learning_rate=self.learning_rate, lr_scheduler_type=self.lr_scheduler_type, warmup_steps=self.warmup_steps,
            weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm,
            per_device_train_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps, num_iterations=self.num_iterations,
            steps_per_generation=self.steps_per_generation,
            max_steps=self.max_steps, seed=self.seed, bf16=self.bf16, gradient_checkpointing=self.gradient_checkpointing,
            loss_type=self.trl_loss_type(), scale_rewards="none", beta=self.beta, epsilon=self.epsilon_low,
            epsilon_high=self.epsilon_high, use_bias_correction_kl=self.use_bias_correction_kl,
            mask_truncated_completions=self.mask_truncated_completions, logging_steps=self.logging_steps,
            report_to="none", save_strategy="no", disable_tqdm=False, multi_objective_aggregation="sum_then_normalize",
        )

    def to_grpo_config(self, output_dir: str, **overrides):
        """The TRL ``GRPOConfig`` of this run (``overrides`` win, e.g. ``use_cpu=True`` in tests)."""
        from trl import GRPOConfig

        return GRPOConfig(**{**self._grpo_kwargs(str(output_dir)), **self.extra_grpo_args, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _check_types(self) -> None:
        """Numbers must be numbers: a YAML "1e-4" read as a string once reached AdamW as lr."""
        kinds = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,),
                 "float | None": (int, float, type(None))}
        for f in dataclasses.fields(self):
            ok = kinds.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
            value = getattr(self, f.name)
            if ok is None:
                continue
            if not isinstance(value, ok) or (f.type in ("float", "int", "float | None") and isinstance(value, bool)):
                raise ValueError(f"{f.name} must be {f.type}, got {value!r} ({type(value).__name__})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GRPORunConfig":
        """Build from a dict; unknown keys raise, listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown GRPORunConfig field(s) {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)
