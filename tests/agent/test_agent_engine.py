"""``--rollout-engine`` for ``agent train|eval`` and ``langrl eval`` without vLLM: the refusals at config validation,
and the wiring — a stand-in engine that decodes greedily from each whole context (no KV cache) must reproduce the
native multi-turn sampler, and the commands must hand it exactly their sampling settings. (The vLLM engine itself:
``test_agent_vllm.py``, opt-in.)"""
import importlib.util

import pytest
import torch

from langrl.envs import make_batch, rollout_episodes
from langrl.envs.admissible import allowed_next
from langrl.errors import InputError

HAS_VLLM = importlib.util.find_spec("vllm") is not None


class GreedyContextEngine:
    """``VLLMEngine.write_actions``' contract, written the slow way: for each context, a full forward pass per token
    (no cache), the most likely token among the admissible continuations, the native writer's stopping rules."""

    def __init__(self, model, tokenizer):
        self.model, self.tok = model, tokenizer
        self.calls, self.synced, self.closed = [], 0, False

    @torch.no_grad()
    def write_actions(self, contexts, *, budget, stop, temperature, top_k, top_p, greedy, seeds, candidates=None):
        self.calls.append(dict(n=len(contexts), budget=budget, stop=stop, temperature=temperature, greedy=greedy,
                               seeds=list(seeds), contexts=[list(c) for c in contexts]))
        out = []
        for i, ctx in enumerate(contexts):
            cands = candidates[i] if candidates is not None else None
            ids, lps = [], []
            for _ in range(budget):
                logits = self.model(input_ids=torch.tensor([ctx + ids])).logits[0, -1].float() / temperature
                if cands:
                    keep = torch.full_like(logits, float("-inf"))
                    ok = allowed_next(cands, ids)
                    keep[ok] = logits[ok]
                    logits = keep
                lp = logits.log_softmax(-1)
                t = int(lp.argmax())
                ids.append(t)
                lps.append(float(lp[t]))
                text = self.tok.decode(ids, skip_special_tokens=True)
                if t == self.tok.eos_token_id or any(s and s in text for s in stop):
                    break
            out.append((ids, lps, ids[-1] != self.tok.eos_token_id and any(s in self.tok.decode(ids) for s in stop)))
        return out

    def sync(self, policy):
        self.synced += 1

    def close(self):
        self.closed = True


@pytest.mark.parametrize("space", ["free", "admissible"])
def test_an_engine_writing_from_whole_contexts_reproduces_the_native_multi_turn_sampler(toy_lm, toy_tokenizer, space):
    kw = dict(max_turns=3, max_action_tokens=6, action_space=space, greedy=True, seed=0)
    native = rollout_episodes(toy_lm, toy_tokenizer, make_batch("builtin", 3, "medium"), [0, 1, 2], **kw)
    engine = GreedyContextEngine(toy_lm, toy_tokenizer)
    other = rollout_episodes(toy_lm, toy_tokenizer, make_batch("builtin", 3, "medium"), [0, 1, 2], engine=engine, **kw)
    assert engine.calls and engine.calls[0]["n"] == 3 and engine.calls[0]["greedy"]
    assert engine.calls[0]["stop"] == ("\n",)  # the environment's action stop string
    # the engine saw each row's prompt + everything after it, and wrote the same tokens the KV-cached loop wrote
    assert torch.equal(other.response_ids, native.response_ids)
    assert torch.equal(other.response_mask, native.response_mask)
    assert torch.equal(other.attn_mask, native.attn_mask)
    assert other.columns["actions"] == native.columns["actions"]
    assert other.columns["allowed"] == native.columns["allowed"]  # the recorded supports, position by position
    assert (other.logprobs - native.logprobs).abs().max() < 1e-4  # temperature 1: the same distributions
    if space == "admissible":
        assert any(other.columns["allowed"])


def test_agent_train_hands_the_engine_the_weights_after_each_update_and_corrects_with_tis(toy_model_dir, tmp_path,
                                                                                         monkeypatch):
    import csv

    from langrl.train.agent import loop
    from langrl.train.agent.config import AgentTrainConfig

    made = {}

    def fake_engine(cfg, model, tok, prog):
        assert prog == "agent train" and cfg.rollout_engine == "vllm"
        made["engine"] = GreedyContextEngine(model, tok)
        return made["engine"]

    monkeypatch.setattr(loop, "make_agent_engine", fake_engine)
    cfg = AgentTrainConfig(policy=str(toy_model_dir), out=str(tmp_path / "r"), env="builtin", difficulty="easy",
                           max_turns=2, episodes_per_step=4, micro_batch_size=4, games=2, max_steps=3, algo="ppo",
                           epochs=1, rollout_engine="vllm", action_space="admissible")
    cfg.validate = lambda: None  # the real engine's import check is for the CLI path; this engine is a stand-in
    loop.run_agent_train(cfg, quiet=True)
    eng = made["engine"]
    assert len(eng.calls) > 0 and eng.synced == 2 and eng.closed  # pushed before iterations 2 and 3, not 1
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    # TIS is on (it is off for the native sampler): the engine's greedy log-probs (temperature 1, masked) are the
    # trainer's own, so at the first iteration the weights are exactly 1 and the log-prob gap ~0
    assert "rollout/is_weight" in rows[0] and abs(float(rows[0]["rollout/logprob_diff"])) < 1e-4


def test_evaluate_policy_hands_the_engine_its_sampling_settings():
    from langrl.eval.evaluate import evaluate_policy
    from langrl.rollout import Rollout

    seen = {}

    class Recorder:
        def sample_prompts(self, prompts, **kw):
            seen.update(kw, prompts=prompts)
            b = len(prompts) * kw["n"]
            return Rollout(prompt_ids=torch.zeros((b, 1), dtype=torch.long), prompt_mask=torch.ones((b, 1)),
                           response_ids=torch.zeros((b, 2), dtype=torch.long), response_mask=torch.ones((b, 2)),
                           logprobs=torch.zeros((b, 2)), prompts=[p for p in prompts for _ in range(kw["n"])],
                           responses=["four"] * b, group=torch.arange(b), ended=torch.ones(b, dtype=torch.bool))

    rows = [{"prompt": "2+2?"}, {"prompt": "1+1?"}]
    metrics, responses = evaluate_policy(None, None, rows, n=3, max_new_tokens=7, seed=5, temperature=0.7, top_k=4,
                                         top_p=0.9, chat_template=False, system="sys", engine=Recorder())
    assert responses == ["four"] * 6 and metrics["n"] == 6 and metrics["length_tokens"] == 2.0
    assert {k: seen[k] for k in ("n", "max_new_tokens", "seed", "temperature", "top_k", "top_p", "chat_template",
                                 "system")} == dict(n=3, max_new_tokens=7, seed=5, temperature=0.7, top_k=4,
                                                    top_p=0.9, chat_template=False, system="sys")
    assert seen["prompts"] == ["2+2?", "1+1?"]


@pytest.mark.parametrize("argv,field", [
    (["--engine-option", "dtype=float32"], "engine_option"),
    (["--temperature", "0"], "temperature"),
    (["--top-p", "1.5"], "top_p"),
    (["--top-k", "-1"], "top_k"),
])
def test_eval_refuses_bad_sampling_settings_naming_the_field(argv, field, capsys):
    from langrl.cli import main

    assert main(["eval", *argv]) == 2
    assert f"'{field}'" in capsys.readouterr().err


@pytest.mark.parametrize("sub,argv,field", [
    ("train", ["--engine-option", "dtype=float32"], "engine_option"),
    ("eval", ["--engine-option", "dtype=float32"], "engine_option"),
    ("train", ["--rollout-engine", "vllm", "--engine-option", "novalue"], "engine_option"),
    ("train", ["--tis-cap", "-1"], "tis_cap"),
])
def test_agent_commands_refuse_bad_engine_settings_naming_the_field(sub, argv, field, capsys):
    from langrl.cli import main

    assert main(["agent", sub, *argv]) == 2
    assert f"'{field}'" in capsys.readouterr().err


@pytest.mark.skipif(HAS_VLLM, reason="checks the message shown when vllm is missing")
@pytest.mark.parametrize("argv", [["agent", "eval", "--policy", "tiny", "--games", "1", "--baseline-episodes", "0"],
                                  ["eval", "--num-prompts", "1"]])
def test_the_vllm_engine_without_vllm_says_how_to_install_it(argv, capsys):
    from langrl.cli import main

    assert main([*argv, "--rollout-engine", "vllm"]) == 2
    assert "langrl[vllm]" in capsys.readouterr().err
