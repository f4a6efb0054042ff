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
