"""Evaluate an agent on a game set, against a random-admissible baseline on the very same games.

Per game the policy plays ``episodes_per_game`` episodes (greedy by default: the most likely allowed token at each
step) and the baseline ``baseline_episodes`` episodes choosing uniformly among the admissible commands each turn.
Reported for both: success rate (won), mean score normalised by the game's max score, mean steps. When the policy
directory records its training games (``langrl_agent.json``), the summary says whether the evaluated seeds are
held out (no overlap with the training seed range).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from langrl.train.agent.config import AgentEvalConfig



def episode_metrics(episodes) -> dict[str, float]:
    """Success rate, mean normalised score, mean steps and mean return of played episodes."""
    n = max(1, len(episodes))
    return {"success_rate": sum(e.won for e in episodes) / n,
            "score": sum(e.normalized_score for e in episodes) / n,
            "steps": sum(e.steps for e in episodes) / n,
            "env_return": sum(e.total_reward for e in episodes) / n}

def play_random(env_name: str, difficulty: str, seeds: list[int], *, episodes: int, max_turns: int,
                seed: int = 0) -> list:
    """Episodes of the random-admissible policy: ``episodes`` per game seed, each turn a uniform admissible command."""
    from langrl.envs import EnvBatch, make_env

    batch = EnvBatch([make_env(env_name, difficulty)])
    out = []
    for game in seeds:
        for k in range(episodes):
            rng = random.Random(f"random-admissible|{seed}|{game}|{k}")
            batch.reset([game])
            for _ in range(max_turns):
                acts = batch.admissible()[0]
                if not acts:
                    break
                batch.step([rng.choice(acts)])
                if batch.episodes[0].done:
                    break
            out.append(batch.episodes[0])
    batch.close()
    return out


def make_agent_engine(cfg, model, tok, prog: str):
    """``--rollout-engine vllm``: vLLM in this process over the policy's window, started from ``model``'s weights
    (None for ``native``: langrl's multi-turn sampler on the model itself)."""
    if cfg.rollout_engine == "native":
        return None
    from langrl.train.pg.engines import make_engine, parse_options

    window = cfg.max_context or int(getattr(model.config, "max_position_embeddings", 512))
    return make_engine(cfg.rollout_engine, model, tok, copy_weights=False, prog=prog, seed=cfg.seed,
                       admissible=cfg.action_space == "admissible",
                       sampling={"max_prompt_tokens": window, "max_new_tokens": 0},
                       engine_options={"max_model_len": window, **parse_options(cfg.engine_option)})


def play_policy(model, tokenizer, env_name: str, difficulty: str, seeds: list[int], *, batch_size: int,
                greedy: bool = True, temperature: float = 1.0, seed: int = 0, engine=None, **rollout_kw) -> list:
    """Episodes of ``model`` on every seed of ``seeds``, ``batch_size`` at a time (actions written by ``engine``
    when given: ``--rollout-engine vllm``)."""
    from langrl.envs import EnvBatch, make_env, rollout_episodes

    envs = [make_env(env_name, difficulty) for _ in range(min(batch_size, len(seeds)))]
    out = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        batch = EnvBatch(envs[:len(chunk)])
        rollout_episodes(model, tokenizer, batch, chunk, greedy=greedy, temperature=temperature, seed=seed + i,
                         engine=engine, **rollout_kw)
        out += batch.episodes
    EnvBatch(envs).close()
    return out


def held_out(policy: str | None, cfg: AgentEvalConfig) -> dict:
    """{"held_out": bool | None, "training_seeds": [first, last] | None, "overlap": count} from the policy's record."""
    meta_path = Path(policy) / "langrl_agent.json" if policy else None
    if meta_path is None or not meta_path.is_file():
        return {"held_out": None, "training_seeds": None, "overlap": None}
    meta = json.loads(meta_path.read_text())
    train = set(range(meta["seed"], meta["seed"] + meta["games"]))
    evals = set(range(cfg.seed, cfg.seed + cfg.games))
    same_world = meta.get("env") == cfg.env and meta.get("difficulty") == cfg.difficulty
    overlap = len(train & evals) if same_world else 0
    return {"held_out": overlap == 0, "training_seeds": [meta["seed"], meta["seed"] + meta["games"] - 1],
            "overlap": overlap}


def run_agent_eval(cfg: AgentEvalConfig, quiet: bool = False) -> dict:
    """Play the policy and the random-admissible baseline on games ``seed .. seed + games - 1``; return the summary."""
    from langrl.io import atomic_write_json

    seeds = list(range(cfg.seed, cfg.seed + cfg.games))
    if cfg.env == "textworld":
        from langrl.envs.games import game_set, parse_difficulty

        game_set(parse_difficulty(cfg.difficulty), cfg.seed, cfg.games, quiet=quiet)
    summary = {"command": "agent eval", "env": cfg.env, "difficulty": cfg.difficulty, "games": cfg.games,
               "seeds": [seeds[0], seeds[-1]], "action_space": cfg.action_space, "max_turns": cfg.max_turns}
    per_game: dict = {}
    if cfg.policy:
        from langrl.models.specs import load_causal_lm

        model, tok = load_causal_lm(cfg.policy, quiet=quiet)
        engine = make_agent_engine(cfg, model, tok, "agent eval")
        repeated = [s for s in seeds for _ in range(cfg.episodes_per_game)]
        played = play_policy(model, tok, cfg.env, cfg.difficulty, repeated, batch_size=cfg.batch_size,
                             greedy=cfg.greedy, temperature=cfg.temperature, seed=cfg.seed, engine=engine,
                             **cfg.rollout_kwargs())
        if engine is not None:
            engine.close()
        summary["policy"] = {**episode_metrics(played), "episodes": len(played), "greedy": cfg.greedy,
                             "rollout_engine": cfg.rollout_engine}
        per_game["policy"] = [e.summary() for e in played]
        summary.update(held_out(cfg.policy, cfg))
    if cfg.baseline_episodes:
        rand = play_random(cfg.env, cfg.difficulty, seeds, episodes=cfg.baseline_episodes, max_turns=cfg.max_turns,
                           seed=cfg.seed)
        summary["random_admissible"] = {**episode_metrics(rand), "episodes": len(rand)}
        per_game["random_admissible"] = [e.summary() for e in rand]
    if "policy" in summary and "random_admissible" in summary:
        summary["beats_random"] = summary["policy"]["success_rate"] > summary["random_admissible"]["success_rate"]
    if cfg.out:
        atomic_write_json(Path(cfg.out) / "eval.json", {"summary": summary, "episodes": per_game})
    return summary
