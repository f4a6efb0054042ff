"""The demo's arithmetic and reviews stages run at the settings scripts/arith-reviews-levers measured."""
import pytest

from langrl.config import from_dict
from langrl.demo.config import DemoConfig


class _Stop(Exception):
    pass


def _settings(tmp_path, monkeypatch, task, **cfg):
    """(SFT configs, online configs) run_demo would train for ``task``, without training anything."""
    import langrl.demo.control as control
    import langrl.models.specs as specs
    import langrl.train.rl.loop as loop
    import langrl.train.sft as sft
    from langrl.demo import pipeline

    sfts, online = [], []

    def fake_sft(c, quiet=False):
        sfts.append(c)
        return {}

    def fake_online(c, quiet=False):
        online.append(c)
        return {}

    def stop(*args, **kwargs):
        raise _Stop()

    monkeypatch.setattr(specs, "resolve_model_dir", lambda *a, **k: None)
    monkeypatch.setattr(sft, "run_sft", fake_sft)
    monkeypatch.setattr(loop, "run_rl", fake_online)
    monkeypatch.setattr(control, "stage_control", stop)  # the first stage after the RL runs
    with pytest.raises(_Stop):
        pipeline.run_demo(from_dict(DemoConfig, {"out": str(tmp_path / "d"), "task": task, "jobs": 1, **cfg}),
                          log=lambda m: None)
    return sfts, online


def test_full_arithmetic_sft_on_the_corpus_then_grpo_with_8_samples(tmp_path, monkeypatch):
    # before: SFT on the clean demonstrations, GRPO 40 iterations x 4 samples at lr 1e-4
    (sft, *_), (grpo,) = _settings(tmp_path, monkeypatch, "arithmetic")
    assert sft.data == "task:arithmetic:corpus"
    assert (grpo.algo, grpo.max_steps, grpo.samples_per_prompt, grpo.prompts_per_step) == ("grpo", 80, 8, 16)
    assert grpo.learning_rate == 5e-5 and grpo.kl_coef == 0.05 and grpo.reward == ["math"]
    _, (grpo,) = _settings(tmp_path / "s", monkeypatch, "arithmetic", rl_steps=7)  # --rl-steps: every run's iterations
    assert grpo.max_steps == 7


def test_full_reviews_kl_run_takes_32_prompts_and_the_no_kl_run_keeps_16(tmp_path, monkeypatch):
    (sft, *_), (kl, no_kl) = _settings(tmp_path, monkeypatch, "reviews")
    assert sft.data == "task:reviews:corpus"
    assert (kl.kl_coef, kl.prompts_per_step, kl.max_steps) == (0.5, 32, 40)
    assert (no_kl.kl_coef, no_kl.prompts_per_step, no_kl.max_steps) == (0.0, 16, 40)


def test_quick_budget_keeps_the_new_stages_tiny(tmp_path, monkeypatch):
    _, (grpo,) = _settings(tmp_path, monkeypatch, "arithmetic", quick=True)
    assert (grpo.max_steps, grpo.samples_per_prompt) == (4, 8)
    _, (kl, _) = _settings(tmp_path / "r", monkeypatch, "reviews", quick=True)
    assert kl.prompts_per_step == 8
