"""The compact conditioning prefix (``--condition-format compact``): one letter per objective for w in
twentieths, kept intact by the tokenizer, 2k + 2 tokens on ``tiny``, never reaching a reward function; ``sample`` and
``eval --weights`` write the format the policy was trained with."""
import json

import pytest
from online_helpers import rl_cfg
from test_online_conditioned import Recording

from langrl.errors import InputError
from langrl.rewards.conditioning import (LEVELS, condition_prompt, condition_rows, quantise, saved_format,
                                         strip_prefix, weight_prefix)
from langrl.train.rl.loop import run_rl


def test_quantise_and_the_compact_prefix_by_hand():
    # 20 · (0.75, 0.25) = (15, 5) → LEVELS[15] = "p", LEVELS[5] = "f"
    assert quantise([0.75, 0.25]) == [15, 5] and weight_prefix({"a": 0.75, "b": 0.25}, "compact") == "[p,f] "
    # (2, 1) is normalised first: 20 · (2/3, 1/3) = (13.33, 6.67) → (13, 7) = "n", "h"
    assert quantise([2, 1]) == [13, 7] and weight_prefix({"a": 2, "b": 1}, "compact") == "[n,h] "
    assert weight_prefix({"a": 1.0, "b": 0.0, "c": 0.0}, "compact") == "[u,a,a] "  # 20 = "u", 0 = "a"
    with pytest.raises(InputError, match="non-negative"):
        quantise([0.0, 0.0])
    with pytest.raises(InputError, match="format"):
        weight_prefix({"a": 1.0}, "long")


def test_compact_round_trip_keeps_the_names_format_apart():
    text = condition_prompt("Q: open the gate?\nA:", {"helpful": 0.7, "harmless": 0.3}, "compact")
    assert text == "[o,g] Q: open the gate?\nA:"  # 14 = "o", 6 = "g"
    assert strip_prefix(text) == ("Q: open the gate?\nA:", {"1": 0.7, "2": 0.3})
    assert strip_prefix(text, ["helpful", "harmless"])[1] == {"helpful": 0.7, "harmless": 0.3}
    named = condition_prompt("Q: x", {"helpful": 0.7, "harmless": 0.3})
    assert strip_prefix(named) == ("Q: x", {"helpful": 0.7, "harmless": 0.3})  # the named format is unchanged
    assert strip_prefix("[v,a] Q: x") == ("[v,a] Q: x", None)  # "v" is no level: not a prefix
    rows = condition_rows([{"prompt": "p"}], ["x", "y"], seed=0, step=0, fmt="compact")
    w = rows[0]["condition_weights"]
    assert rows[0]["prompt"] == "[" + ",".join(LEVELS[round(20 * v)] for v in w) + "] p"


def test_tiny_tokenizer_keeps_every_compact_prefix_intact_in_2k_plus_2_tokens():
    from transformers import AutoTokenizer

    from langrl.models.specs import resolve_model_dir

    tok = AutoTokenizer.from_pretrained(resolve_model_dir("tiny", quiet=True))
    prompt = "Q: Pim in Dorvik asks: how do I open the copper gate?\nA:"
    body = tok(prompt, add_special_tokens=False)["input_ids"]
    named = tok(weight_prefix({"helpful": 0.75, "harmless": 0.25}) + prompt, add_special_tokens=False)["input_ids"]
    for a in range(21):
        prefix = weight_prefix({"helpful": a / 20, "harmless": 1 - a / 20}, "compact")
        ids = tok(prefix + prompt, add_special_tokens=False)["input_ids"]
        alone = tok(prefix, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == prefix + prompt  # the text comes back exactly
        assert ids[:len(alone)] == alone and len(alone) == 2 * 2 + 2, (prefix, alone)  # its own tokens, 2k + 2
        assert len(ids) - len(body) <= 6 < len(named) - len(body)  # against the named prefix's 24 extra tokens


@pytest.mark.parametrize("fmt", ["short", "compact", "names"])
def test_no_prefix_of_either_format_reaches_the_rewards(fmt, toy_model_dir, prompts_file, tmp_path):
    rec = Recording()
    out = tmp_path / fmt
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", condition=True, condition_format=fmt, max_steps=2,
                  prompts_per_step=4, samples_per_prompt=2, max_new_tokens=4, log_samples=8), quiet=True,
           reward=rec.composite())
    assert rec.prompts and all(strip_prefix(p, fmt=fmt)[1] is None for p in rec.prompts)
    assert "condition_weights" not in rec.columns
    assert f"condition_format: {fmt}" in (out / "langrl_config.yaml").read_text()
    assert saved_format(str(out)) == fmt and saved_format(str(toy_model_dir)) == "names"


def test_sample_writes_the_format_the_policy_was_trained_with(toy_model_dir, prompts_file, tmp_path, capsys):
    from langrl.cli import main as cli_main

    out = tmp_path / "compact"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", condition=True, condition_format="compact",
                  max_steps=1, prompts_per_step=2, samples_per_prompt=2, max_new_tokens=2), quiet=True,
           reward=Recording().composite())
    capsys.readouterr()
    assert cli_main(["sample", "--model", str(out), "--prompts", "task:hh", "--num-prompts", "2",
                     "--max-new-tokens", "2", "--weights", "helpful=0.75,harmless=0.25", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert recs and all(r["prompt"].startswith("[p,f] Q: ") for r in recs)
