"""The table of offline objectives: ``--loss NAME`` → (unit shape, a function that calls the pure loss).

Every objective has the same signature, so the trainer never branches on the loss name::

    fn(logps, ref_logps, tiers, lengths, labels, kl_ref, **kwargs) -> (loss, parts)

Shapes: ``logps``, ``ref_logps`` (b, n) summed response log-probs under the policy and the reference, laid out best
first (pairs: n = 2, column 0 chosen; lists: n = the longest list, padded; KTO: n = 1); ``tiers`` (b, n) tier of each
response (0 = best, -1 = padding); ``lengths`` (b, n) response tokens; ``labels`` (b,) ±1 (KTO) else 0; ``kl_ref``
the KTO reference point z0 (a scalar; 0 for the others). The math is in :mod:`langrl.losses.policy`; these adapters
only pick columns and name keyword arguments. Each returns a *mean over b*, and ``parts`` always include
``accuracy``, ``margin``, ``chosen_rewards`` and ``rejected_rewards`` (implicit rewards β log π/π_ref).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from langrl.losses import dpo_loss, ipo_loss, kto_loss, pl_dpo_loss, plackett_luce_tiers_loss, rpo_loss


def _cdpo(logps, ref, tiers, lengths, labels, kl_ref, *, beta: float, label_smoothing: float,
          rpo_alpha: float = 0.0):
    """Conservative DPO: DPO eq. 7 with labels flipped with probability ``label_smoothing``; with ``rpo_alpha`` > 0
    plus the RPO NLL of the chosen response."""
    if rpo_alpha:
        return rpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], lengths[:, 0], beta, rpo_alpha,
                        label_smoothing)
    return dpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], beta, label_smoothing)


def _dpo(logps, ref, tiers, lengths, labels, kl_ref, *, beta: float, rpo_alpha: float = 0.0):
    """DPO eq. 7; with ``rpo_alpha`` > 0 plus the RPO NLL of the chosen response."""
    return _cdpo(logps, ref, tiers, lengths, labels, kl_ref, beta=beta, label_smoothing=0.0, rpo_alpha=rpo_alpha)


def _ipo(logps, ref, tiers, lengths, labels, kl_ref, *, beta: float, ipo_length_average: bool = False):
    """IPO eq. 17 with tau = beta (TRL's convention); log-ratios optionally averaged per token."""
    lc, lr = (lengths[:, 0], lengths[:, 1]) if ipo_length_average else (None, None)
    loss, parts = ipo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], beta, lc, lr)
    # ipo_loss reports tau-free log-ratios; scale by beta so every loss logs the same implicit reward beta log pi/ref
    return loss, {**parts, **{k: beta * parts[k] for k in ("chosen_rewards", "rejected_rewards", "margin")}}


def _pl(logps, ref, tiers, lengths, labels, kl_ref, *, beta: float):
    """Plackett-Luce DPO (DPO appendix A.3); rankings with tied tiers use the Breslow tie form of the PL likelihood."""
    if not ((tiers[:, 1:] == tiers[:, :-1]) & (tiers[:, 1:] >= 0)).any():
        # rows are stored best first with distinct tiers, so the order is 0..n-1, padded with -1
        order = torch.where(tiers >= 0, torch.arange(tiers.shape[1]).expand_as(tiers), -1)
        return pl_dpo_loss(logps, ref, order, beta)
    rewards = beta * (logps - ref.detach())  # r = beta log pi/ref, DPO eq. 5
    loss, pl_parts = plackett_luce_tiers_loss(rewards, tiers)  # PL over tiers (Breslow ties)
    with torch.no_grad():
        valid = tiers >= 0
        last = valid.sum(1) - 1
        best, worst = rewards[:, 0], rewards.gather(1, last[:, None]).squeeze(1)
        parts = {"chosen_rewards": best.mean(), "rejected_rewards": worst.mean(),
                 "accuracy": pl_parts["top1_accuracy"], "margin": (best - worst).mean()}
    return loss, parts


def _kto(logps, ref, tiers, lengths, labels, kl_ref, *, beta: float, desirable_weight: float = 1.0,
         undesirable_weight: float = 1.0):
    """KTO with the reference point z0 = kl_ref; accuracy = share of responses on the labelled side of z0."""
    loss, parts = kto_loss(logps[:, 0], ref[:, 0], labels, kl_ref, beta, desirable_weight, undesirable_weight)
    with torch.no_grad():
        r = beta * (logps[:, 0] - ref[:, 0])
        z = beta * torch.as_tensor(kl_ref, dtype=r.dtype)
        parts["accuracy"] = ((r > z) == (labels > 0)).float().mean()
        parts["margin"] = parts["chosen_rewards"] - parts["rejected_rewards"]
    return loss, parts


@dataclass(frozen=True)
class Objective:
    shape: str  # "pair", "list" or "single" (see langrl.train.dpo.data)
    fn: Callable
    settings: tuple[str, ...]  # config fields passed to fn as keyword arguments
    doc: str

    def kwargs(self, cfg) -> dict:
        """The keyword arguments of ``fn``, read from a config (or any object) with those field names."""
        return {name: getattr(cfg, name) for name in self.settings}


OBJECTIVES: dict[str, Objective] = {
    "dpo": Objective("pair", _dpo, ("beta", "rpo_alpha"), "DPO (Rafailov et al. 2023)"),
    "cdpo": Objective("pair", _cdpo, ("beta", "label_smoothing", "rpo_alpha"),
                      "conservative DPO: labels assumed flipped with probability label_smoothing (Mitchell 2023)"),
    "ipo": Objective("pair", _ipo, ("beta", "ipo_length_average"), "IPO (Azar et al. 2023), tau = beta"),
    "pl": Objective("list", _pl, ("beta",), "Plackett-Luce DPO over ranked lists (DPO appendix A.3)"),
    "kto": Objective("single", _kto, ("beta", "desirable_weight", "undesirable_weight"),
                     "KTO from desirable/undesirable responses (Ethayarajh et al. 2024)"),
}
