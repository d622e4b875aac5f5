"""``OrdebugGRPOTrainer``: TRL 1.16's ``GRPOTrainer`` with our advantages, the hybrid loss, DGRO's loss and
DAPO's dynamic sampling. The math lives in ``ordebug_lib.advantages`` / ``ordebug_lib.losses``; this is glue.

TRL stays the engine (accelerate, DeepSpeed, PEFT, vLLM). We override three private methods of the
pinned release (trl==1.16.0; they change between releases, which is why it is pinned and tested):

1. ``_calculate_rewards``: unchanged, but the (all-process) reward matrix it returns is kept.
2. ``_generate_and_score_completions`` (what TRL's maintainers advise overriding to change advantages):
   TRL's version runs (generation, reward functions, old/ref log-probs); then
   - with ``dynamic_sampling`` (DAPO arXiv 2503.14476 §3.2), groups whose rewards all agree are dropped
     and new groups of fresh prompts are generated until the batch is full (``sampling.py``);
   - the ``advantages`` TRL computed are **replaced** by ``compute_advantages(rewards, G, method)``.
     TRL's own normalisation cannot undo ours: the config sets ``scale_rewards="none"`` (TRL's value is
     only r − mean, and is discarded), and nothing after this method touches the advantages;
     ``tests/test_training_advantages.py`` checks, per method, that the tensor reaching ``_compute_loss``
     is exactly ours.
   - ``ordebug/...`` metrics are logged (reward, zero-std groups, advantages, dynamic sampling).
3. ``_compute_loss``: unchanged for grpo / dr_grpo / dapo (TRL aggregates; ``test_trl_conformance.py``
   proves it equals ``losses.aggregate_loss``); for ``hybrid`` (α·DR-GRPO + (1−α)·GRPO, brief §4) — which
   TRL lacks — the per-token loss is ``losses.per_token_loss`` and the aggregation
   ``losses.aggregate_loss(..., "hybrid", L_max, α)``, with TRL's metrics (kl, entropy, clip ratios); for
   ``dgro`` (arXiv 2505.12951) it is ``losses.dgro_loss`` on whole sequences: −β₁ (r − V) log π_θ(y|x) +
   β₂ (log π_θ(y|x)/π_src(y|x))², π_src the sampling policy, i.e. TRL's ``old_per_token_logps`` (TRL keeps
   them only when a generation is reused, which ``GRPORunConfig.validate`` requires), logged under
   ``ordebug/dgro/...`` (the two terms, their coefficients on ∇log π, the log-ratio to π_src) with entropy.

Two more private methods are wrapped, not changed: ``_generate`` (timed: the ``generation`` stage of
``timing.py``) and, with ``GRPORunConfig.engine='static'``, ``_generate_single_turn`` — TRL's regular
``model.generate`` path (single-turn Countdown) is replaced by ``policy.engine.StaticEngine`` on the same
prompt ids, returning the completion ids cut after the first EOS as TRL's path does (pinned by
``tests/test_training_engine.py``). Multi-turn OR-Debug generates in its ``rollout_func`` (``rollouts.py``),
which picks the engine itself.

A gradient with a NaN or inf is never applied (``nonfinite.py``): the update is skipped and recorded, and the run
fails past ``GRPORunConfig.max_nonfinite_updates`` (default 0: at the first), pinned by ``tests/test_nonfinite.py``.
On CUDA the trainer first turns off the cuDNN SDPA backend, whose backward bug fits the ones E3/E4 v2 met
(``policy/attention.py``; ``benchmarks/sdpa_cudnn_probe.py`` checks it on the GPU).

Rewards are used as the reward functions return them (weighted sum, TRL's ``reward_weights``); a
reward function returning None for a completion raises here (TRL would zero its advantage silently).

**Step credit** (``GRPORunConfig.step_credit``, multi-turn OR-Debug, one process): the episodes of the batch are
the rollout's (``trainer.ordebug_rollout.last_episodes``, in batch order). With a PRM (``trainer.prm``, from
``prm_path``) every step k is scored as the policy's exact context before it plus its action tokens (+ EOS), p_k =
P(progress). 'prm_sum' replaces each episode's reward by c·r + λ·Σ_k p_k before ``compute_advantages``; 'pure_min'
(``step_credit.pure_advantages`` on 2p_k − 1) and 'gigpo' (``step_credit.gigpo_advantages``) give a (B, T)
advantage, every action token of step k A_k (``step_credit.step_token_advantages``), env tokens and padding 0;
TRL's loss takes (B, T) advantages as they are, and ``ordebug/advantage/*`` then summarise the values on the action
tokens. 'gigpo' logs how many steps share an anchor state (``ordebug/gigpo/*``: near 0, GiGPO is GRPO). What shows
each acted: 'prm_sum' ``ordebug/step_credit/advantage_change`` (mean |A(c·r + λ·Σp) − A(r)| over the batch),
'pure_min' and 'gigpo' ``ordebug/step_credit/within_episode_std`` (the mean std of an episode's step advantages;
0 when every step got the episode's credit). With a
PRM, every round logs ``ordebug/prm/score_mean`` and ``ordebug/prm/faithful_rate`` and, once its window is full,
the reward-hacking detector (``step_credit.HackingMonitor``, one point per generation round, ``ordebug/hacking/*``);
``ordebug/prm/cut_sequences`` counts the steps whose oldest completion tokens were left out to fit the PRM's
context (``step_credit.prm_step_sequences``).
"""
from __future__ import annotations

import math
import time

import torch
from trl import GRPOTrainer

from .. import step_credit as sc
from ..advantages import compute_advantages, dgro_floor_binding, dynamic_sampling_mask, informative_groups
from ..losses import aggregate_loss, dgro_loss_terms, hybrid_alpha, per_token_loss
from ..policy.attention import training_attention
from .config import GRPORunConfig
from .nonfinite import NonfiniteGuardCallback, micro_batch_summary
from .sampling import RefillSampler, concat_batches, select_rows
from .timing import StageClock, StageTimingCallback, cuda_sync


class OrdebugGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer(model, reward_funcs, args=run_config.to_grpo_config(...), ..., run_config=run_config)``."""

    def __init__(self, *args, run_config: GRPORunConfig, **kwargs):
        self.attention = training_attention()  # cuDNN's SDPA backward makes NaN gradients (policy/attention.py)
        super().__init__(*args, **kwargs)
        self.run_config = run_config
        self._check_consistent()
        self._round_rewards_per_func: torch.Tensor | None = None
        self._rollout_inputs: list[dict] | None = None
        self._refill: RefillSampler | None = None
        self.last_batch_info: dict = {}  # rewards / advantages of the last training batch (tests, notebooks)
        self.stage_clock = StageClock()
        self.stage_rows: list[dict] = []  # one timing row per optimizer step (timing.py)
        self.add_callback(StageTimingCallback(self))
        self.nonfinite_guard = NonfiniteGuardCallback(self, run_config.max_nonfinite_updates)
        self.add_callback(self.nonfinite_guard)
        self._engine = None  # the 'static' engine of single-turn generation, built on first use
        self.prm = None  # the PRM of step credit and the hacking detector (run.build_ordebug_trainer sets it)
        self.hacking_monitor = sc.HackingMonitor(run_config.hacking_window, run_config.hacking_z,
                                                 persist=run_config.hacking_persist)

    # -- setup ----------------------------------------------------------------------------------------
    def _check_consistent(self) -> None:
        rc, a = self.run_config, self.args
        if self.scale_rewards != "none":
            raise ValueError(f"scale_rewards must be 'none' (our advantages replace TRL's), got {self.scale_rewards!r}")
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ValueError("multi_objective_aggregation must be 'sum_then_normalize' (rewards are a weighted sum)")
        if self.loss_type != rc.trl_loss_type():
            raise ValueError(f"TRL loss_type {self.loss_type!r} does not match run_config {rc.loss_type!r}")
        if (self.beta, self.epsilon_low, self.epsilon_high) != (rc.beta, rc.epsilon_low, rc.epsilon_high):
            raise ValueError("beta / epsilon_low / epsilon_high of the TRL args differ from run_config")
        if self.num_generations != rc.num_generations or self.max_completion_length != rc.max_completion_length:
            raise ValueError("num_generations / max_completion_length of the TRL args differ from run_config")
        if rc.loss_type in ("hybrid", "dgro"):
            unsupported = {
                "importance_sampling_level != 'token'": self.importance_sampling_level != "token",
                "top_entropy_quantile < 1": self.top_entropy_quantile < 1.0,
                "off_policy_mask_threshold": self.off_policy_mask_threshold is not None,
                "use_vllm": self.use_vllm, "delta": a.delta is not None,
                "entropy bonus": bool(getattr(self, "_entropy_bonus_enabled", False)),
                "router aux loss": bool(self.aux_loss_enabled),
            }
            bad = [k for k, v in unsupported.items() if v]
            if bad:
                raise ValueError(f"loss_type={rc.loss_type!r} is implemented for the plain objective only; unsupported: {bad}")
        if rc.dynamic_sampling and a.per_device_train_batch_size * a.steps_per_generation % rc.num_generations:
            raise ValueError("dynamic sampling needs whole groups on every process: per_device_train_batch_size × "
                             "steps_per_generation must be a multiple of num_generations")

    # -- generation -----------------------------------------------------------------------------------
    def _generate(self, prompts: list):
        t0 = self.stage_clock.seconds["env"]
        with self.stage_clock.time("generation"):
            out = super()._generate(prompts)
        self.stage_clock.seconds["generation"] -= self.stage_clock.seconds["env"] - t0  # env is its own stage
        return out

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if self.run_config.engine == "generate":
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        if images is not None or multimodal_fields or self.use_vllm or self.use_transformers_continuous_batching:
            raise ValueError(f"engine={self.run_config.engine!r} generates text-only prompts with the model itself "
                             "(no images, vLLM or continuous batching)")
        from trl.models import unwrap_model_for_generation

        with unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                         gather_deepspeed3_params=self.args.ds3_gather_for_generation) as model:
            engine = self.generation_engine(model)
            outs = engine([list(p) for p in prompt_ids], self.max_completion_length)
        return [ids for ids, _ in outs], None  # ids cut after the first EOS, as TRL's path; no vLLM log-probs

    def generation_engine(self, model):
        """The run's engine over ``model`` (kept across steps: the optimizer updates the weights in place, so
        cached CUDA graphs read the current ones). Its KV caches are freed after each generation
        (``idle_slabs=0`` unless ``engine_options`` says otherwise): a 1024-row cache of 1024-token completions
        is ~10 GB that the update's activations need more than the next generation saves by reusing it."""
        from ..policy.engine import EngineConfig, make_engine
        from ..policy.generation import SamplingConfig

        if self._engine is None or self._engine.model is not model:
            rc = self.run_config
            sampling = SamplingConfig(max_new_tokens=rc.max_completion_length, temperature=rc.temperature,
                                      top_p=rc.top_p, seed=rc.seed + 1000 * self.accelerator.process_index)
            self._engine = make_engine(rc.engine, model, self.processing_class, sampling,
                                       EngineConfig(**{"idle_slabs": 0, **rc.engine_options}))
        return self._engine

    # -- rewards and advantages ---------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        with self.stage_clock.time("rewards"):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._round_rewards_per_func = rewards_per_func  # (N_all_processes, n_funcs)
        return rewards_per_func

    def _score_round(self, inputs: list[dict]) -> tuple[dict, torch.Tensor]:
        """One TRL generation + scoring round; returns (batch, rewards of all processes (N,) float64)."""
        self._rollout_inputs = inputs  # the rollout function (rollouts.py) reads the dataset rows here
        self._round_rewards_per_func = None
        clock = self.stage_clock
        inner = lambda: sum(clock.seconds[k] for k in ("generation", "env", "rewards"))  # noqa: E731
        inner0 = inner()
        if clock.sync:
            cuda_sync()
        t0 = time.perf_counter()
        batch = super()._generate_and_score_completions(inputs)
        if clock.sync:
            cuda_sync()
        clock.add("logprobs", time.perf_counter() - t0 - (inner() - inner0))  # the round minus its timed stages
        written = batch["completion_mask"] if "tool_mask" not in batch else batch["completion_mask"] * batch["tool_mask"]
        clock.gen_tokens += int(self.accelerator.gather(written.sum()).sum())  # model-written tokens, all processes
        rpf = self._round_rewards_per_func
        if rpf is None:
            raise RuntimeError("TRL did not call _calculate_rewards; the pinned trl==1.16.0 glue is out of date")
        if bool(torch.isnan(rpf).any()):
            raise ValueError("a reward function returned None/NaN for a completion; every completion needs a reward")
        rewards = (rpf * self.reward_weights.to(rpf.device).unsqueeze(0)).sum(dim=1)
        return batch, rewards.detach().to("cpu", torch.float64)

    def _local_slice(self, n_local: int) -> slice:
        start = self.accelerator.process_index * n_local
        return slice(start, start + n_local)

    def _generate_and_score_completions(self, inputs):
        rc = self.run_config
        mode = "train" if self.model.training else "eval"
        G = self.num_generations if mode == "train" else self.num_generations_eval
        n_local = len(inputs)
        batch, rewards_all = self._score_round(inputs)
        sampled_groups = rewards_all.numel() // G
        zero_std_groups = int((~informative_groups(rewards_all, G)).sum())
        filled = torch.zeros(n_local, dtype=torch.bool)
        ds = {}
        step_info = None
        if rc.dynamic_sampling and mode == "train":
            batch, rewards_local, filled, ds = self._dynamic_sampling(inputs, batch, rewards_all, G)
            sampled_groups += ds["sampled_groups_refill"]
            zero_std_groups += ds["zero_std_groups_refill"]
            advantages = compute_advantages(rewards_local, G, rc.advantage_method, **rc.advantage_options())
        elif rc.step_credit != "none" or self.prm is not None:
            advantages, rewards_local, step_info = self._step_credit(batch, rewards_all, G, mode)
        else:
            adv_all = compute_advantages(rewards_all, G, rc.advantage_method, **rc.advantage_options())
            local = self._local_slice(n_local)
            advantages, rewards_local = adv_all[local], rewards_all[local]
        device, dtype = batch["advantages"].device, batch["advantages"].dtype
        if advantages.dim() == 2:  # step credit: (B, T) per-token advantages (one process, nothing filled)
            written = batch["completion_mask"] * batch.get("tool_mask", torch.ones_like(batch["completion_mask"]))
            adv_g = advantages[written.cpu().bool()].double()  # the values on the tokens the loss reads
        else:
            advantages = advantages.masked_fill(filled, 0.0)
            adv_g = None
        batch["advantages"] = advantages.to(device=device, dtype=dtype)  # (B_local,) or (B, T): ours replace TRL's

        # -- metrics (over all processes) --
        if adv_g is None:
            adv_g = self.accelerator.gather(advantages.to(device, torch.float32)).double()
        rew_g = self.accelerator.gather(rewards_local.to(device, torch.float32)).double()
        m = self._metrics[mode]
        m["ordebug/reward/mean"].append(rew_g.mean().item())
        m["ordebug/reward/std"].append(rew_g.std().item() if rew_g.numel() > 1 else 0.0)
        m["ordebug/groups/zero_std_frac"].append(zero_std_groups / max(sampled_groups, 1))
        # what the knobs did (experiments.ordebug_rl.KNOBS reads these): rewards before any selection, the
        # episodes generated for this batch, DGRO's variance floor
        first = rewards_all.double()
        m["ordebug/reward/mean_before_selection"].append(first.mean().item())
        m["ordebug/reward/std_before_selection"].append(first.std().item() if first.numel() > 1 else 0.0)
        m["ordebug/episodes_generated"].append(float(sampled_groups * G))
        if rc.advantage_method == "dgro":
            m["ordebug/dgro/floor_binding_frac"].append(
                dgro_floor_binding(rewards_all, G, rc.dgro_min_variance))
        m["ordebug/advantage/mean"].append(adv_g.mean().item())
        m["ordebug/advantage/std"].append(adv_g.std().item() if adv_g.numel() > 1 else 0.0)
        m["ordebug/advantage/max"].append(adv_g.max().item())
        m["ordebug/advantage/min"].append(adv_g.min().item())
        m["ordebug/advantage/abs_mean"].append(adv_g.abs().mean().item())
        for k, v in ds.items():
            if not k.endswith("_refill"):
                m[f"ordebug/dynamic_sampling/{k}"].append(float(v))
        if step_info is not None:
            for k, v in step_info["metrics"].items():
                m[k].append(v)
            ds = {**ds, **{k: v for k, v in step_info.items() if k != "metrics"}}
        if rc.loss_type == "hybrid":
            m["ordebug/loss/hybrid_alpha"].append(self._hybrid_alpha())
        self.last_batch_info = {"rewards": rewards_local.clone(), "advantages": advantages.clone(),
                                "filled": filled.clone(), "group_size": G, **ds}
        return batch

    # -- step credit ----------------------------------------------------------------------------------
    def _step_scores(self, episodes) -> tuple[list[list[float]], int]:
        """(P(progress) of every step of every episode under ``self.prm``, how many steps were shortened to fit it):
        step k reads the policy's exact context before it (prompt + completion so far) and its action tokens,
        closed by EOS (``policy/prm.py``, ``step_credit.prm_step_sequences``)."""
        tok = self.processing_class
        if self.prm.tokenizer.get_vocab() != tok.get_vocab():
            raise ValueError("the PRM's tokenizer is not the policy's: it cannot read the policy's token ids")
        seqs, owner, cut = [], [], 0
        for i, ep in enumerate(episodes):
            s, c = sc.prm_step_sequences(ep.prompt_ids, ep.completion_ids, ep.env_mask, ep.stopped,
                                         tok.eos_token_id, getattr(self.prm, "max_length", None))
            seqs += s
            owner += [i] * len(s)
            cut += c
        flat = self.prm(seqs) if seqs else []
        out: list[list[float]] = [[] for _ in episodes]
        for i, p in zip(owner, flat):
            out[i].append(float(p))
        return out, cut

    def _step_credit(self, batch, rewards_all, G, mode):
        """(advantages (B,) or (B, T), episode rewards (B,), info) of the round under ``run_config.step_credit``
        (module docstring); one process, so the batch is the whole round."""
        rc = self.run_config
        rollout = getattr(self, "ordebug_rollout", None)
        if rollout is None:
            raise RuntimeError("step credit and the PRM need a multi-turn OR-Debug trainer (run.build_ordebug_trainer)")
        if self.accelerator.num_processes != 1:
            raise RuntimeError("step credit is implemented for one process (GRPORunConfig.validate refuses more)")
        episodes = rollout.last_episodes
        ids = batch["completion_ids"]  # (B, T)
        if len(episodes) != ids.shape[0] or any(
                ids[i, :len(ep.completion_ids)].tolist() != list(ep.completion_ids) for i, ep in enumerate(episodes)):
            raise RuntimeError("the rollout's episodes are not the rows of the batch, in order")
        R = rewards_all  # (B,) the env's terminal rewards
        scores, cut = self._step_scores(episodes) if self.prm is not None else (None, 0)
        info, metrics = {}, {}
        T = ids.shape[1]
        if rc.step_credit == "prm_sum":
            R_sum = sc.summed_episode_rewards(scores, R, rc.prm_coef, rc.prm_outcome_coef)  # (B,)
            advantages = compute_advantages(R_sum, G, rc.advantage_method, **rc.advantage_options())
            plain = compute_advantages(R, G, rc.advantage_method, **rc.advantage_options())  # (B,) without the PRM
            metrics["ordebug/step_credit/advantage_change"] = (advantages - plain).abs().mean().item()
            info["step_credit_rewards"] = R_sum.clone()
        elif rc.step_credit == "pure_min":
            steps = sc.pure_advantages([sc.prm_score_to_process_reward(p) for p in scores], G, rc.pure_temperature,
                                       outcome=R, outcome_coef=rc.prm_outcome_coef, baseline=rc.pure_baseline,
                                       step_tokens=[sc.step_token_counts(ep.env_mask) for ep in episodes])
            advantages = torch.stack([sc.step_token_advantages(ep.env_mask, a, T) for ep, a in zip(episodes, steps)])
            info["step_advantages"] = steps
        elif rc.step_credit == "gigpo":
            keys = [sc.observation_anchor_keys(ep.observations, ep.actions if rc.gigpo_anchor == "context" else None)
                    for ep in episodes]
            steps = sc.gigpo_advantages(R, keys, G, omega=rc.gigpo_omega, gamma=rc.gigpo_gamma,
                                        f_norm=rc.gigpo_f_norm(), eps=rc.advantage_eps)
            advantages = torch.stack([sc.step_token_advantages(ep.env_mask, a, T) for ep, a in zip(episodes, steps)])
            sizes = [len(v) for v in sc.anchor_groups(keys, G).values()]
            n_steps = sum(sizes)
            metrics["ordebug/gigpo/anchor_groups_per_step"] = len(sizes) / n_steps
            metrics["ordebug/gigpo/steps_in_shared_anchor_frac"] = sum(s for s in sizes if s > 1) / n_steps
            info["step_advantages"] = steps
        else:  # 'none' with a PRM: GRPO-family advantages; the PRM only monitors
            advantages = compute_advantages(R, G, rc.advantage_method, **rc.advantage_options())
        if "step_advantages" in info:  # pure_min, gigpo; 0: every step of an episode got its episode's credit
            spread = [float(a.std()) for a in info["step_advantages"] if len(a) > 1]
            metrics["ordebug/step_credit/within_episode_std"] = sum(spread) / len(spread) if spread else 0.0
        if scores is not None:
            flat = [p for ps in scores for p in ps]
            prm_mean = sum(flat) / len(flat)
            faithful = sum(float(bool(ep.faithful)) for ep in episodes) / len(episodes)
            metrics["ordebug/prm/score_mean"] = prm_mean
            metrics["ordebug/prm/faithful_rate"] = faithful
            metrics["ordebug/prm/cut_sequences"] = float(cut)  # steps shortened to fit the PRM
            if mode == "train":  # one point per generation round; nothing is logged until the window is full
                for k, v in self.hacking_monitor.update(prm_mean, faithful).items():
                    if math.isfinite(v):
                        metrics[f"ordebug/hacking/{k}"] = v
            info["step_scores"] = scores
        info["metrics"] = metrics
        return advantages, R, info

    def _dynamic_sampling(self, inputs, batch, rewards_all, G):
        """DAPO dynamic sampling: keep informative groups, refill from fresh prompts (see module docstring).

        All processes run the same number of rounds (TRL's scoring gathers across processes), until every
        process is full or ``dynamic_sampling_max_rounds`` is reached.
        """
        rc = self.run_config
        n_local = len(inputs)
        if n_local % G:
            raise ValueError(f"dynamic sampling needs whole groups per process; got {n_local} rows for G={G}")
        need = n_local // G
        if self._refill is None:
            self._refill = RefillSampler(self.train_dataset, self.args.seed, self.accelerator.process_index)
        kept_batches, kept_rewards, dropped = [], [], []
        n_kept, rounds, sampled_refill, zero_refill = 0, 0, 0, 0
        cur_batch, cur_all = batch, rewards_all
        while True:
            rounds += 1
            local = cur_all[self._local_slice(n_local)]
            keep_groups = informative_groups(local, G)  # (n_local/G,)
            if rounds > 1:
                sampled_refill += cur_all.numel() // G
                zero_refill += int((~informative_groups(cur_all, G)).sum())
            for gi in range(need):
                rows = torch.arange(gi * G, (gi + 1) * G)
                if bool(keep_groups[gi]) and n_kept < need:
                    kept_batches.append(select_rows(cur_batch, rows))
                    kept_rewards.append(local[rows])
                    n_kept += 1
                elif not bool(keep_groups[gi]):
                    dropped.append((select_rows(cur_batch, rows), local[rows]))
            short = torch.tensor([need - n_kept], device=self.accelerator.device)
            if int(self.accelerator.gather(short).max()) <= 0 or rounds >= rc.dynamic_sampling_max_rounds:
                break
            cur_batch, cur_all = self._score_round(self._refill.draw(need, G))
        n_filled = need - n_kept
        filled = torch.zeros(n_kept * G, dtype=torch.bool)
        if n_filled > 0:
            if not rc.dynamic_sampling_allow_partial:
                raise RuntimeError(
                    f"dynamic sampling found only {n_kept} of {need} groups with non-zero reward std in "
                    f"{rounds} rounds; raise dynamic_sampling_max_rounds, or set dynamic_sampling_allow_partial=True "
                    "to fill the batch with zero-std groups at advantage 0")
            for b, r in dropped[:n_filled]:
                kept_batches.append(b)
                kept_rewards.append(r)
            filled = torch.cat([filled, torch.ones(n_filled * G, dtype=torch.bool)])
        merged = concat_batches(kept_batches, self._tokenizer.pad_token_id)
        loss_mask = merged["completion_mask"] if "tool_mask" not in merged else merged["completion_mask"] * merged["tool_mask"]
        merged["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        rewards = torch.cat(kept_rewards)
        if not bool(dynamic_sampling_mask(rewards, G)[~filled].all()):
            raise AssertionError("dynamic sampling kept a zero-std group")
        stats = {"rounds": rounds, "filled_zero_std_groups": n_filled, "kept_groups": n_kept,
                 "sampled_groups_refill": sampled_refill, "zero_std_groups_refill": zero_refill}
        return merged, rewards, filled, stats

    # -- loss ---------------------------------------------------------------------------------------
    def _hybrid_alpha(self) -> float:
        a = self.run_config.hybrid_alpha
        return hybrid_alpha(self.max_completion_length) if a is None else float(a)

    def _compute_loss(self, model, inputs):
        if self.run_config.loss_type == "hybrid":
            loss = self._compute_hybrid_loss(model, inputs)
        elif self.run_config.loss_type == "dgro":
            loss = self._compute_dgro_loss(model, inputs)
        else:
            loss = super()._compute_loss(model, inputs)
        self.nonfinite_guard.micro_batches.append(micro_batch_summary(loss, inputs))
        return loss

    def _policy_logps(self, model, inputs):
        """(per-token log-probs, entropies, loss mask), each (B, T), of the completion tokens under ``model``;
        the mask is the completion mask times the env mask of multi-turn episodes (``tool_mask``)."""
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], completion_mask], dim=1)
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        logps, entropies, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=True)
        return logps, entropies, mask

    def _global_masked_mean(self, x, mask) -> float:
        """Mean of ``x`` over the masked tokens of every process (as TRL's metrics are)."""
        totals = self.accelerator.reduce(torch.stack([(x * mask).sum(), mask.sum().float()]), reduction="sum")
        return (totals[0] / totals[1].clamp(min=1.0)).item()

    def _compute_dgro_loss(self, model, inputs):
        """DGRO's loss (arXiv 2505.12951, ``losses.dgro_loss``) with π_src the sampling policy (TRL's
        ``old_per_token_logps``), scaled for gradient accumulation as TRL scales 'grpo'. Logs, over all
        processes, the mean |policy term| and the mean penalty term, their coefficients on ∇log π_θ(y|x)
        (|β₁ (r − V)| and |2β₂ log ratio|), and the mean |log π_θ/π_src| and (log π_θ/π_src)² of the sequences:
        the last is 0 on the first update of a generation and > 0 where β₂ acts."""
        rc = self.run_config
        logps, entropies, mask = self._policy_logps(model, inputs)  # each (B, T)
        src = inputs.get("old_per_token_logps")  # (B, T): log π_src of the tokens, computed at generation time
        if src is None:
            raise RuntimeError("loss_type='dgro' needs the sampling policy's log-probabilities (TRL's "
                               "old_per_token_logps), which TRL computes only when a generation is reused; "
                               "GRPORunConfig.validate should have refused this schedule")
        adv = inputs["advantages"]  # (B,): r − V, V the group mean (advantage_method='dr_grpo')
        terms = dgro_loss_terms(logps, src, adv, mask, rc.dgro_beta_1, rc.dgro_beta_2)  # each (B,)
        loss = (terms["policy"] + terms["penalty"]).mean()
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        with torch.no_grad():
            ratio = terms["log_ratio"]
            per_seq = torch.stack([terms["policy"].abs(), terms["penalty"], (rc.dgro_beta_1 * adv).abs(),
                                   (2 * rc.dgro_beta_2 * ratio).abs(), ratio.abs(), ratio ** 2], dim=1)  # (B, 6)
            means = self.accelerator.gather(per_seq.float()).mean(dim=0)
            m = self._metrics[mode]
            for name, v in zip(("policy_term_abs", "penalty_term", "policy_coef_abs", "penalty_coef_abs",
                                "abs_log_ratio", "sq_log_ratio"), means.tolist()):
                m[f"ordebug/dgro/{name}"].append(v)
            m["entropy"].append(self._global_masked_mean(entropies, mask))
        return loss

    def _compute_hybrid_loss(self, model, inputs):
        """α·DR-GRPO + (1−α)·GRPO of ``losses.per_token_loss`` (brief §4), scaled for gradient accumulation
        as TRL scales 'grpo' and 'dr_grpo'."""
        logps, entropies, mask = self._policy_logps(model, inputs)  # each (B, T)
        old = inputs.get("old_per_token_logps")
        old = logps.detach() if old is None else old
        ref = inputs.get("ref_per_token_logps") if self.beta != 0.0 else None
        adv = inputs["advantages"]  # (B,)
        ell = per_token_loss(logps, old, adv, self.epsilon_low, self.epsilon_high, ref_logp=ref, beta=self.beta,
                             kl_ratio_correction=self.args.use_bias_correction_kl)  # (B, T)
        loss = aggregate_loss(ell, mask, "hybrid", self.max_completion_length, self._hybrid_alpha())
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps

        def global_masked_mean(x):  # the metrics TRL logs for its clipped losses, under the same keys
            return self._global_masked_mean(x, mask)

        with torch.no_grad():
            ratio = torch.exp(logps - old)
            a = adv.unsqueeze(1)
            low = ((ratio < 1 - self.epsilon_low) & (a < 0)).float()
            high = ((ratio > 1 + self.epsilon_high) & (a > 0)).float()
            m = self._metrics[mode]
            if ref is not None:
                kl = torch.exp(ref - logps) - (ref - logps) - 1
                if self.args.use_bias_correction_kl:
                    kl = kl * ratio
                m["kl"].append(global_masked_mean(kl))
            m["entropy"].append(global_masked_mean(entropies))
            m["clip_ratio/low_mean"].append(global_masked_mean(low))
            m["clip_ratio/high_mean"].append(global_masked_mean(high))
            m["clip_ratio/region_mean"].append(global_masked_mean(torch.maximum(low, high)))
        return loss
