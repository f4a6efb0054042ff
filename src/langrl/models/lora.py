"""LoRA through peft, and the reference policy it makes cheap (the base with adapters disabled)."""
from __future__ import annotations

import contextlib
import warnings


def apply_lora(model, r: int, alpha: float | None = None, dropout: float = 0.0, target_modules="all-linear"):
    """Wrap ``model`` with LoRA adapters of rank ``r`` (peft). Only the adapters train."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha if alpha is not None else 2 * r, lora_dropout=dropout,
                     target_modules=target_modules, task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft reads transformers' deprecated is_gradient_checkpointing: not the user's
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, cfg)


def load_lora(model, adapter_dir, trainable: bool = True):
    """Attach a saved adapter to ``model`` (the base)."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)


def is_lora(model) -> bool:
    return hasattr(model, "peft_config")


@contextlib.contextmanager
def adapters_disabled(model):
    """Run the LoRA base model (the reference policy) without a second copy of the weights."""
    with model.disable_adapter():
        yield model


@contextlib.contextmanager
def merged_for_sampling(model, enabled: bool = True):
    """Sample a LoRA policy with its adapters folded into the base weights: W' = W + s·B·A per adapted layer, then the
    adapter path switched off, so each decode step is one matmul per layer instead of three (measured: the same
    sampling ~2.4× faster on smollm2, ``benchmarks/sampler.py --lora 8``). The merged weights are new tensors; the
    original ones are put back as they were (no merge/unmerge round trip, so the base, which is the reference
    policy, never drifts). No gradient flows inside. A model without LoRA (or ``enabled=False``) is left as is."""
    import torch

    if not enabled or not is_lora(model):
        yield model
        return
    from peft.tuners.lora.layer import Linear as LoraLinear

    swapped = []
    with torch.no_grad(), model.disable_adapter():
        try:
            for layer in model.modules():
                if not isinstance(layer, LoraLinear) or layer.merged:
                    continue
                names = [a for a in layer.active_adapters if a in layer.lora_A]
                if not names:
                    continue
                weight = layer.get_base_layer().weight
                original = weight.data
                weight.data = original + sum(layer.get_delta_weight(a) for a in names).to(original.dtype)
                swapped.append((weight, original))
            yield model
        finally:
            for weight, original in swapped:
                weight.data = original


class MergeChoice:
    """Whether to sample a LoRA policy merged (:func:`merged_for_sampling`) or with its adapters active.

    ``setting`` ``"true"``/``"false"`` fixes it; ``"auto"`` measures: the first rollout runs with the adapters
    active, the second merged, and from then on the faster per sampled token is used (merging costs one B·A product
    per layer per rollout, the adapter path three small matmuls per layer per decoding step: merging wins for real
    models and long rollouts, loses for tiny ones; ``benchmarks/sampler.py --lora``). Either way the samples are the
    same up to float rounding."""

    def __init__(self, setting: str, lora: bool):
        self.setting, self.lora = setting, lora
        self.seconds_per_token: dict[bool, float] = {}
        self.last = False  # the mode of the latest rollout

    def merged(self) -> bool:
        if not self.lora or self.setting == "false":
            return False
        if self.setting == "true":
            return True
        if False not in self.seconds_per_token:
            return False
        if True not in self.seconds_per_token:
            return True
        return self.seconds_per_token[True] < self.seconds_per_token[False]

    def record(self, merged: bool, seconds: float, tokens: float) -> None:
        self.seconds_per_token.setdefault(merged, seconds / max(tokens, 1.0))
        self.last = merged
