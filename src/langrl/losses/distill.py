"""Distillation from a critique-conditioned teacher: the token KL to the teacher, and the SFT/distillation mixture.

Shapes: m completion tokens (every batch row's completion tokens, in order), v vocabulary.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def teacher_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Σ over m tokens of the forward KL(p_teacher || p_student) (Hinton et al. 2015's distillation target, T = 1).

    KL_t = Σ_v p_T(v) (log p_T(v) - log p_S(v)); the teacher is a target (no gradient).
    Shapes: ``student_logits``, ``teacher_logits`` (m, v). Returns (sum over tokens, parts: ``kl_mean``).
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(f"expected two (m, v) logits, got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    log_s = F.log_softmax(student_logits.float(), dim=-1)
    log_t = F.log_softmax(teacher_logits.detach().float(), dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # (m,) KL(p_T || p_S) per token
    return kl.sum(), {"kl_mean": kl.detach().mean() if kl.numel() else kl.detach().sum()}


def mixture_loss(sft_sum: torch.Tensor, sft_tokens: int, distill_sum: torch.Tensor | None, distill_tokens: int,
                 sft_weight: float, distill_weight: float) -> torch.Tensor:
    """L = a · Σ NLL_sft / N_sft + b · Σ L_distill / N_distill, each term a per-token mean over its global batch.

    With (a, b) = (1, 0) this is exactly the SFT loss (the distillation term is not computed at all).
    ``sft_sum``, ``distill_sum``: scalar sums over (a micro-batch of) the global batch; ``*_tokens``: the global
    batch's token counts, so micro-batches and accumulation sum to the one-big-batch loss.
    """
    loss = sft_weight * sft_sum / max(1, sft_tokens)
    if distill_weight and distill_sum is not None:
        loss = loss + distill_weight * distill_sum / max(1, distill_tokens)
    return loss
