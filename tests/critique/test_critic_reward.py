"""A critique model as a reward: the approval log-probability by hand, the critic's SFT data, the reward spec."""
import json
import math

import pytest
import torch

from langrl.cli import main
from langrl.rewards.critic import CRITIC_PROMPT, approval_logprob, critic_prompt, default_approvals


def test_approval_logprob_by_hand():
    # P(a1) = .2, P(a2) = .3 -> log(.5) = -0.693147; one approval: its own log-prob
    lp = torch.tensor([[math.log(0.2), math.log(0.3)], [math.log(0.1), float("-inf")]])
    got = approval_logprob(lp)
    assert torch.allclose(got, torch.tensor([math.log(0.5), math.log(0.1)]))
    with pytest.raises(ValueError, match=r"\(b, a\)"):
        approval_logprob(torch.zeros(3))


def test_critic_prompt_and_default_approvals():
    assert CRITIC_PROMPT == "{prompt}{response}\nCritique:"
    assert critic_prompt("Q: 2+2?\nA:", " 4") == "Q: 2+2?\nA: 4\nCritique:"
    ok = default_approvals()
    assert ok[0] == "The answer is correct, complete and relevant." and "Looks right to me." in ok
    assert len(ok) == len(set(ok))


def test_critic_data_and_the_reward_spec_end_to_end(tmp_path, capsys):
    from langrl.models.specs import resolve_model_dir
    from langrl.rewards.registry import build_reward

    crit = tmp_path / "c.jsonl"
    crit.write_text(json.dumps({"prompt": "Q: 2+2?\nA:", "response": " 5", "critique": "The sum\nis wrong."}) + "\n")
    out = tmp_path / "critic.jsonl"
    assert main(["critique", "critic-data", "--data", str(crit), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 1
    assert [json.loads(x) for x in open(out)] == [{"prompt": "Q: 2+2?\nA: 5\nCritique:",
                                                   "completion": " The sum is wrong."}]
    tiny = resolve_model_dir("tiny", quiet=True)
    reward = build_reward(f"critic:path={tiny},approve=Correct.;Looks right to me.")
    res = reward(["Q: 2+2?\nA:", "Q: 2+2?\nA:"], [" 4", " 5"])
    assert res.names == ["critic"] and res.scores.shape == (2, 1)
    assert bool((res.scores < 0).all()) and bool(torch.isfinite(res.scores).all())  # log-probabilities
    # the one-approval score is that approval's own log-probability, and adding an approval can only raise it
    one = build_reward(f"critic:path={tiny},approve=Correct.")([("Q: 2+2?\nA:")], [" 4"]).scores[0, 0]
    assert one <= res.scores[0, 0] + 1e-6
