"""The preference-conditioned policy (``langrl rl --condition true``): the documented prefix, w drawn per prompt, the
reward w·r per prompt, and the conditioning text never reaching a reward function."""
import pytest
import torch
from online_helpers import metric, rl_cfg

from langrl.errors import InputError
from langrl.rewards.conditioning import (condition_prompt, condition_rows, sample_condition_weights, strip_prefix,
                                         weight_prefix)
from langrl.train.rl.loop import run_rl


def test_prefix_round_trip_and_tokenizer_keeps_it(toy_tokenizer):
    w = {"helpful": 0.7, "harmless": 0.3}
    text = condition_prompt("Q: how do I open the gate?\nA:", w)
    assert text == "[w helpful=0.7 harmless=0.3] Q: how do I open the gate?\nA:"
    assert strip_prefix(text) == ("Q: how do I open the gate?\nA:", w)
    assert strip_prefix("Q: no prefix") == ("Q: no prefix", None)
    ids = toy_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert toy_tokenizer.decode(ids) == text  # byte-level BPE: the prefix comes back intact
    msgs = condition_prompt([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}], w)
    assert msgs[1]["content"] == weight_prefix(w) + "hi" and msgs[0]["content"] == "s"
    with pytest.raises(InputError, match="letters"):
        weight_prefix({"a b": 1.0})


def test_weights_are_drawn_from_the_grid_reproducibly():
    a = sample_condition_weights(["x", "y"], 50, seed=0, step=3, steps=10)
    assert a == sample_condition_weights(["x", "y"], 50, seed=0, step=3, steps=10)
    assert a != sample_condition_weights(["x", "y"], 50, seed=0, step=4, steps=10)
    assert all(round(w["x"] * 10) == w["x"] * 10 and w["x"] + w["y"] == pytest.approx(1) for w in a)
    assert len({w["x"] for w in a}) > 5  # spread over the grid's 11 points
    rows = condition_rows([{"prompt": "p", "topic": 1}], ["x", "y"], seed=0, step=0)
    assert rows[0]["prompt"].startswith("[w x=") and rows[0]["topic"] == 1 and len(rows[0]["condition_weights"]) == 2


class Recording:
    """Two constant objectives (one = 1, zero = 0) that record every prompt and column they are given."""

    def __init__(self):
        self.prompts, self.columns = [], set()

    def composite(self):
        from langrl.rewards import CompositeReward, from_trl

        def const(value):
            def fn(prompts, completions, **columns):
                self.prompts += list(prompts)
                self.columns |= set(columns)
                return [value] * len(completions)
            return fn

        return CompositeReward([from_trl(const(1.0), "one"), from_trl(const(0.0), "zero")])


def test_conditioned_reward_is_w_dot_r_and_never_sees_the_prefix(toy_model_dir, prompts_file, tmp_path):
    rec = Recording()
    out = tmp_path / "cond"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", condition=True, max_steps=3, prompts_per_step=4,
                  samples_per_prompt=2, max_new_tokens=4), quiet=True, reward=rec.composite())
    assert rec.prompts and not any(p.startswith("[w") for p in rec.prompts)
    assert "condition_weights" not in rec.columns
    # r = (1, 0), so each prompt's score is its own w_one; the logged mean score is the mean of the drawn w_one
    for step, logged in enumerate(metric(out, "score")):
        ws = sample_condition_weights(["one", "zero"], 4, seed=0, step=step, steps=10)
        assert logged == pytest.approx(sum(w["one"] for w in ws) / 4, abs=1e-6)


def test_conditioned_settings_are_checked(toy_model_dir, prompts_file, tmp_path):
    with pytest.raises(InputError, match="eval_every"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "a", algo="grpo", condition=True, eval_every=1),
               quiet=True, reward=Recording().composite())
    with pytest.raises(InputError, match="weights"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "b", algo="grpo", condition=True, weights="1,0"),
               quiet=True, reward=Recording().composite())


def test_sample_and_eval_write_the_prefix(toy_model_dir, tmp_path, capsys):
    import json

    from langrl.cli import main as cli_main

    assert cli_main(["sample", "--model", str(toy_model_dir), "--prompts", "task:hh", "--num-prompts", "2",
                     "--max-new-tokens", "3", "--weights", "helpful=0.7,harmless=0.3", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert all(r["prompt"].startswith("[w helpful=0.7 harmless=0.3] Q: ") for r in recs)
    assert cli_main(["eval", "--model", str(toy_model_dir), "--task", "hh", "--num-prompts", "2", "--max-new-tokens",
                     "3", "--weights", "helpful=1,harmless=0", "--no-near-greedy", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["weights"] == "helpful=1,harmless=0" and "gold/helpful" in summary
    assert cli_main(["eval", "--model", str(toy_model_dir), "--task", "hh", "--weights", "0.5,0.5"]) == 2
    assert "NAME=W" in capsys.readouterr().err
