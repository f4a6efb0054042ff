"""The short conditioning prefix (``--condition-format short``, what ``auto`` picks where a tokenizer would not keep the
byte prefix): the levels of all objectives but the last (w sums to 1) as letters, then a newline; 2 tokens for two objectives on ``tiny``, kept intact, read back only
when asked for, never reaching a reward function; a policy trained with it is sampled with it."""
import json

import pytest
from online_helpers import rl_cfg
from test_online_conditioned import Recording

from langrl.errors import InputError
from langrl.rewards.conditioning import (condition_prompt, condition_rows, quantise_sum, saved_format, strip_prefix,
                                         weight_prefix)
from langrl.train.rl.loop import run_rl


def test_quantise_sum_by_hand():
    assert quantise_sum([0.75, 0.25]) == [15, 5]  # 20 · (0.75, 0.25) = (15, 5) exactly
    # 20/3 = 6.67 each: floors (6, 6, 6) sum 18, the 2 left go to the largest remainders, ties to the lower index
    assert quantise_sum([1, 1, 1]) == [7, 7, 6]
    # (14.5, 5.5): floors (14, 5), one left, equal remainders → the first; compact's round() gives (14, 6) instead
    assert quantise_sum([0.725, 0.275]) == [15, 5]
    assert quantise_sum([2, 1]) == [13, 7]  # (13.33, 6.67): floors (13, 6), the larger remainder is the second's
    assert all(sum(quantise_sum([a, 1 - a, 0.3])) == 20 for a in (0.0, 0.13, 0.5, 0.91))
    with pytest.raises(InputError, match="non-negative"):
        quantise_sum([0.5, -0.5])


def test_short_prefix_by_hand_and_back():
    # w = (0.75, 0.25): levels (15, 5); only the first is written, LEVELS[15] = "p"; the second is 20 − 15 = 5
    assert weight_prefix({"helpful": 0.75, "harmless": 0.25}, "short") == "p\n"
    assert weight_prefix({"a": 1.0, "b": 0.0}, "short") == "u\n" and weight_prefix({"a": 0, "b": 1}, "short") == "a\n"
    assert weight_prefix({"a": 1, "b": 1, "c": 1}, "short") == "h,h\n"  # (7, 7, 6): "h" = 7, the last implied
    text = condition_prompt("Q: open the gate?\nA:", {"helpful": 0.7, "harmless": 0.3}, "short")
    assert text == "o\nQ: open the gate?\nA:"  # 14 = "o"
    assert strip_prefix(text, ["helpful", "harmless"], fmt="short") == ("Q: open the gate?\nA:",
                                                                        {"helpful": 0.7, "harmless": 0.3})
    assert strip_prefix("h,h\nx", fmt="short") == ("x", {"1": 0.35, "2": 0.35, "3": 0.3})
    # ordinary text may begin with a letter and a newline: read only when asked for
    assert strip_prefix(text) == (text, None)
    assert strip_prefix("[o,g] Q", fmt="short") == ("[o,g] Q", None)
    assert strip_prefix("u,u\nx", fmt="short") == ("u,u\nx", None)  # 20 + 20 > 20: no weight vector
    assert strip_prefix("[o,g] Q", fmt="names") == ("[o,g] Q", None)  # each format reads only itself
    with pytest.raises(InputError, match="at least 2 objectives"):
        weight_prefix({"a": 1.0}, "short")
    with pytest.raises(InputError, match="format"):
        strip_prefix("x", fmt="long")
    rows = condition_rows([{"prompt": "p"}], ["x", "y"], seed=0, step=0, steps=20, fmt="short")
    w = dict(zip("xy", rows[0]["condition_weights"]))
    assert strip_prefix(rows[0]["prompt"], ["x", "y"], fmt="short") == ("p", w)


@pytest.mark.parametrize("fmt,tokens", [("short", 2), ("byte", 1)])  # the letter and the newline; one control byte
def test_tiny_tokenizer_keeps_every_level_prefix_as_its_own_tokens_before_every_hh_prompt(fmt, tokens):
    from transformers import AutoTokenizer

    from langrl.models.specs import resolve_model_dir
    from langrl.tasks import get_task

    tok = AutoTokenizer.from_pretrained(resolve_model_dir("tiny", quiet=True))
    prompts = [r["prompt"] for split in ("train", "eval") for r in get_task("hh").prompts(split, 100, 0)]
    for a in range(21):
        prefix = weight_prefix({"helpful": a / 20, "harmless": 1 - a / 20}, fmt)
        alone = tok(prefix, add_special_tokens=False)["input_ids"]
        assert len(alone) == tokens, (prefix, alone)
        for p in prompts:
            ids = tok(prefix + p, add_special_tokens=False)["input_ids"]
            assert ids == alone + tok(p, add_special_tokens=False)["input_ids"], (prefix, p)
            assert tok.decode(ids) == prefix + p


def test_a_short_run_saves_its_format_and_sample_writes_it(toy_model_dir, prompts_file, tmp_path, capsys):
    from langrl.cli import main as cli_main

    out = tmp_path / "short"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", condition=True, condition_format="short",
                  max_steps=1, prompts_per_step=2, samples_per_prompt=2, max_new_tokens=2), quiet=True,
           reward=Recording().composite())
    assert saved_format(str(out)) == "short"
    capsys.readouterr()
    assert cli_main(["sample", "--model", str(out), "--prompts", "task:hh", "--num-prompts", "2",
                     "--max-new-tokens", "2", "--weights", "helpful=0.75,harmless=0.25", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert recs and all(r["prompt"].startswith("p\nQ: ") for r in recs)
