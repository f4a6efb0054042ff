"""Rewarded soups (Ramé et al. 2023): one policy fine-tuned per objective, then θ(w) = Σ_k w_k θ_k for any user w.

Fine-tuned from one shared start, the per-objective policies stay linearly mode-connected, so interpolating their
weights gives a policy whose rewards move smoothly between theirs, at no training cost (eq. 1 of the paper:
θ^RS_λ = Σ_i λ_i θ_i, λ on the simplex). Shapes: every state dict maps the same names to tensors of the same shapes.

Departure: the paper interpolates LoRA adapters; here the per-objective policies are whole fine-tuned models (the
default of ``langrl rl``, ``lora_r 0``), so the whole weights are interpolated. Integer tensors (buffers such as
position ids) are not interpolated: they must be equal across the soup's ingredients and are copied.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch


def interpolate_state_dicts(states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float],
                            atol: float = 1e-6) -> dict[str, torch.Tensor]:
    """θ = Σ_k w_k θ_k over floating-point tensors (Ramé et al. 2023, eq. 1); ``weights`` non-negative, summing to 1
    (within ``atol``), one per state dict. Integer tensors must match and are copied. Raises ValueError on different
    keys, shapes or weights that are not on the simplex."""
    if not states or len(states) != len(weights):
        raise ValueError(f"weights: expected one weight per state dict, got {len(weights)} for {len(states)}")
    w = [float(x) for x in weights]
    if any(x < 0 for x in w) or abs(sum(w) - 1.0) > atol:
        raise ValueError(f"weights: expected non-negative weights summing to 1, got {w}")
    keys = list(states[0])
    for i, sd in enumerate(states[1:], 1):
        if set(sd) != set(keys):
            diff = sorted(set(sd) ^ set(keys))
            raise ValueError(f"state dict {i} has different keys from state dict 0 (e.g. {diff[0]!r})")
    out = {}
    for key in keys:
        tensors = [sd[key] for sd in states]
        if any(t.shape != tensors[0].shape for t in tensors):
            raise ValueError(f"{key!r}: shapes differ: {[tuple(t.shape) for t in tensors]}")
        if not tensors[0].is_floating_point():
            if any(not torch.equal(t, tensors[0]) for t in tensors):
                raise ValueError(f"{key!r}: a non-float tensor differs between the state dicts")
            out[key] = tensors[0].clone()
            continue
        acc = torch.zeros_like(tensors[0], dtype=torch.float64)
        for wk, t in zip(w, tensors):
            acc += wk * t.double()  # θ = Σ_k w_k θ_k
        out[key] = acc.to(tensors[0].dtype)
    return out


def soup(model_dirs: Sequence[str], weights: Sequence[float]):
    """(model, tokenizer): the rewarded soup of the saved causal LMs ``model_dirs`` with ``weights`` (the first one's
    architecture and tokenizer)."""
    from langrl.models.specs import load_causal_lm

    models = [load_causal_lm(str(d), quiet=True) for d in model_dirs]
    model, tok = models[0]
    state = interpolate_state_dicts([m.state_dict() for m, _ in models], weights)
    model.load_state_dict(state)
    return model, tok
