"""Shared fixtures: a toy tokenizer + randomly initialised tiny Llama (built in milliseconds, no downloads)."""
from __future__ import annotations

import os

# pytest-xdist runs 2 workers on 2 cores: one thread each (and in every subprocess they start), or OpenMP threads
# oversubscribe the cores and spin
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANGRL_QUIET", "1")
torch.set_num_threads(1)

TOY_TEXT = [
    "the cat sat on the mat.", "the movie was great and i loved it.", "the movie was bad and i hated it.",
    "Q: 3 + 4 = ? A: 7", "nitrogen oxygen argon are the most common gases.", "a b c d e f g h i j k l m n o p",
] * 20


@pytest.fixture(scope="session")
def toy_tokenizer():
    from langrl.models.tiny import train_tokenizer

    return train_tokenizer(TOY_TEXT, vocab_size=300)


def make_toy_lm(tokenizer, seed: int = 0, hidden: int = 32, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                      num_key_value_heads=4, intermediate_size=2 * hidden, max_position_embeddings=256,
                      tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(cfg).eval()
    return model


@pytest.fixture()
def toy_lm(toy_tokenizer):
    return make_toy_lm(toy_tokenizer)


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory, toy_tokenizer):
    """A saved toy model directory (a valid model spec)."""
    path = tmp_path_factory.mktemp("toy_model")
    model = make_toy_lm(toy_tokenizer)
    model.save_pretrained(path)
    toy_tokenizer.save_pretrained(path)
    return path
