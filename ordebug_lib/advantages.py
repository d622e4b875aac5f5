"""Advantage estimators for group-sampled RL (GRPO family) and DAPO's dynamic-sampling filter.

Layout of the input everywhere: ``rewards`` is a flat (B,) tensor, B = n_groups · group_size, grouped
contiguously: rewards[0:G] are the G completions of prompt 0, rewards[G:2G] of prompt 1, and so on
(the order TRL's ``RepeatSampler`` produces and ``GRPOTrainer`` reshapes with ``view(-1, G)``).

Std convention and ε (chosen to agree with TRL 1.16 to 1e-6):

- std is the **unbiased** (Bessel-corrected, divide by G − 1) sample standard deviation of the group,
  as in TRL's ``nanstd``; pass ``std="biased"`` for the divide-by-G population std;
- ε = **1e-4** is added to the std (not to the variance): A = (r − mean) / (std + 1e-4), as in TRL.
  DeepSeekMath (arXiv 2402.03300 §4.1.2) writes (r − mean(r)) / std(r) without fixing either choice.

Rewards must be finite: NaN/inf raise (no reward is ever silently replaced), and group_size ≥ 2.
"""
from __future__ import annotations

import torch

METHODS = ("grpo", "dr_grpo", "dgro", "krpo")
DEFAULT_EPS = 1e-4
STD_CONVENTIONS = ("unbiased", "biased")
KRPO_DEFAULTS = {"x0": 0.0, "p0": 1.0, "q": 1e-5, "r": 1e-2}


def _as_rewards(rewards) -> torch.Tensor:
    r = rewards if isinstance(rewards, torch.Tensor) else torch.as_tensor(rewards, dtype=torch.float64)
    if r.dim() != 1:
        raise ValueError(f"rewards must be a flat 1-D tensor of length n_groups * group_size, got shape {tuple(r.shape)}")
    if not torch.is_floating_point(r):
        r = r.to(torch.float64)
    if not bool(torch.isfinite(r).all()):
        raise ValueError("rewards contain NaN or inf; every completion needs a finite reward")
    return r


def group_rewards(rewards, group_size: int) -> torch.Tensor:
    """Reshape flat (B,) rewards to (n_groups, G), checking that G ≥ 2 divides B.

    Example: ``group_rewards([1., 0., 0., 0.], 2) == [[1., 0.], [0., 0.]]``
    """
    r = _as_rewards(rewards)
    if not (isinstance(group_size, int) and group_size >= 2):
        raise ValueError(f"group_size must be an int ≥ 2, got {group_size!r}")
    if r.numel() == 0 or r.numel() % group_size != 0:
        raise ValueError(f"group_size {group_size} does not divide the number of rewards {r.numel()}")
    return r.view(-1, group_size)  # (n_groups, G)


def group_std(grouped: torch.Tensor, std: str = "unbiased") -> torch.Tensor:
    """(n_groups, 1) std of each row: ``unbiased`` divides by G−1, ``biased`` by G.

    Example: row [1, 0, 0, 0]: mean 0.25, Σ(r−mean)² = 0.5625 + 3·0.0625 = 0.75,
    unbiased std = sqrt(0.75/3) = 0.5, biased std = sqrt(0.75/4) = 0.4330127…
    """
    if std not in STD_CONVENTIONS:
        raise ValueError(f"unknown std convention {std!r}; expected one of {STD_CONVENTIONS}")
    return grouped.std(dim=1, keepdim=True, correction=1 if std == "unbiased" else 0)


def grpo_advantages(rewards, group_size: int, eps: float = DEFAULT_EPS, std: str = "unbiased") -> torch.Tensor:
    """GRPO (DeepSeekMath, arXiv 2402.03300 §4.1.2, outcome supervision): A = (r − mean_g) / (std_g + ε).

    Worked example, one group [1, 0, 0, 0]: mean 0.25, unbiased std 0.5 →
    A = [0.75/0.5001, −0.25/0.5001, …] = [1.49970…, −0.49990…, −0.49990…, −0.49990…].
    An all-equal group gives A = 0 exactly.
    """
    if eps < 0:
        raise ValueError(f"eps must be ≥ 0, got {eps}")
    g = group_rewards(rewards, group_size)  # (n_groups, G)
    centred = g - g.mean(dim=1, keepdim=True)
    return (centred / (group_std(g, std) + eps)).reshape(-1)


def dr_grpo_advantages(rewards, group_size: int) -> torch.Tensor:
    """Dr. GRPO (arXiv 2503.20783 §3.1): A = r − mean_g, no division by the std. Also the r − V(x, β) of the
    DGRO paper's loss (arXiv 2505.12951; ``losses.dgro_loss``), V estimated by the group mean.

    Example: [1, 0, 0, 0] → [0.75, −0.25, −0.25, −0.25].
    """
    g = group_rewards(rewards, group_size)
    return (g - g.mean(dim=1, keepdim=True)).reshape(-1)


def kalman_filter_1d(
    observations: torch.Tensor, x0: float = 0.0, p0: float = 1.0, q: float = 1e-5, r: float = 1e-2
) -> dict[str, torch.Tensor]:
    """Scalar random-walk Kalman filter over ``observations`` in the given order (KRPO, arXiv 2505.07527).

    Model: latent baseline x_k = x_{k−1} + w, w ~ N(0, q); observation z_k = x_k + v, v ~ N(0, r).
    For k = 1..n::

        prior:      x_{k|k−1} = x_{k−1|k−1},           P_{k|k−1} = P_{k−1|k−1} + q
        gain:       K_k = P_{k|k−1} / (P_{k|k−1} + r)
        posterior:  x_{k|k} = x_{k|k−1} + K_k (z_k − x_{k|k−1}),   P_{k|k} = (1 − K_k) P_{k|k−1}

    with x_{0|0} = x0, P_{0|0} = p0. Returns dict of (n,) tensors: ``x_prior``, ``p_prior``, ``x_post``,
    ``p_post``, ``gain``.

    Worked example, z = [1], defaults: P_{1|0} = 1.00001, K = 1.00001/1.01001 = 0.990099…,
    x_{1|1} = 0.990099…, P_{1|1} = 0.01·1.00001/1.01001 = 0.00990109…
    """
    if p0 <= 0 or q < 0 or r <= 0:
        raise ValueError(f"need p0 > 0, q ≥ 0, r > 0; got p0={p0}, q={q}, r={r}")
    z = observations.to(torch.float64)
    n = z.numel()
    out = {k: torch.empty(n, dtype=torch.float64) for k in ("x_prior", "p_prior", "x_post", "p_post", "gain")}
    x, p = float(x0), float(p0)
    for k in range(n):
        x_prior, p_prior = x, p + q
        gain = p_prior / (p_prior + r)
        x = x_prior + gain * (float(z[k]) - x_prior)
        p = (1.0 - gain) * p_prior
        out["x_prior"][k], out["p_prior"][k], out["gain"][k] = x_prior, p_prior, gain
        out["x_post"][k], out["p_post"][k] = x, p
    return {k: v.to(observations.dtype) for k, v in out.items()}


def krpo_advantages(
    rewards,
    group_size: int,
    x0: float = KRPO_DEFAULTS["x0"],
    p0: float = KRPO_DEFAULTS["p0"],
    q: float = KRPO_DEFAULTS["q"],
    r: float = KRPO_DEFAULTS["r"],
    state: str = "posterior",
) -> torch.Tensor:
    """KRPO (arXiv 2505.07527): A_k = (r_k − x_k) / sqrt(P_k) from a fresh 1-D Kalman filter per group.

    ``state="posterior"`` (default) uses x_{k|k}, P_{k|k}, i.e. the estimate *after* reward r_k has been
    absorbed — what the authors' released code does (``KalmanFilter.update`` then ``(r − x)/sqrt(P)``);
    ``state="prior"`` uses x_{k|k−1}, P_{k|k−1} (the prediction before seeing r_k). P is always > 0 so no ε
    is needed. The filter restarts from (x0, p0) for every group.

    **Order dependence**: the filter reads the group in the given (generation) order, so permuting a group
    permutes *and changes* its advantages; the first completion is judged against the prior x0 = 0, and
    the advantages of a group need not sum to zero — even an all-equal group gets non-zero advantages
    (the baseline is still converging from x0 towards the reward).

    Worked example, group [1, 0] with defaults (posterior):
    k=1: P_{1|0}=1.00001, K=0.9900989…, x=0.9900989…, P=0.0099010…, A_1 = (1−0.9900989…)/sqrt(P) = 0.0995032…
    (see ``tests/test_advantages.py`` for the second step).
    """
    if state not in ("posterior", "prior"):
        raise ValueError(f"unknown KRPO state {state!r}; expected 'posterior' or 'prior'")
    g = group_rewards(rewards, group_size)  # (n_groups, G)
    adv = torch.empty_like(g)
    for i in range(g.shape[0]):
        kf = kalman_filter_1d(g[i], x0, p0, q, r)
        x, p = (kf["x_post"], kf["p_post"]) if state == "posterior" else (kf["x_prior"], kf["p_prior"])
        adv[i] = (g[i] - x) / torch.sqrt(p)
    return adv.reshape(-1)


def dgro_advantages(
    rewards,
    group_size: int,
    beta_reward: float = 1.0,
    min_variance: float = 1e-2,
    eps: float = DEFAULT_EPS,
    baseline: str = "mean",
    std: str = "unbiased",
    kalman: dict | None = None,
) -> torch.Tensor:
    """The seeds' variance-scaled advantage (seeds/000, which cites DGRO arXiv
    2505.12951): A = β_reward · (r − b) / (sqrt(max(var_g, min_variance)) + ε).

    **This is not the DGRO paper's objective.** The paper's loss is −β₁ (r − V) log π_θ + β₂ (log π_θ/π_src)²,
    the penalty to the *sampling* policy, on whole sequences: ``losses.dgro_loss`` (``loss_type='dgro'``).
    What seeds/000 built instead is GRPO's advantage times β_reward with a floor under the group variance,
    with its β_kl passed as the k3 KL coefficient to the reference policy
    (``ordebug_lib.losses.per_token_loss(beta=...)``, TRL's ``GRPOConfig.beta``). Wherever the floor does not
    bind (every informative group's variance ≥ min_variance) this is exactly β_reward × GRPO's advantage,
    so the loss is β_reward × GRPO's loss with β = β_kl/β_reward, and Adam, invariant to a constant gradient
    scale up to its ε, takes the same steps as GRPO with β = β_kl/β_reward (``tests/test_dgro_paper.py``).
    On the composite reward (range −25 … 100) a floor of 0.01 essentially never binds
    (``dgro_floor_binding`` logs how often it does).

    ``baseline`` b: ``"mean"`` (group mean) or ``"kalman"`` (KRPO's posterior estimate x_{k|k}, options in
    ``kalman`` = dict(x0, p0, q, r)).

    These advantages must be used *as advantages*: feeding them to TRL as rewards with
    ``scale_rewards="group"`` would re-standardise each group and cancel both β_reward and the floor.

    Worked example, group [1, 0, 0, 0], β_reward = 2, min_variance = 0.01: unbiased var 0.25 > 0.01,
    std 0.5 → A = 2·[0.75, −0.25, −0.25, −0.25]/0.5001. Group [0.1, 0, 0, 0]: var 0.0025 < 0.01 → floor
    std 0.1 → A = 2·[0.075, −0.025, …]/0.1001 = [1.4985…, −0.4995…, …] (GRPO would give [1.4970…, …]
    only because it rescales the tiny spread to unit size).
    """
    if baseline not in ("mean", "kalman"):
        raise ValueError(f"unknown DGRO baseline {baseline!r}; expected 'mean' or 'kalman'")
    if min_variance < 0 or eps < 0:
        raise ValueError(f"min_variance and eps must be ≥ 0, got {min_variance}, {eps}")
    if min_variance == 0 and eps == 0:
        raise ValueError("min_variance and eps cannot both be 0 (an all-equal group would divide 0 by 0)")
    if kalman is not None and baseline != "kalman":
        raise ValueError("kalman options are only used with baseline='kalman'")
    g = group_rewards(rewards, group_size)  # (n_groups, G)
    if baseline == "mean":
        b = g.mean(dim=1, keepdim=True)  # (n_groups, 1)
    else:
        opts = {**KRPO_DEFAULTS, **(kalman or {})}
        unknown = set(opts) - set(KRPO_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown kalman option(s) {sorted(unknown)}; expected {sorted(KRPO_DEFAULTS)}")
        b = torch.stack([kalman_filter_1d(row, **opts)["x_post"] for row in g])  # (n_groups, G)
    variance = group_std(g, std) ** 2
    scale = torch.sqrt(variance.clamp(min=min_variance)) + eps  # (n_groups, 1)
    return (beta_reward * (g - b) / scale).reshape(-1)


def dgro_floor_binding(rewards, group_size: int, min_variance: float, std: str = "unbiased") -> float:
    """Fraction of informative groups (rewards not all equal) whose variance is below the floor of the seeds'
    variance-scaled advantage, i.e. the groups whose advantages ``dgro_advantages`` divides by
    sqrt(min_variance) instead of their own std: where the floor acts. 0 means the seeds' advantage is GRPO's
    times β_reward on that batch (and Adam cancels a constant scale). All-equal groups are left out: their
    advantages are 0 whatever the floor.

    >>> dgro_floor_binding([1., 0., 0.1, 0., 5., 5.], 2, min_variance=0.01)  # vars 0.5, 0.005 (binds), -
    0.5
    >>> dgro_floor_binding([100., -100., 0., 50.], 2, min_variance=0.01)      # a ±100 reward never binds
    0.0
    """
    g = group_rewards(rewards, group_size)  # (n_groups, G)
    live = informative_groups(rewards, group_size)
    if not bool(live.any()):
        return 0.0
    variance = (group_std(g, std) ** 2).reshape(-1)  # (n_groups,)
    return float((variance[live] < min_variance).double().mean())


_METHOD_FUNCS = {
    "grpo": (grpo_advantages, {"eps", "std"}),
    "dr_grpo": (dr_grpo_advantages, set()),
    "dgro": (dgro_advantages, {"beta_reward", "min_variance", "eps", "baseline", "std", "kalman"}),
    "krpo": (krpo_advantages, {"x0", "p0", "q", "r", "state"}),
}


def compute_advantages(rewards, group_size: int, method: str, **options) -> torch.Tensor:
    """Dispatch to the estimator ``method`` ∈ {grpo, dr_grpo, dgro, krpo}; returns (B,) advantages ('dgro' is
    the seeds' variance-scaled advantage, ``dgro_advantages``; the DGRO paper's objective uses 'dr_grpo').

    ``options`` are that estimator's keyword arguments (unknown ones raise ValueError):
    grpo: eps, std · dr_grpo: none · dgro: beta_reward, min_variance, eps, baseline, std, kalman ·
    krpo: x0, p0, q, r, state.

    Example: ``compute_advantages(torch.tensor([1., 0., 1., 1.]), 2, "dr_grpo") == [0.5, −0.5, 0., 0.]``
    """
    if method not in _METHOD_FUNCS:
        raise ValueError(f"unknown advantage method {method!r}; expected one of {METHODS}")
    func, allowed = _METHOD_FUNCS[method]
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for method {method!r}; allowed: {sorted(allowed)}")
    return func(rewards, group_size, **options)


def advantages_by_method(
    rewards, group_size: int, methods=METHODS, options: dict[str, dict] | None = None
) -> dict[str, torch.Tensor]:
    """{method: (B,) advantages} for several estimators on the same rewards; ``options[method]`` are passed on.

    Example: ``advantages_by_method([1., 0.], 2, ("dr_grpo",)) == {"dr_grpo": [0.5, −0.5]}``
    """
    options = options or {}
    unknown = set(options) - set(methods)
    if unknown:
        raise ValueError(f"options given for method(s) {sorted(unknown)} that are not in methods {list(methods)}")
    return {m: compute_advantages(rewards, group_size, m, **options.get(m, {})) for m in methods}


def informative_groups(rewards, group_size: int, atol: float = 0.0) -> torch.Tensor:
    """(n_groups,) bool: True where the group's rewards are not all equal (max − min > atol).

    Exact comparison by default (atol = 0): a group [0.1, 0.1, 0.1] is uninformative, [0.1, 0.1, 0.1000001]
    is informative. Example: ``informative_groups([1, 1, 0, 1], 2) == [False, True]``.
    """
    if atol < 0:
        raise ValueError(f"atol must be ≥ 0, got {atol}")
    g = group_rewards(rewards, group_size)
    spread = g.max(dim=1).values - g.min(dim=1).values
    return spread > atol


def dynamic_sampling_mask(rewards, group_size: int, atol: float = 0.0) -> torch.Tensor:
    """(B,) bool mask of the samples DAPO's dynamic sampling keeps (arXiv 2503.14476 §3.2, constraint
    0 < |{correct}| < G, generalised to "reward std > 0"): every sample of a group whose rewards are not
    all equal. Groups with zero std give zero advantage under GRPO / Dr. GRPO and are dropped (the caller
    refills the batch with new groups).

    Example: ``dynamic_sampling_mask([1, 1, 0, 1, 0, 0], 2) == [False, False, True, True, False, False]``
    """
    return informative_groups(rewards, group_size, atol).repeat_interleave(group_size)

