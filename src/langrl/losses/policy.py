"""Policy losses: online (PPO, value, GRPO, REINFORCE) and offline (DPO, cDPO, IPO, RPO, Plackett-Luce DPO, KTO).

Shapes: b batch, t response length, n list size, v vocabulary. Token-level losses take ``mask`` (b, t) (1 = policy
token, 0 = prompt/pad/environment token) and reduce with :func:`~langrl.losses.masked.token_mean`: pass ``normalizer``
= the global policy-token count to make micro-batch losses add up to the big-batch loss. Sequence-level (offline)
losses take summed response log-probs (b,). Every loss returns ``(loss, parts)``, parts = detached logging scalars.

Departures from the papers:
- GRPO (Shao et al. 2024, eq. 3) averages tokens per sequence, then sequences; here all policy tokens of the batch are
  averaged together (token-level, as DAPO and Dr. GRPO do), so long answers are not down-weighted per token, and the
  ``normalizer`` invariance holds. Its KL term is the k3 estimator of KL[pi_theta || pi_ref] (eq. 4).
- Value clipping is not in the PPO paper; it is the OpenAI baselines ``ppo2`` form.
- Reference-free DPO/IPO: pass zeros for the reference log-probs (a uniform reference).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .kl import kl_k3
from .masked import expect_same_shape, expect_shape, masked_mean, token_mean
from .preference import plackett_luce_loss


def _token_advantages(advantages: torch.Tensor, logprobs: torch.Tensor) -> torch.Tensor:
    """(b,) sequence advantages are broadcast over tokens; (b, t) are used as is."""
    if advantages.dim() == 1:
        expect_shape(advantages, (logprobs.shape[0],), "advantages")
        return advantages[:, None].expand_as(logprobs)
    expect_same_shape(logprobs=logprobs, advantages=advantages)
    return advantages


def _clipped_surrogate(logprobs, old_logprobs, advantages, mask, clip_eps):
    """Per-token PPO clipped surrogate (to minimise) and its logging parts."""
    expect_shape(logprobs, (None, None), "logprobs")
    expect_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, mask=mask)
    adv = _token_advantages(advantages, logprobs).detach()
    log_ratio = logprobs - old_logprobs.detach()
    ratio = torch.exp(log_ratio)  # r_t(theta) = pi_theta / pi_theta_old
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    per_token = torch.maximum(unclipped, clipped)  # PPO eq. 7: -min(r A, clip(r, 1-eps, 1+eps) A)
    with torch.no_grad():
        parts = {
            "clipfrac": masked_mean((clipped > unclipped).to(logprobs.dtype), mask),
            "approx_kl": masked_mean(kl_k3(old_logprobs, logprobs), mask),  # k3 of KL[pi_old || pi_theta]
            "ratio_mean": masked_mean(ratio, mask),
        }
    return per_token, parts


def ppo_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    normalizer: float | None = None,
) -> tuple[torch.Tensor, dict]:
    """PPO clipped surrogate (Schulman et al. 2017, eq. 7), token-level.

    Shapes: ``logprobs`` (log pi_theta of the sampled tokens), ``old_logprobs`` (at sampling time), ``mask`` (b, t);
    ``advantages`` (b, t) or (b,) (broadcast over tokens).
    parts: ``clipfrac`` (share of tokens where the clipped term is active), ``approx_kl`` (k3 of old vs new),
    ``ratio_mean``.
    """
    per_token, parts = _clipped_surrogate(logprobs, old_logprobs, advantages, mask, clip_eps)
    return token_mean(per_token, mask, normalizer), parts


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float | None = None,
    normalizer: float | None = None,
) -> tuple[torch.Tensor, dict]:
    """Value-head regression 0.5 (V - R)^2, or with ``clip_eps`` 0.5 max((V - R)^2, (clip(V) - R)^2).

    clip(V) = V_old + clamp(V - V_old, -eps, eps) (baselines ppo2). Shapes: all (b, t).
    parts: ``value_clipfrac`` (share of tokens outside the clip range whose clipped error is the larger),
    ``value_mean``.
    See :func:`langrl.train.pg.stats.global_explained_variance` for the usual diagnostic.
    """
    expect_shape(values, (None, None), "values")
    expect_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    returns = returns.detach()
    err = (values - returns) ** 2
    if clip_eps is None:
        per_token, clipfrac = 0.5 * err, values.new_zeros(())
    else:
        old_values = old_values.detach()
        v_clip = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
        err_clip = (v_clip - returns) ** 2
        per_token = 0.5 * torch.maximum(err, err_clip)  # 0.5 max((V - R)^2, (clip(V) - R)^2)
        # clipped AND the larger error: inside the clip range V_old + (V − V_old) can differ from V by round-off
        clipped = ((values - old_values).abs() > clip_eps) & (err_clip > err)
        clipfrac = masked_mean(clipped.to(values.dtype), mask).detach()
    parts = {"value_clipfrac": clipfrac, "value_mean": masked_mean(values.detach(), mask)}
    return token_mean(per_token, mask, normalizer), parts


def entropy_from_logprobs(logprobs: torch.Tensor) -> torch.Tensor:
    """Entropy H = -sum_v p log p of next-token distributions given as log-probabilities. Shapes: ``logprobs``
    (..., v) -> (...).

    Tokens outside the support (log-prob -inf, probability 0: top-k/top-p truncation, NLPO's mask, admissible actions)
    contribute 0, without NaN. The one entropy of the library: the trainers' (from the log-probs they already hold)
    and :func:`entropy_from_logits`.
    """
    probs = logprobs.exp()
    return -(probs * logprobs.masked_fill(probs == 0, 0.0)).sum(-1)  # 0 * -inf would be NaN


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy H = -sum_v p log p of the next-token distribution. Shapes: ``logits`` (b, t, v) -> (b, t).

    Logits of -inf (tokens masked out of the vocabulary, e.g. NLPO's masking policy) contribute 0, without NaN.
    """
    expect_shape(logits, (None, None, None), "logits")
    return entropy_from_logprobs(torch.log_softmax(logits, dim=-1))


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    normalizer: float | None = None,
) -> tuple[torch.Tensor, dict]:
    """GRPO: clipped surrogate plus kl_coef * k3(pi_theta, pi_ref) in the loss (Shao et al. 2024, eqs. 3-4).

    Shapes: ``logprobs``, ``old_logprobs``, ``ref_logprobs``, ``mask`` (b, t); ``advantages`` (b,) (group-normalised
    scores, see ``group_normalized_advantages``) or (b, t). ``ref_logprobs`` may be None when ``kl_coef`` is 0.
    parts: ``clipfrac``, ``approx_kl``, ``ratio_mean``, ``kl`` (mean k3 to the reference), ``policy_loss``.
    """
    per_token, parts = _clipped_surrogate(logprobs, old_logprobs, advantages, mask, clip_eps)
    parts["policy_loss"] = token_mean(per_token.detach(), mask, normalizer)
    if kl_coef != 0:
        if ref_logprobs is None:
            raise ValueError("ref_logprobs: required when kl_coef != 0")
        kl = kl_k3(logprobs, ref_logprobs.detach())  # GRPO eq. 4: pi_ref/pi - log(pi_ref/pi) - 1
        per_token = per_token + kl_coef * kl  # GRPO eq. 3: ... - beta D_KL
        parts["kl"] = masked_mean(kl.detach(), mask)
    return token_mean(per_token, mask, normalizer), parts


def reinforce_loss(
    logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, normalizer: float | None = None
) -> tuple[torch.Tensor, dict]:
    """REINFORCE: -A log pi_theta(a_t | s_t) per token (Williams 1992); with RLOO or an EMA baseline in A.

    Shapes: ``logprobs``, ``mask`` (b, t); ``advantages`` (b,) or (b, t).
    parts: ``advantage_mean``, ``logprob_mean``.
    """
    expect_shape(logprobs, (None, None), "logprobs")
    expect_same_shape(logprobs=logprobs, mask=mask)
    adv = _token_advantages(advantages, logprobs).detach()
    per_token = -adv * logprobs  # grad = -A grad log pi (the score-function estimator)
    parts = {"advantage_mean": masked_mean(adv, mask), "logprob_mean": masked_mean(logprobs.detach(), mask)}
    return token_mean(per_token, mask, normalizer), parts


# ----------------------------------------------------------------------------------------------------------------------
# Offline: sequence log-probs (b,) = sum over response tokens of log pi(y_t | x, y_<t).


def _pair_inputs(pc, pr, rc, rr):
    expect_shape(pc, (None,), "policy_chosen_logps")
    expect_same_shape(policy_chosen_logps=pc, policy_rejected_logps=pr, ref_chosen_logps=rc, ref_rejected_logps=rr)
    return pc - rc.detach(), pr - rr.detach()  # log pi/pi_ref of chosen and of rejected


def _pair_parts(chosen_rewards, rejected_rewards):
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    return {
        "chosen_rewards": chosen_rewards.mean(),
        "rejected_rewards": rejected_rewards.mean(),
        "accuracy": (chosen_rewards > rejected_rewards).float().mean(),
        "margin": (chosen_rewards - rejected_rewards).mean(),
    }


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict]:
    """DPO (Rafailov et al. 2023, eq. 7); ``label_smoothing`` eps > 0 gives conservative DPO (Mitchell 2023).

    h = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l));  loss = -(1 - eps) log sigma(beta h)
    - eps log sigma(-beta h), i.e. the labels are assumed flipped with probability eps.
    Reference-free DPO: pass zeros as ``ref_*_logps``. Shapes: all (b,) summed response log-probs.
    parts: ``chosen_rewards``, ``rejected_rewards`` (implicit rewards beta log pi/ref), ``accuracy``, ``margin``.
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing: expected a number in [0, 0.5), got {label_smoothing}")
    chosen, rejected = _pair_inputs(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    logits = beta * (chosen - rejected)
    loss = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)  # DPO eq. 7 (+cDPO)
    return loss.mean(), _pair_parts(beta * chosen, beta * rejected)


def rpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    chosen_lengths: torch.Tensor,
    beta: float,
    alpha: float = 1.0,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict]:
    """RPO: DPO plus alpha times the length-normalised NLL of the chosen response (Pang et al. 2024, L_DPO+NLL).

    nll = -log pi(y_w | x) / |y_w|. Shapes: all (b,); ``chosen_lengths`` = response tokens in y_w.
    parts: those of :func:`dpo_loss` plus ``nll`` and ``dpo_loss``.
    """
    expect_same_shape(policy_chosen_logps=policy_chosen_logps, chosen_lengths=chosen_lengths)
    loss, parts = dpo_loss(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, label_smoothing
    )
    nll = (-policy_chosen_logps / chosen_lengths.to(policy_chosen_logps.dtype).clamp_min(1)).mean()
    parts.update(nll=nll.detach(), dpo_loss=loss.detach())
    return loss + alpha * nll, parts  # L_DPO + alpha L_NLL


def ipo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    tau: float,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """IPO (Azar et al. 2023, eq. 17): mean of (h - 1/(2 tau))^2, h the DPO log-ratio difference.

    Length averaging: with ``chosen_lengths``/``rejected_lengths`` given (both or neither), every log-prob is divided
    by its response length first (the TRL implementation's choice; keeps h O(1) for long answers); without them the
    summed log-probs are used, as in the paper. Shapes: all (b,).
    parts: ``chosen_rewards``, ``rejected_rewards`` (log-ratios, tau-free), ``accuracy``, ``margin`` (mean h).
    """
    if tau <= 0:
        raise ValueError(f"tau: expected a positive number, got {tau}")
    chosen, rejected = _pair_inputs(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    if (chosen_lengths is None) != (rejected_lengths is None):
        raise ValueError("chosen_lengths and rejected_lengths: give both (length-averaged IPO) or neither (summed)")
    if chosen_lengths is not None:
        expect_same_shape(policy_chosen_logps=policy_chosen_logps, chosen_lengths=chosen_lengths,
                          rejected_lengths=rejected_lengths)
        chosen = chosen / chosen_lengths.to(chosen.dtype).clamp_min(1)
        rejected = rejected / rejected_lengths.to(rejected.dtype).clamp_min(1)
    h = chosen - rejected
    loss = ((h - 1 / (2 * tau)) ** 2).mean()  # IPO eq. 17
    return loss, _pair_parts(chosen, rejected)


def pl_dpo_loss(
    policy_logps: torch.Tensor, ref_logps: torch.Tensor, order: torch.Tensor, beta: float
) -> tuple[torch.Tensor, dict]:
    """Plackett-Luce DPO over ranked lists (Rafailov et al. 2023, appendix A.3).

    Implicit rewards r_i = beta (log pi(y_i) - log ref(y_i)) go into :func:`plackett_luce_loss`; with n = 2 this is
    exactly :func:`dpo_loss`. ``order``: item indices best -> worst, padded at the end with -1.
    Shapes: ``policy_logps``, ``ref_logps``, ``order`` (b, n).
    parts: ``chosen_rewards`` (best item), ``rejected_rewards`` (worst listed item), ``accuracy`` (best item has the
    highest implicit reward in its list), ``margin`` (best - worst).
    """
    expect_shape(policy_logps, (None, None), "policy_logps")
    expect_same_shape(policy_logps=policy_logps, ref_logps=ref_logps, order=order)
    rewards = beta * (policy_logps - ref_logps.detach())  # r(x, y) = beta log pi(y|x) / ref(y|x), DPO eq. 5
    loss, pl_parts = plackett_luce_loss(rewards, order)  # DPO appendix A.3: the PL likelihood of the ranking
    with torch.no_grad():
        last = (order >= 0).sum(dim=1).clamp_min(1) - 1
        best = rewards.gather(1, order[:, :1].clamp_min(0)).squeeze(1)
        worst = rewards.gather(1, order.gather(1, last[:, None]).clamp_min(0)).squeeze(1)
        parts = {"chosen_rewards": best.mean(), "rejected_rewards": worst.mean(),
                 "accuracy": pl_parts["top1_accuracy"], "margin": (best - worst).mean()}
    return loss, parts


def kto_reference_point(policy_kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z0 = max(0, mean(log pi(y'|x) - log ref(y'|x))), detached.

    The pairs (x, y') are mismatched: y' is the response of another example in the batch (e.g. shift the responses
    by one), so the mean estimates KL[pi || ref] without extra sampling (Ethayarajh et al. 2024). Under data
    parallelism, all-reduce the mean across ranks before clamping. Shapes: both (b,); returns a scalar.
    """
    expect_shape(policy_kl_logps, (None,), "policy_kl_logps")
    expect_same_shape(policy_kl_logps=policy_kl_logps, ref_kl_logps=ref_kl_logps)
    return (policy_kl_logps - ref_kl_logps).mean().clamp_min(0).detach()


def kto_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    labels: torch.Tensor,
    kl_ref: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[torch.Tensor, dict]:
    """KTO (Ethayarajh et al. 2024): mean over b of lambda_y - v(x, y), with r = log pi(y|x) - log ref(y|x) and
    v = lambda_D sigma(beta (r - z0)) for desirable y, lambda_U sigma(beta (z0 - r)) for undesirable y.

    ``kl_ref`` is z0 from :func:`kto_reference_point` (mismatched-pair KL estimate, clamped at 0, detached: no
    gradient flows through it). ``labels``: +1 desirable, -1 undesirable (or bool). Shapes: ``policy_logps``,
    ``ref_logps``, ``labels`` (b,); ``kl_ref`` scalar.
    parts: ``chosen_rewards``/``rejected_rewards`` (mean beta r over desirable / undesirable; 0 if none), ``kl`` (z0).
    """
    expect_shape(policy_logps, (None,), "policy_logps")
    expect_same_shape(policy_logps=policy_logps, ref_logps=ref_logps, labels=labels)
    if labels.dtype == torch.bool:
        desirable = labels
    else:
        if ((labels != 1) & (labels != -1)).any():
            raise ValueError("labels: expected +1 (desirable) or -1 (undesirable)")
        desirable = labels > 0
    z0 = torch.as_tensor(kl_ref, dtype=policy_logps.dtype, device=policy_logps.device).detach()
    if z0.dim() != 0:
        raise ValueError(f"kl_ref: expected a scalar tensor, got shape {tuple(z0.shape)}")
    r = policy_logps - ref_logps.detach()
    v = torch.where(
        desirable,
        desirable_weight * torch.sigmoid(beta * (r - z0)),  # v(x, y) for desirable y
        undesirable_weight * torch.sigmoid(beta * (z0 - r)),  # v(x, y) for undesirable y
    )
    lam = torch.where(desirable, torch.full_like(r, desirable_weight), torch.full_like(r, undesirable_weight))
    loss = (lam - v).mean()  # L_KTO = E[lambda_y - v(x, y)]
    with torch.no_grad():
        rewards = beta * r.detach()
        parts = {
            "chosen_rewards": masked_mean(rewards, desirable),
            "rejected_rewards": masked_mean(rewards, ~desirable),
            "kl": z0,
        }
    return loss, parts
