"""The offline objectives: ``--loss NAME`` → an object built once from the config that owns its settings (β, cDPO's
label smoothing, RPO's α, IPO's length averaging, KTO's weights) and calls the pure loss directly.

Every objective is called the same way, so the trainer never branches on the loss name::

    objective = OBJECTIVES[cfg.loss].from_config(cfg)   # once, at start-up
    loss, parts = objective(logps, ref_logps, tiers, lengths, labels, kl_ref)

Shapes: ``logps``, ``ref_logps`` (b, n) summed response log-probs under the policy and the reference, laid out best
first (pairs: n = 2, column 0 chosen; lists: n = the longest list, padded; KTO: n = 1); ``tiers`` (b, n) tier of each
response (0 = best, -1 = padding); ``lengths`` (b, n) response tokens; ``labels`` (b,) ±1 (KTO) else 0; ``kl_ref``
the KTO reference point z0 (a scalar; 0 for the others). The math is in :mod:`langrl.losses.policy`; these objects
only pick columns. Each returns a *mean over b*, and ``parts`` always include ``accuracy``, ``margin``,
``chosen_rewards`` and ``rejected_rewards`` (implicit rewards β log π/π_ref).

:meth:`Objective.from_config` refuses a loss-specific setting the chosen loss ignores when it is set away from both its
default and the value at which it does nothing (``--loss dpo --desirable-weight 2`` is an error at start-up, not a
silent no-op; ``--label-smoothing 0`` with ``--loss dpo`` is plain DPO and fine).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from langrl.errors import InputError
from langrl.losses import dpo_loss, ipo_loss, kto_loss, pl_dpo_loss, plackett_luce_tiers_loss, rpo_loss


LOSS_SETTINGS = {"label_smoothing": 0.0, "rpo_alpha": 0.0, "ipo_length_average": False, "desirable_weight": 1.0,
                 "undesirable_weight": 1.0, "rating_threshold": 0.0}
"""Config fields that belong to some objectives only, each with the value at which it does nothing."""


@dataclass(frozen=True)
class Objective(ABC):
    name: ClassVar[str]
    shape: ClassVar[str]  # "pair", "list" or "single" (see langrl.train.dpo.data)
    doc: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()
    """Config fields of :data:`LOSS_SETTINGS` used for this objective outside the loss (KTO: the data's split)."""
    beta: float = 0.1

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_config(cls, cfg, prog: str = "langrl dpo") -> "Objective":
        """The objective with its settings read from ``cfg`` (a dataclass config with those field names); a
        setting of :data:`LOSS_SETTINGS` this objective ignores, set to neither its default nor its no-op value, is
        an InputError naming it."""
        used = set(cls.settings()) | set(cls.reads)
        defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
        for name, neutral in LOSS_SETTINGS.items():
            value = getattr(cfg, name, neutral)
            if name not in used and value not in (defaults.get(name, neutral), neutral):
                raise InputError(f"{prog}: field '{name}' is not used by --loss {cls.name} (it uses "
                                 f"{', '.join(sorted(used))}); got {value!r}")
        return cls(**{n: getattr(cfg, n) for n in cls.settings()})

    @abstractmethod
    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref) -> tuple[torch.Tensor, dict]:
        """Implemented by each subclass."""


@dataclass(frozen=True)
class DPO(Objective):
    name: ClassVar[str] = "dpo"
    shape: ClassVar[str] = "pair"
    doc: ClassVar[str] = "DPO (Rafailov et al. 2023)"
    rpo_alpha: float = 0.0

    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref):
        """DPO eq. 7; with ``rpo_alpha`` > 0 plus the RPO NLL of the chosen response."""
        if self.rpo_alpha:
            return rpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], lengths[:, 0], self.beta, self.rpo_alpha,
                            0.0)
        return dpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], self.beta, 0.0)


@dataclass(frozen=True)
class CDPO(Objective):
    name: ClassVar[str] = "cdpo"
    shape: ClassVar[str] = "pair"
    doc: ClassVar[str] = ("conservative DPO: labels assumed flipped with probability label_smoothing "
                          "(Mitchell 2023)")
    label_smoothing: float = 0.1
    rpo_alpha: float = 0.0

    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref):
        """DPO eq. 7 with labels flipped with probability ``label_smoothing``; with ``rpo_alpha`` > 0 plus the RPO
        NLL of the chosen response."""
        if self.rpo_alpha:
            return rpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], lengths[:, 0], self.beta, self.rpo_alpha,
                            self.label_smoothing)
        return dpo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], self.beta, self.label_smoothing)


@dataclass(frozen=True)
class IPO(Objective):
    name: ClassVar[str] = "ipo"
    shape: ClassVar[str] = "pair"
    doc: ClassVar[str] = "IPO (Azar et al. 2023), tau = beta"
    ipo_length_average: bool = False

    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref):
        """IPO eq. 17 with tau = beta (TRL's convention); log-ratios optionally averaged per token."""
        beta = self.beta
        lc, lr = (lengths[:, 0], lengths[:, 1]) if self.ipo_length_average else (None, None)
        loss, parts = ipo_loss(logps[:, 0], logps[:, 1], ref[:, 0], ref[:, 1], beta, lc, lr)
        # ipo_loss reports tau-free log-ratios; scale by beta so every loss logs the same implicit reward beta log pi/ref
        return loss, {**parts, **{k: beta * parts[k] for k in ("chosen_rewards", "rejected_rewards", "margin")}}


@dataclass(frozen=True)
class PL(Objective):
    name: ClassVar[str] = "pl"
    shape: ClassVar[str] = "list"
    doc: ClassVar[str] = "Plackett-Luce DPO over ranked lists (DPO appendix A.3)"

    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref):
        """Plackett-Luce DPO (DPO appendix A.3); rankings with tied tiers use the Breslow tie form of the PL
        likelihood."""
        beta = self.beta
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


@dataclass(frozen=True)
class KTO(Objective):
    name: ClassVar[str] = "kto"
    shape: ClassVar[str] = "single"
    doc: ClassVar[str] = "KTO from desirable/undesirable responses (Ethayarajh et al. 2024)"
    reads: ClassVar[tuple[str, ...]] = ("rating_threshold",)
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0

    def __call__(self, logps, ref, tiers, lengths, labels, kl_ref):
        """KTO with the reference point z0 = kl_ref; accuracy = share of responses on the labelled side of z0."""
        beta = self.beta
        loss, parts = kto_loss(logps[:, 0], ref[:, 0], labels, kl_ref, beta, self.desirable_weight,
                               self.undesirable_weight)
        with torch.no_grad():
            r = beta * (logps[:, 0] - ref[:, 0])
            z = beta * torch.as_tensor(kl_ref, dtype=r.dtype)
            parts["accuracy"] = ((r > z) == (labels > 0)).float().mean()
            parts["margin"] = parts["chosen_rewards"] - parts["rejected_rewards"]
        return loss, parts


OBJECTIVES: dict[str, type[Objective]] = {o.name: o for o in (DPO, CDPO, IPO, PL, KTO)}
