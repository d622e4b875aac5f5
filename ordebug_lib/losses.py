"""Per-token policy losses and the ways GRPO-family methods aggregate them into one scalar.

Notation (shapes in comments): B sequences in the optimizer (micro-)batch, T padded completion width,
``mask`` (B, T) is 1 on real completion tokens and 0 on padding, ``L_max`` is the generation budget
(``max_completion_length``), ``ℓ`` (B, T) the per-token loss.

Aggregations (design brief §4; TRL 1.16 ``GRPOTrainer._compute_loss`` computes the same numbers for
``grpo``, ``dr_grpo`` and ``dapo`` with one process and no gradient accumulation):

=========  =============================================  ======================================
loss_type  loss                                           weight of one token of sequence i
=========  =============================================  ======================================
grpo       mean_i( Σ_t ℓ_it m_it / Σ_t m_it )             1 / (B · L_i)        (DeepSeekMath, arXiv 2402.03300 Eq. 3)
dr_grpo    Σ_it ℓ_it m_it / (B · L_max)                   1 / (B · L_max)      (Dr. GRPO, arXiv 2503.20783 §3.1)
dapo       Σ_it ℓ_it m_it / Σ_it m_it                     1 / Σ_j L_j          (DAPO, arXiv 2503.14476 §3.3)
hybrid     α · dr_grpo + (1 − α) · grpo                   α/(B·L_max) + (1−α)/(B·L_i)   (seeds/004 §4.2)
=========  =============================================  ======================================

where L_i = Σ_t m_it is the length of completion i. GRPO gives every *sequence* the same total weight
1/B, so each token of a long completion counts less (the length bias Dr. GRPO removes); DR-GRPO gives
every *token* the same weight whatever its sequence's length; DAPO gives every token of the batch the same
weight but that weight depends on the batch's total length.

One loss is not an aggregation of the clipped per-token loss but an objective of its own, on whole
sequences (``SEQUENCE_LOSS_TYPES``):

=========  =========================================================================  ========================
loss_type  loss                                                                       source
=========  =========================================================================  ========================
dgro       mean_i( −β₁ (r_i − V_i) · S_i + β₂ (S_i − S_i^src)² ),                       DGRO, arXiv 2505.12951
           S_i = Σ_t m_it logp_it = log π_θ(y_i|x_i), S_i^src the same under π_src     (its loss L_DGRO)
=========  =========================================================================  ========================

π_src is the policy that sampled the batch (TRL's ``old_per_token_logps``), so the β₂ term is zero and has
zero gradient on the first update of a generation and acts only on later ones (``num_iterations`` ≥ 2);
V_i is the group mean of the rewards (see :func:`dgro_loss`). No ratio clipping, no KL to a reference.
"""
from __future__ import annotations

import torch

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "hybrid")
"""The aggregations of the clipped per-token loss (:func:`aggregate_loss`)."""
SEQUENCE_LOSS_TYPES = ("dgro",)
"""Objectives on whole sequences, not aggregations of the per-token loss (:func:`dgro_loss`)."""
HYBRID_REFERENCE_LENGTH = 512


def _check_mask(x: torch.Tensor, mask: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ValueError(f"x and mask must be torch tensors, got {type(x).__name__} and {type(mask).__name__}")
    if x.shape != mask.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but mask has shape {tuple(mask.shape)}; they must match")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 and 1 (or False/True)")


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Σ x·mask over ``dim`` (all elements when ``dim`` is None).

    Example: ``masked_sum([[1., 2., 3.]], [[1, 1, 0]]) == 3.``
    """
    _check_mask(x, mask)
    masked = x * mask.to(x.dtype)
    return masked.sum() if dim is None else masked.sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask == 1`` (along ``dim``, or over everything).

    Raises ValueError when a reduced slice has no unmasked element (the mean is undefined there; the loss
    aggregations below handle empty sequences explicitly instead).

    Example::

        x    = [[1., 2., 3.],      mask = [[1, 1, 0],
                [4., 5., 6.]]              [1, 0, 0]]
        masked_mean(x, mask, dim=1) == [1.5, 4.0]       # (1+2)/2, 4/1
        masked_mean(x, mask)        == 7/3              # (1+2+4)/3
    """
    _check_mask(x, mask)
    count = mask.to(x.dtype).sum() if dim is None else mask.to(x.dtype).sum(dim=dim)
    if bool((count == 0).any()):
        raise ValueError("masked_mean over a slice whose mask is all zero is undefined")
    return masked_sum(x, mask, dim) / count


def masked_normalize(
    x: torch.Tensor, mask: torch.Tensor, normalize_constant: float, dim: int | None = None
) -> torch.Tensor:
    """Σ x·mask / ``normalize_constant`` (Dr. GRPO, arXiv 2503.20783 §3.1: a constant, not the length).

    Example: ``masked_normalize([[1., 2., 3.]], [[1, 1, 0]], 4.) == 0.75``  # (1+2)/4
    """
    if not (isinstance(normalize_constant, (int, float)) and normalize_constant > 0):
        raise ValueError(f"normalize_constant must be a positive number, got {normalize_constant!r}")
    return masked_sum(x, mask, dim) / normalize_constant


def hybrid_alpha(max_completion_length: int, reference_length: int = HYBRID_REFERENCE_LENGTH) -> float:
    """α = min(1, L_max / reference_length) for the hybrid loss (seeds/004 §4.2, brief §4).

    Examples: L_max=256 → 0.5, 512 → 1.0, 1024 → 1.0. Note what this formula does: it puts *more* weight
    on DR-GRPO as the budget grows and is pure DR-GRPO from 512 tokens on, including at 1024 tokens, the
    setting where seeds/004 saw DR-GRPO collapse; the comment next to it in seeds/004 ("more DR-GRPO for
    shorter contexts") says the opposite. We implement the formula as specified; pass ``alpha`` explicitly
    to :func:`aggregate_loss` to study other schedules.
    """
    if max_completion_length <= 0 or reference_length <= 0:
        raise ValueError(
            f"max_completion_length and reference_length must be positive, got {max_completion_length}, "
            f"{reference_length}"
        )
    return min(1.0, max_completion_length / reference_length)


def aggregate_loss(
    per_token_loss: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str,
    max_completion_length: int,
    alpha: float | None = None,
) -> torch.Tensor:
    """Reduce a (B, T) per-token loss to the scalar that is back-propagated (see module docstring).

    - ``grpo``: per-sequence masked mean, then mean over the B sequences. A sequence with no unmasked token
      (e.g. a truncated completion under ``mask_truncated_completions``) contributes 0 and still counts
      in the mean over B, as in TRL (its length is clamped to 1).
    - ``dr_grpo``: Σ ℓ·m / (B · L_max). Requires every completion length ≤ L_max.
    - ``dapo``: Σ ℓ·m / Σ m over the whole batch (0 if the batch has no unmasked token, as in TRL).
    - ``hybrid``: α·dr_grpo + (1−α)·grpo with α = :func:`hybrid_alpha` (L_max) unless ``alpha`` is given.

    Worked example (B=2, L_max=4)::

        ℓ = [[1, 1, 0, 0],   m = [[1, 1, 0, 0],      grpo    = (2/2 + 12/4)/2 = 2.0
             [3, 3, 3, 3]]        [1, 1, 1, 1]]      dr_grpo = 14/(2·4)      = 1.75
                                                     dapo    = 14/6          = 2.333…
        hybrid: α = min(1, 4/512) = 1/128 → 1/128·1.75 + 127/128·2.0 = 1.998046875
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; expected one of {LOSS_TYPES}")
    _check_mask(per_token_loss, mask)
    if per_token_loss.dim() != 2:
        raise ValueError(f"per_token_loss must be 2-D (B, T), got shape {tuple(per_token_loss.shape)}")
    if not (isinstance(max_completion_length, int) and max_completion_length > 0):
        raise ValueError(f"max_completion_length must be a positive int, got {max_completion_length!r}")
    m = mask.to(per_token_loss.dtype)  # (B, T)
    lengths = m.sum(dim=1)  # (B,)
    batch_size = per_token_loss.shape[0]

    def grpo() -> torch.Tensor:
        return ((per_token_loss * m).sum(dim=1) / lengths.clamp(min=1.0)).mean()

    def dr_grpo() -> torch.Tensor:
        if bool((lengths > max_completion_length).any()):
            raise ValueError(
                f"a completion has {int(lengths.max())} tokens, more than max_completion_length="
                f"{max_completion_length}; DR-GRPO's constant B·L_max assumes every length ≤ L_max"
            )
        return masked_normalize(per_token_loss, mask, float(batch_size * max_completion_length))

    if loss_type == "grpo":
        return grpo()
    if loss_type == "dr_grpo":
        return dr_grpo()
    if loss_type == "dapo":
        return (per_token_loss * m).sum() / m.sum().clamp(min=1.0)
    a = hybrid_alpha(max_completion_length) if alpha is None else alpha
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"hybrid alpha must lie in [0, 1], got {a}")
    return a * dr_grpo() + (1.0 - a) * grpo()


def token_weights(
    mask: torch.Tensor, loss_type: str, max_completion_length: int, alpha: float | None = None
) -> torch.Tensor:
    """(B, T) gradient weight ∂loss/∂ℓ_it of every token under ``loss_type``, obtained by autograd
    through :func:`aggregate_loss` (so it is the weight the optimiser really sees, not a re-derivation).

    Example: mask [[1, 1, 0, 0], [1, 1, 1, 1]], L_max=4 → grpo [[1/4, 1/4, 0, 0], [1/8]*4];
    dr_grpo 1/8 on every real token; dapo 1/6 on every real token.
    """
    dtype = torch.float64
    ell = torch.zeros(mask.shape, dtype=dtype, requires_grad=True)  # (B, T)
    loss = aggregate_loss(ell, mask.to(dtype), loss_type, max_completion_length, alpha)
    (grad,) = torch.autograd.grad(loss, ell)
    return grad * mask.to(dtype)


def lengths_to_mask(lengths, width: int | None = None) -> torch.Tensor:
    """(B, T) right-padded 0/1 mask (float64) for completions of the given lengths; T = max length by default.

    Example: ``lengths_to_mask([2, 4]) == [[1, 1, 0, 0], [1, 1, 1, 1]]``
    """
    lens = torch.as_tensor(lengths, dtype=torch.long)  # (B,)
    if lens.dim() != 1 or lens.numel() == 0 or bool((lens < 0).any()):
        raise ValueError(f"lengths must be a non-empty 1-D sequence of non-negative ints, got {lengths!r}")
    width = int(lens.max()) if width is None else width
    if width < int(lens.max()):
        raise ValueError(f"width {width} is smaller than the longest completion {int(lens.max())}")
    return (torch.arange(width).unsqueeze(0) < lens.unsqueeze(1)).to(torch.float64)


def weights_by_length(
    lengths, max_completion_length: int, loss_type: str, alpha: float | None = None
) -> torch.Tensor:
    """(B,) gradient weight that each token of each completion receives in one batch with these lengths.

    All four aggregations give every token of a sequence the same weight, so one number per sequence.
    Example: lengths [2, 4], L_max 4 → grpo [1/4, 1/8], dr_grpo [1/8, 1/8], dapo [1/6, 1/6].
    """
    lens = torch.as_tensor(lengths, dtype=torch.long)
    if bool((lens < 1).any()):
        raise ValueError("every completion needs at least one token to have a per-token weight")
    w = token_weights(lengths_to_mask(lens), loss_type, max_completion_length, alpha)  # (B, T)
    return w[:, 0]


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(π_θ ‖ π_ref) (Schulman 2020, "Approximating KL divergence";
    GRPO, arXiv 2402.03300 Eq. 4): exp(ref − logp) − (ref − logp) − 1 ≥ 0, zero iff logp == ref.

    Example: logp = log 0.5, ref = log 0.25 → r = 0.5: 0.5 − log 0.5 − 1 = 0.193147…
    """
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and ref_logp {tuple(ref_logp.shape)} must have the same shape")
    log_ratio = ref_logp - logp  # (B, T)
    return torch.exp(log_ratio) - log_ratio - 1.0


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
) -> torch.Tensor:
    """(B, T) per-token clipped policy loss −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)·A), ρ = exp(logp − old_logp).

    PPO's clipped objective (arXiv 1707.06347 Eq. 7) with DAPO's decoupled "clip-higher" bounds
    (arXiv 2503.14476 §3.1). ``advantages`` is (B,) (one per sequence, broadcast over tokens) or (B, T).

    Worked example: ρ = 1.5, A = +1, ε = (0.2, 0.28) → −min(1.5, 1.28) = −1.28 (clipped);
    ρ = 1.5, A = −1 → −min(−1.5, −1.28) = +1.5 (not clipped: the pessimistic bound is kept).
    """
    if logp.shape != old_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and old_logp {tuple(old_logp.shape)} must have the same shape")
    if eps_low < 0 or eps_high < 0 or eps_low >= 1:
        raise ValueError(f"need 0 ≤ eps_low < 1 and eps_high ≥ 0, got eps_low={eps_low}, eps_high={eps_high}")
    if advantages.dim() == 1:
        if advantages.shape[0] != logp.shape[0]:
            raise ValueError(f"advantages has {advantages.shape[0]} entries but logp has {logp.shape[0]} sequences")
        advantages = advantages.unsqueeze(1)  # (B, 1)
    elif advantages.shape != logp.shape:
        raise ValueError(f"advantages must be (B,) or (B, T) = {tuple(logp.shape)}, got {tuple(advantages.shape)}")
    ratio = torch.exp(logp - old_logp)  # (B, T)
    clipped_ratio = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    return -torch.min(ratio * advantages, clipped_ratio * advantages)


def per_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.0,
    kl_ratio_correction: bool = False,
) -> torch.Tensor:
    """ℓ = clipped_surrogate + β·k3_kl(logp, ref_logp) (brief §4); ``ref_logp`` is required when β > 0.

    β here is TRL's ``beta``; the seeds' variance-scaled advantage passes its β_kl (seeds/000) as this β
    (see ``ordebug_lib.advantages.dgro_advantages``). The paper's DGRO has no such term (:func:`dgro_loss`).

    ``kl_ratio_correction=True`` multiplies the KL term by the importance ratio ρ = exp(logp − old_logp)
    (differentiable), the "unbiased reverse-KL" correction of DeepSeek-V3.2 (arXiv 2512.02556). **TRL 1.16
    does this by default** (``GRPOConfig.use_bias_correction_kl=True``); the brief's definition, and our
    default, is the plain β·k3. With β = 0 the flag changes nothing. Even on-policy (ρ = 1 in value) it
    changes the gradient, because ∂ρ/∂logp = ρ.
    """
    if beta < 0:
        raise ValueError(f"beta must be ≥ 0, got {beta}")
    loss = clipped_surrogate(logp, old_logp, advantages, eps_low, eps_high)  # (B, T)
    if beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs ref_logp (the reference policy's per-token log-probabilities)")
        kl = k3_kl(logp, ref_logp)  # (B, T)
        if kl_ratio_correction:
            kl = kl * torch.exp(logp - old_logp)
        loss = loss + beta * kl
    return loss


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str,
    max_completion_length: int,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.0,
    alpha: float | None = None,
    kl_ratio_correction: bool = False,
) -> torch.Tensor:
    """The full scalar loss: :func:`per_token_loss` aggregated by :func:`aggregate_loss`."""
    ell = per_token_loss(logp, old_logp, advantages, eps_low, eps_high, ref_logp, beta, kl_ratio_correction)  # (B, T)
    return aggregate_loss(ell, mask, loss_type, max_completion_length, alpha)


# -- DGRO, the paper's objective ------------------------------------------------------------------------------
def dgro_loss_terms(
    logp: torch.Tensor,
    src_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta_1: float,
    beta_2: float,
) -> dict[str, torch.Tensor]:
    """The two per-sequence terms of DGRO's loss (arXiv 2505.12951, L_DGRO), each (B,):

    - ``policy``  = −β₁ (r − V) · log π_θ(y|x)                 (the policy-gradient term, scaled by β₁)
    - ``penalty`` = β₂ · (log π_θ(y|x) − log π_src(y|x))²       (distance to the sampling policy, scaled by β₂)

    and, for logging, ``log_ratio`` = log π_θ(y|x)/π_src(y|x) (B,) and ``seq_logp`` = log π_θ(y|x) (B,).

    ``logp`` / ``src_logp`` (B, T) are per-token log-probabilities of the completion tokens under π_θ
    (differentiable) and π_src (the sampling policy: constants); ``mask`` (B, T) selects the tokens the
    policy wrote (completion mask × tool mask in multi-turn episodes), so log π(y|x) = Σ_t m_t logp_t is the
    log-probability of the whole sequence, as the paper writes π_θ(y|x). ``advantages`` (B,) is r − V(x, β):
    the trainer passes Dr. GRPO's r − group mean (``advantages.dr_grpo_advantages``), the group estimate of
    the soft value V that Kimi k1.5 (arXiv 2501.12599 §2.3.2), whose loss DGRO decouples, uses.

    The gradient w.r.t. logp_it is m_it · (−β₁ (r_i − V_i) + 2 β₂ (S_i − S_i^src)) per sequence (then /B in
    :func:`dgro_loss`): the paper's ∇L = −β₁ (r − V) ∇log π_θ + 2β₂ log(π_θ/π_src) ∇log π_θ.
    """
    if logp.shape != src_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and src_logp {tuple(src_logp.shape)} must have the same shape")
    _check_mask(logp, mask)
    if logp.dim() != 2:
        raise ValueError(f"logp must be 2-D (B, T), got shape {tuple(logp.shape)}")
    if advantages.shape != (logp.shape[0],):
        raise ValueError(f"advantages must be (B,) = ({logp.shape[0]},), one r − V per sequence, got "
                         f"{tuple(advantages.shape)}")
    if not (beta_1 > 0 and beta_2 >= 0):
        raise ValueError(f"DGRO needs β₁ > 0 and β₂ ≥ 0, got beta_1={beta_1}, beta_2={beta_2}")
    m = mask.to(logp.dtype)
    seq_logp = (logp * m).sum(dim=1)  # (B,) log π_θ(y|x)
    log_ratio = seq_logp - (src_logp.detach() * m).sum(dim=1)  # (B,) log π_θ(y|x) / π_src(y|x)
    adv = advantages.to(logp.dtype).detach()
    return {"policy": -beta_1 * adv * seq_logp, "penalty": beta_2 * log_ratio ** 2, "log_ratio": log_ratio,
            "seq_logp": seq_logp}


def dgro_loss(
    logp: torch.Tensor,
    src_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta_1: float,
    beta_2: float,
) -> torch.Tensor:
    """DGRO's loss (arXiv 2505.12951): the mean over the B sequences of :func:`dgro_loss_terms`' policy +
    penalty, i.e. L = −E[β₁ (r − V) log π_θ(y|x) − β₂ (log π_θ(y|x)/π_src(y|x))²] over the batch.

    Worked example (B = 2, β₁ = 1, β₂ = 0.5)::

        logp = [[-1, -2, -9],     src = [[-1, -1.5, -9],     m = [[1, 1, 0],    r − V = [1, -1]
                [-.5, -.5, -.5]]         [-.5, -.5, -.5]]         [1, 1, 1]]
        S = [-3, -1.5], S_src = [-2.5, -1.5], log ratio = [-0.5, 0]       (the masked -9 is not in S)
        policy  = −1·[1·(−3), (−1)·(−1.5)] = [3, -1.5];  penalty = 0.5·[0.25, 0] = [0.125, 0]
        loss = (3.125 − 1.5) / 2 = 0.8125
        ∂loss/∂logp_it = m_it·(−β₁(r−V)_i + 2β₂·log ratio_i)/B = [−0.75, −0.75, 0] and [0.5, 0.5, 0.5]

    >>> import torch
    >>> logp = torch.tensor([[-1., -2., -9.], [-.5, -.5, -.5]], requires_grad=True)
    >>> src = torch.tensor([[-1., -1.5, -9.], [-.5, -.5, -.5]])
    >>> m = torch.tensor([[1., 1., 0.], [1., 1., 1.]])
    >>> loss = dgro_loss(logp, src, torch.tensor([1., -1.]), m, beta_1=1.0, beta_2=0.5)
    >>> loss.item()
    0.8125
    >>> loss.backward(); (logp.grad + 0.0).tolist()   # + 0.0: the masked token's gradient is -0.0
    [[-0.75, -0.75, 0.0], [0.5, 0.5, 0.5]]
    """
    t = dgro_loss_terms(logp, src_logp, advantages, mask, beta_1, beta_2)
    return (t["policy"] + t["penalty"]).mean()
