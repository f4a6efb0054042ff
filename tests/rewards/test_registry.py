"""Spec strings, the registry and building composites from specs."""
from __future__ import annotations

import pytest
import sacrebleu
import torch

from langrl.errors import InputError
from langrl.rewards import build_reward, build_rewards, register_reward, reward_entries
from langrl.rewards.length import overlong_penalty, target_length_reward, text_lengths
from langrl.rewards.protocol import single
from langrl.rewards.registry import parse_spec

BUILTINS = ["bleu", "chrf", "ter", "rouge", "exact", "bertscore", "vader", "classifier", "math", "regex",
            "json-schema", "python-tests", "length", "overlong"]


def test_every_builtin_is_registered_with_doc_and_params():
    entries = reward_entries()
    for name in BUILTINS:
        assert name in entries and entries[name].doc
    assert entries["rouge"].params["type"].default == "rougeL"
    assert entries["classifier"].params["path"].required
    assert entries["bertscore"].params["baseline"].type is float  # float | None
    assert "name" not in entries["bleu"].params  # the composition keys are not reward parameters


def test_parse_spec_with_quotes():
    assert parse_spec("bleu") == ("bleu", {})
    assert parse_spec("rouge:type=rougeL,measure=p") == ("rouge", {"type": "rougeL", "measure": "p"})
    assert parse_spec(r'regex:pattern="^\d{1,3}$",mode=fullmatch,weight=2') == (
        "regex", {"pattern": r"^\d{1,3}$", "mode": "fullmatch", "weight": "2"})
    assert parse_spec("regex:pattern='a=b,c'") == ("regex", {"pattern": "a=b,c"})
    assert parse_spec("length:clip=-1:1") == ("length", {"clip": "-1:1"})
    for bad, msg in [("bleu:tokenize", "expected key=value"), ("regex:pattern='abc", "unclosed quote"),
                     ("regex:pattern='a'b", "expected ','"), (":x=1", "missing the reward name"),
                     ("bleu:a=1,a=2", "given twice")]:
        with pytest.raises(InputError, match=msg):
            parse_spec(bad)


def test_build_reward_converts_types_and_composition_keys():
    term = build_reward("rouge:type=rouge1,stemmer=true,weight=0.5,clip=0:0.5,normalize=false")
    assert term.reward.type == "rouge1" and term.weight == 0.5 and term.clip == (0.0, 0.5) and not term.normalize
    named = build_reward("bleu:name=bleu_lc,lowercase=yes")
    out = named(None, ["The Cat"], reference=["the cat"])
    assert out.names == ["bleu_lc"] and out.scores.item() == pytest.approx(
        sacrebleu.sentence_bleu("The Cat", ["the cat"], lowercase=True).score, abs=1e-4)


def test_build_reward_errors_are_clear():
    with pytest.raises(InputError, match=r"unknown reward 'bleuu' \(did you mean 'bleu'\?\)"):
        build_reward("bleuu")
    with pytest.raises(InputError, match=r"unknown parameter 'typ'; rouge takes: type, measure"):
        build_reward("rouge:typ=rouge1")
    with pytest.raises(InputError, match=r"missing required parameter\(s\) pattern"):
        build_reward("regex")
    with pytest.raises(InputError, match="layers: expected int, got 'six'"):
        build_reward("bertscore:layers=six")
    with pytest.raises(InputError, match="clip must be lo:hi"):
        build_reward("length:clip=1")
    with pytest.raises(InputError, match="no reward given"):
        build_rewards([])


def test_register_reward_custom_factory():
    def make_keyword(word: str, bonus: float = 1.0):
        """Bonus when the response contains a keyword."""

        class R:
            name = "keyword"

            def __call__(self, prompts, responses, **columns):
                return single(self.name, [bonus * (word in r) for r in responses])

        return R()

    register_reward("keyword-test", make_keyword, overwrite=True)
    entry = reward_entries()["keyword-test"]
    assert entry.doc == "Bonus when the response contains a keyword." and entry.params["bonus"].default == 1.0
    comp = build_rewards(["keyword-test:word=cat,bonus=2", "length:unit=chars,weight=0.1"])
    out = comp(None, ["a cat", "dog"])
    # total = 2 * [cat in r] + 0.1 * len(r): "a cat" → 2 + 0.5 = 2.5 ; "dog" → 0 + 0.3 = 0.3
    assert out.names == ["keyword", "length", "total"]
    torch.testing.assert_close(out.column("total"), torch.tensor([2.5, 0.3]))
    with pytest.raises(ValueError, match="already registered"):
        register_reward("keyword-test", lambda: None)
    with pytest.raises(ValueError, match="clash with the composition keys"):
        register_reward("bad-test", lambda weight=1.0: None)


def test_length_helpers_hand_worked():
    lengths = text_lengths(["one two three", "", "a b c d e f"], unit="words")
    assert lengths.tolist() == [3.0, 0.0, 6.0]
    assert text_lengths(["abc", ""], unit="chars").tolist() == [3.0, 0.0]
    # target 4: -|3-4|/4 = -0.25, -|0-4|/4 = -1, -|6-4|/4 = -0.5
    assert target_length_reward(lengths, 4).tolist() == [-0.25, -1.0, -0.5]
    # DAPO Eq. 13 with max 10, buffer 4: L=5 → 0, L=8 → (6-8)/4 = -0.5, L=10 → -1, L=12 → -1
    assert overlong_penalty(torch.tensor([5.0, 8.0, 10.0, 12.0]), 10, 4).tolist() == [0.0, -0.5, -1.0, -1.0]
    out = build_rewards(["length:target=4", "overlong:max_len=5,buffer=2,weight=2"])(None, ["a b c", "a b c d e f"])
    # "a b c": -0.25 + 2*0 ; 6 words: -0.5 + 2*(-1) = -2.5
    assert out.column("total").tolist() == [-0.25, -2.5]
    with pytest.raises(InputError, match="unit must be words or chars"):
        build_reward("length:unit=tokens")
