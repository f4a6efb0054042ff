"""Model specs (tiny, HF dirs and ids, .gguf, smollm2, minilm), heads, LoRA and reference policies."""
from langrl.models.specs import load_causal_lm, load_tokenizer, minilm_path, resolve_model_dir, smollm2_gguf

__all__ = ["load_causal_lm", "load_tokenizer", "minilm_path", "resolve_model_dir", "smollm2_gguf"]
