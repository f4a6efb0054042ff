"""Integration on the pretrained ``tiny`` model (slow): every algorithm raises a target-word reward on the reviews
task within a small budget, and a large β keeps the KL to the reference under a stated bound."""
import pytest
from online_helpers import metric

from langrl.config import from_dict
from langrl.rewards import from_trl
from langrl.train.rl.loop import RLConfig, run_rl

WORD = "moving"  # about 0.3% of the words tiny writes in review continuations


def word_frequency(prompts, completions, **columns):
    """Share of the completion's words that are the target word (punctuation stripped)."""
    out = []
    for c in completions:
        words = [w.strip(".,!?;:\"'").lower() for w in c.split()]
        out.append(sum(w == WORD for w in words) / max(1, len(words)))
    return out


def tiny_cfg(out, **kw):
    base = dict(policy="tiny", prompts="task:reviews", out=str(out), max_steps=12, prompts_per_step=16,
                max_new_tokens=24, learning_rate=3e-4, kl_coef=0.02, seed=0, log_samples=2, micro_batch_size=64)
    base.update(kw)
    return from_dict(RLConfig, base)


GROUPS = {"samples_per_prompt": 4, "prompts_per_step": 8}
SETTINGS = {"ppo": {"learning_rate": 1e-3},  # at 3e-4 one tiny build rose 0.005 -> 0.009 in 12 iterations, 1e-3 to 0.20
            "nlpo": {"mask_sync_every": 2, "max_steps": 15},  # the nucleus widens toward the word only at syncs
            "grpo": {**GROUPS, "learning_rate": 1e-3},
            # RLOO and REINFORCE have no advantage normalisation: a small β keeps the KL term from drowning the
            # word reward (~0.01 per response) in the returns
            "rloo": {**GROUPS, "learning_rate": 1e-3, "kl_coef": 0.002},
            "reinforce": {"learning_rate": 1e-3, "prompts_per_step": 32, "kl_coef": 0.002}}


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(SETTINGS))
def test_tiny_reward_rises_for_every_algorithm(algo, tmp_path):
    out = tmp_path / algo
    run_rl(tiny_cfg(out, algo=algo, **SETTINGS[algo]), quiet=True, reward=from_trl(word_frequency, WORD))
    r = metric(out, "reward")
    first, last = sum(r[:3]) / 3, sum(r[-3:]) / 3
    # from ~0.3% of the words to several percent within 12-15 iterations (measured: 11% to 18% at the end)
    assert last > first + 0.04 and last > 5 * first, r


@pytest.mark.slow
def test_tiny_large_beta_keeps_kl_bounded(tmp_path):
    kw = dict(algo="grpo", **SETTINGS["grpo"])
    run_rl(tiny_cfg(tmp_path / "free", **kw), quiet=True, reward=from_trl(word_frequency, WORD))
    run_rl(tiny_cfg(tmp_path / "tight", **dict(kw, kl_coef=1.0)), quiet=True,
               reward=from_trl(word_frequency, WORD))
    assert max(metric(tmp_path / "free", "kl")) > 10.0  # β = 0.02: the policy drifts > 10 nats per response
    assert max(metric(tmp_path / "tight", "kl")) < 4.0  # β = 1 (k3 in the loss): stays under 4 nats per response
