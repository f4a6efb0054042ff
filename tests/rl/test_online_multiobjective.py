"""``langrl rl --aggregation``: reward vectors through GRPO/RLOO advantages on the toy model; (1, 0) weights give the
one-objective run bit for bit; bad weights and combinations are one clear line (exit 2)."""
import pytest
import torch
from online_helpers import metric, rl_cfg

from langrl.cli import main as cli_main
from langrl.train.rl.loop import run_rl

RUN = dict(max_steps=3, learning_rate=5e-2, prompts_per_step=4, samples_per_prompt=4, max_new_tokens=6)


def letters(*which):
    from langrl.rewards import CompositeReward, from_trl

    def share(letter):
        return lambda prompts, completions, **_: [c.count(letter) / max(1, len(c)) for c in completions]

    return CompositeReward([from_trl(share(ch), f"letter_{ch}") for ch in which])


def weights_of(out):
    from transformers import AutoModelForCausalLM

    return [p.detach().clone() for p in AutoModelForCausalLM.from_pretrained(out).parameters()]


@pytest.mark.parametrize("algo, aggregation, kl", [("grpo", "sum", {}), ("grpo", "per_objective", {}),
                                                   ("grpo", "normalize_then_sum", {}),
                                                   ("rloo", "per_objective", {"kl_coef": 0.0})])
def test_weights_one_zero_reproduce_the_single_objective_run_bit_for_bit(algo, aggregation, kl, toy_model_dir,
                                                                         prompts_file, tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    run_rl(rl_cfg(toy_model_dir, prompts_file, one, algo=algo, aggregation=aggregation, **RUN, **kl), quiet=True,
           reward=letters("a"))
    run_rl(rl_cfg(toy_model_dir, prompts_file, two, algo=algo, aggregation=aggregation, weights="1,0", **RUN, **kl),
           quiet=True, reward=letters("a", "e"))
    assert metric(one, "reward/letter_a") == metric(two, "reward/letter_a")
    w1, w2 = weights_of(one), weights_of(two)
    assert all(torch.equal(a, b) for a, b in zip(w1, w2))
    # and the run did move: the policy is not the toy start
    from transformers import AutoModelForCausalLM

    start = list(AutoModelForCausalLM.from_pretrained(toy_model_dir).parameters())
    assert any(not torch.equal(a, b) for a, b in zip(start, w1))


def test_per_objective_grpo_with_one_objective_is_plain_grpo_bit_for_bit(toy_model_dir, prompts_file, tmp_path):
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "sum", algo="grpo", **RUN), quiet=True, reward=letters("a"))
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "per", algo="grpo", aggregation="per_objective", **RUN),
           quiet=True, reward=letters("a"))
    assert all(torch.equal(a, b) for a, b in zip(weights_of(tmp_path / "sum"), weights_of(tmp_path / "per")))


def test_weights_move_the_policy_toward_the_weighted_objective(toy_model_dir, prompts_file, tmp_path):
    # GDPO with all the weight on letter_e: the share of e rises (it starts near 0.02 on the random toy model)
    out = tmp_path / "e"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", aggregation="normalize_then_sum", weights="0,1",
                  **dict(RUN, max_steps=8)), quiet=True, reward=letters("a", "e"))
    e = metric(out, "reward/letter_e")
    assert sum(e[-3:]) / 3 > sum(e[:3]) / 3 + 0.1, e


@pytest.mark.parametrize("args, expected", [
    (["--algo", "ppo", "--aggregation", "per_objective"], "needs a group algorithm"),
    (["--algo", "rloo", "--aggregation", "normalize_then_sum"], "GDPO"),
    (["--algo", "grpo", "--aggregation", "per_objective", "--whiten-rewards", "true"], "whiten_rewards"),
    (["--weights", "1,-1"], "non-negative"),
    (["--weights", "1"], "1 weight(s) for 2 objective(s)"),
    (["--weights", "regex=1,kind=0"], "objective 'kind' does not exist"),
])
def test_bad_multiobjective_input_is_one_clear_line(args, expected, toy_model_dir, prompts_file, tmp_path, capsys):
    code = cli_main(["rl", "--policy", str(toy_model_dir), "--prompts", str(prompts_file), "--reward",
                     "regex:pattern=a", "--reward", "length", "--max-steps", "1", "--out", str(tmp_path / "x"),
                     *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and len(err.splitlines()) == 1, err
