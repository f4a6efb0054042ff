"""``--action-space admissible``: the policy writes one of the environment's admissible commands.

Each command is tokenised as the policy would write it (``" take key\\n"``); a token trie over those sequences
restricts every step of the sampler to tokens that continue some admissible command, and the token is drawn from the
policy's distribution renormalised over that set. The probability of a command is then the product of these
masked, renormalised token probabilities: the policy chooses among the admissible commands by its own log-probability,
and can put no mass outside them — a hard, task-specific trust region in the spirit of NLPO's masking policy (which
masks tokens outside the top-p of a masking model instead). The loss sees the same masked distributions: the allowed
token ids of every action position are kept with the rollout (sparse) and expanded by :func:`allowed_tensor` when
log-probs are recomputed, so the PPO ratio compares like with like.
"""
from __future__ import annotations

import torch


class AdmissibleMask:
    """A :class:`~langrl.rollout.LogitsMask`-like hook over per-row candidate token sequences.

    ``candidates[i]``: the token sequences row i may write (None or empty: row i is unrestricted this turn).
    """

    def __init__(self, candidates: list[list[list[int]] | None]):
        self.cands = [list(c) if c else None for c in candidates]
        self.pos = [0] * len(candidates)

    def reset(self, prompt_ids=None, prompt_mask=None) -> None:
        self.pos = [0] * len(self.cands)

    def allowed_ids(self, row: int) -> list[int] | None:
        """Sorted token ids that continue some candidate of ``row`` (None when the row is unrestricted)."""
        c = self.cands[row]
        if c is None:
            return None
        p = self.pos[row]
        return sorted({seq[p] for seq in c if len(seq) > p})

    def allowed(self, logits: torch.Tensor) -> torch.Tensor:
        """(b, v) bool: True where the token continues an admissible command (everywhere for unrestricted rows)."""
        ok = torch.ones_like(logits, dtype=torch.bool)
        for i in range(len(self.cands)):
            ids = self.allowed_ids(i)
            if ids is not None:
                ok[i] = False
                if ids:
                    ok[i, ids] = True
        return ok

    def advance(self, tokens: torch.Tensor) -> None:
        for i, tok in enumerate(tokens.tolist()):
            c = self.cands[i]
            if c is not None:
                p = self.pos[i]
                self.cands[i] = [seq for seq in c if len(seq) > p and seq[p] == tok]
                self.pos[i] = p + 1

    def complete(self, row: int) -> bool:
        """True when ``row`` has written a whole candidate and no longer candidate continues it."""
        c = self.cands[row]
        if c is None:
            return False
        p = self.pos[row]
        return any(len(seq) == p for seq in c) and not any(len(seq) > p for seq in c)


def allowed_next(candidates: list[list[int]], written: list[int]) -> list[int]:
    """Sorted token ids that continue some of ``candidates`` after the tokens ``written`` (empty: none continues):
    :meth:`AdmissibleMask.allowed_ids` of one row, from its tokens so far (the vLLM processor's rule)."""
    p = len(written)
    return sorted({seq[p] for seq in candidates if len(seq) > p and seq[:p] == written})


def allowed_tensor(allowed: list[dict[int, list[int]]], t: int, v: int, device=None) -> torch.Tensor | None:
    """(b, t, v) bool from per-row ``{position: allowed token ids}`` (positions not listed allow everything).

    None when no row has a restricted position (free-text actions), so callers skip the masked path.
    """
    if not any(allowed):
        return None
    out = torch.ones((len(allowed), t, v), dtype=torch.bool, device=device)
    for i, row in enumerate(allowed):
        for pos, ids in row.items():
            if pos < t:
                out[i, pos] = False
                out[i, pos, ids] = True
    return out
