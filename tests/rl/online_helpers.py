"""Helpers for the online-RL tests: a prompt file, a simple target-letter reward, a config builder, metric readers."""
from __future__ import annotations

import csv
import json
from pathlib import Path

TOY_PROMPTS = ["the cat", "the movie", "Q: 3 + 4", "a b c", "nitrogen", "the mat", "i loved", "hated it"]


def letter_frequency(prompts, completions, letter: str = "a", **columns):
    """TRL-style reward: the share of the completion's characters that are ``letter`` (easy to raise: emit it)."""
    return [c.count(letter) / max(1, len(c)) for c in completions]


def letter_reward():
    from langrl.rewards import from_trl

    return from_trl(letter_frequency, "letter_a")


def write_prompts(tmp_path) -> Path:
    path = Path(tmp_path) / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "topic": i}) + "\n" for i, p in enumerate(TOY_PROMPTS)))
    return path


def rl_cfg(model_dir, prompts, out, **kw):
    from langrl.config import from_dict
    from langrl.train.rl.loop import RLConfig

    base = dict(policy=str(model_dir), prompts=str(prompts), out=str(out), max_steps=4, prompts_per_step=8,
                max_new_tokens=8, learning_rate=1e-2, micro_batch_size=32, kl_coef=0.01, seed=0, log_samples=1)
    base.update(kw)
    return from_dict(RLConfig, base)


def metric(out, name) -> list[float]:
    with open(Path(out) / "metrics.csv") as f:
        return [float(r[name]) if r[name] != "" else float("nan") for r in csv.DictReader(f)]


def rows(out) -> list[dict]:
    with open(Path(out) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def make_toy_lm(tokenizer, seed: int = 0):
    """The root conftest's toy Llama builder (imported by path: every test folder has its own ``conftest``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_toy_lm(tokenizer, seed=seed)
