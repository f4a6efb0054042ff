"""SFT warm start for agents: play each training game's walkthrough, write one prompt/completion record per action
(the transcript so far under the context policy → the walkthrough's next command), and fine-tune with
:func:`langrl.train.sft.run_sft` (loss on the command tokens only).

The records use the same rendering as the multi-turn sampler (:mod:`langrl.envs.render`), so the warm-started policy
sees at RL time exactly the kind of context it was fine-tuned on. The JSONL is written once under
``$LANGRL_HOME/agent_data/`` (named by a hash of its content, so ``--resume`` finds the same file) and its path is in
the summary.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from langrl.errors import InputError
from langrl.train.agent.config import AgentSFTConfig


def walkthrough_records(env_name: str, difficulty: str, seeds: list[int], tokenizer, *, window: int,
                        max_first_tokens: int | None = None,
                        max_obs_tokens: int | None = None) -> tuple[list[dict], int]:
    """(SFT records, number of games whose walkthrough did not win — they are left out)."""
    from langrl.envs import make_env
    from langrl.envs.protocol import action_format
    from langrl.envs.render import walkthrough_examples

    env = make_env(env_name, difficulty)
    act_prompt, stop = action_format(env)
    records, failed = [], 0
    for seed in seeds:
        obs, _ = env.reset(seed)
        actions = env.walkthrough()
        observations, won = [obs], False
        for a in actions:
            obs, _, done, info = env.step(a)
            observations.append(obs)
            won = bool(info.get("won"))
            if done:
                break
        if not won:
            failed += 1
            continue
        records += walkthrough_examples(tokenizer, observations, actions, action_prompt=act_prompt, stop=stop,
                                        max_context=window, max_first_tokens=max_first_tokens or window // 2,
                                        max_obs_tokens=max_obs_tokens or window // 4)
    close = getattr(env, "close", None)
    if close is not None:
        close()
    return records, failed


def run_agent_sft(cfg: AgentSFTConfig, quiet: bool = False) -> dict:
    """Build the walkthrough data, fine-tune ``cfg.policy`` on it, write ``cfg.out``; return the summary."""
    from langrl.io import atomic_write_json, atomic_write_jsonl
    from langrl.models.specs import load_tokenizer, resolve_model_dir
    from langrl.home import langrl_home
    from langrl.train.agent.loop import AGENT_FILE, agent_meta
    from langrl.train.checkpoint import check_out_dir
    from langrl.train.sft import SFTConfig, run_sft

    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    if cfg.env == "textworld":
        from langrl.envs.games import game_set, parse_difficulty

        game_set(parse_difficulty(cfg.difficulty), cfg.seed, cfg.games, quiet=quiet)
    tok = load_tokenizer(cfg.policy, quiet=quiet)
    config = json.loads((resolve_model_dir(cfg.policy, quiet=True) / "config.json").read_text())
    window = cfg.max_context or int(config.get("max_position_embeddings", 512))
    records, failed = walkthrough_records(cfg.env, cfg.difficulty, list(range(cfg.seed, cfg.seed + cfg.games)), tok,
                                          window=window, max_first_tokens=cfg.max_first_tokens or None,
                                          max_obs_tokens=cfg.max_obs_tokens or None)
    if not records:
        raise InputError(f"agent sft: no walkthrough of the {cfg.games} games won; nothing to learn from")
    blob = "\n".join(json.dumps(r, sort_keys=True) for r in records)
    path = langrl_home() / "agent_data" / f"walkthroughs-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.jsonl"
    if not path.is_file():
        atomic_write_jsonl(path, records)
    sft = SFTConfig(model=cfg.policy, data=str(path), out=cfg.out, max_steps=cfg.max_steps, batch_size=cfg.batch_size,
                    micro_batch_size=cfg.micro_batch_size, learning_rate=cfg.learning_rate,
                    weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, grad_clip=cfg.grad_clip,
                    save_every=cfg.save_every, max_length=window, eval_fraction=0.0, seed=cfg.seed,
                    stop_at=cfg.stop_at, resume=cfg.resume, overwrite=cfg.overwrite)
    summary = run_sft(sft, quiet=quiet)
    atomic_write_json(Path(cfg.out) / AGENT_FILE, {**agent_meta(cfg, "sft"), "config": dataclasses.asdict(cfg)})
    return {**summary, "command": "agent sft", "env": cfg.env, "difficulty": cfg.difficulty,
            "examples": len(records), "games_skipped": failed, "data": str(path)}
