"""``langrl pareto``: one RL policy per weight vector from one SFT start, rewarded soups, and their fronts.

Stages (``langrl.demo.stages.Stages``: each writes ``OUT/NAME/done.json`` last, so re-running the same command
continues at the first unfinished stage; a changed setting re-runs what depends on it):

- ``w-<weights>``: ``langrl rl`` from ``--policy`` with ``--weights w`` (the run in ``OUT/w-.../policy``), then the
  held-out evaluation: the mean of every objective's raw score and of every gold score of the task, on the same
  ``eval_num`` prompts (one seeded sample each) for every stage;
- ``soup-<weights>`` (``--soups``): the one-objective policies' weights interpolated at w (Ramé et al. 2023;
  :func:`langrl.models.soup.interpolate_state_dicts`), evaluated the same way; the one-objective stages are trained
  even when the sweep does not list them;
- with ``--conditioned``: ``cond-sft`` (offline conditional SFT on the start's own samples, each w's best after w's
  prefix; :mod:`.conditional_sft`) and its evaluations ``csft-<w>``, then ``conditioned`` (``langrl rl --condition``
  from it for the rest of the sweep's compute, :func:`conditioned_budget`) and ``cond-<w>``;
- then ``pareto.json`` (every point, the non-dominated sets, hypervolumes with the reference point) and ``front.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from langrl.errors import InputError
from langrl.eval.front import hypervolume, non_dominated
from langrl.io import atomic_write_json
from langrl.train.pareto.config import RL_FIELDS, ParetoConfig


def label(weights: dict[str, float]) -> str:
    return "-".join(f"{w:g}" for w in weights.values())


def _rl_base(cfg: ParetoConfig) -> dict:
    base = {f: getattr(cfg, f) for f in RL_FIELDS}
    for opt in cfg.rl_option:
        key, _, value = opt.partition("=")
        base[key.strip().replace("-", "_")] = value.strip()
    return base


def _rl_config(base: dict, weights: dict[str, float] | None, out: Path, **extra):
    """One stage's ``langrl rl`` config: ``weights`` (None for the conditioned policy), ``extra`` fields on top."""
    from langrl.config import from_dict
    from langrl.train.rl.config import RLConfig, resolve_config

    given = {"weights": ",".join(f"{k}={v!r}" for k, v in weights.items())} if weights else {}
    cfg = from_dict(RLConfig, {**base, **given, "out": str(out), "overwrite": True, "eval_every": 0, **extra},
                    where="pareto: rl_option")
    resolve_config(cfg).validate()
    return cfg


def evaluate_axes(model, tok, rows: list[dict], reward, task, *, seed: int, temperature: float,
                  max_new_tokens: int, condition: dict[str, float] | None = None, fmt: str = "names") -> dict:
    """{"objectives": {name: mean raw score}, "gold": {name: mean gold score}, "gold_per_prompt": {name: the score
    of each row's sample}} of one seeded sample per row;
    ``condition``: a conditioned policy's w, written before each prompt (the rewards see the prompt without it)."""
    import torch

    from langrl.rewards.conditioning import condition_prompt
    from langrl.rollout import sample_prompts
    from langrl.train.pg.collect import rows_to_columns

    prompts, columns = rows_to_columns(rows)
    sampled = [condition_prompt(p, condition, fmt) for p in prompts] if condition else prompts
    with torch.no_grad():
        ro = sample_prompts(model, tok, sampled, n=1, seed=seed + 7919, columns=columns, max_new_tokens=max_new_tokens,
                            temperature=temperature)
    ro.prompts = list(prompts)  # n = 1: the prompts as the rows give them, without any prefix
    out = reward(ro.prompts, ro.responses, **ro.columns)
    objectives = {n: float(out.column(n).nanmean()) for n in reward.objective_names}
    gold, per_prompt = {}, {}
    if task is not None:
        per_prompt = {k: [float(x) for x in v] for k, v in task.gold(rows, ro.responses).items()}
        gold = {k: sum(v) / len(v) for k, v in per_prompt.items()}
    return {"objectives": objectives, "gold": gold, "gold_per_prompt": per_prompt, "samples": [
        {"prompt": p, "response": r} for p, r in zip(ro.prompts[:3], ro.responses[:3])]}


def _front(points: dict[str, dict], axes: list[str], key: str, ref: list[float]) -> dict:
    names = [n for n in points if all(a in points[n][key] for a in axes)]
    coords = [[points[n][key][a] for a in axes] for n in names]
    nd = non_dominated(coords)
    return {"axes": axes, "reference": ref, "points": {n: c for n, c in zip(names, coords)},
            "non_dominated": [names[i] for i in nd], "hypervolume": hypervolume(coords, ref) if coords else 0.0}


def conditioned_budget(cfg: ParetoConfig, n_vectors: int) -> dict:
    """The conditioned policy's share of the sweep's compute, in RL iterations of prompts_per_step ×
    samples_per_prompt sequences: the sweep's n_vectors × max_steps, minus the offline stage's
    (:func:`langrl.train.pareto.conditional_sft.offline_iterations`), is the online stage's."""
    from langrl.train.pareto.conditional_sft import offline_iterations

    total = cfg.max_steps * n_vectors
    offline = (offline_iterations(cfg.cond_sft_prompts, cfg.cond_sft_samples, cfg.cond_sft_steps,
                                  cfg.prompts_per_step * cfg.samples_per_prompt) if cfg.conditioned_sft else 0)
    if total - offline < 1:
        raise InputError(f"pareto: field 'cond_sft_steps': the offline stage costs {offline} RL iterations, the "
                         f"sweep's total is {total}: expected fewer cond_sft_steps/prompts/samples or more max_steps")
    return {"sweep_iterations": total, "offline_iterations": offline, "online_iterations": total - offline,
            "sequences_per_iteration": cfg.prompts_per_step * cfg.samples_per_prompt}


def _format(cfg: ParetoConfig, names) -> str:
    """The prefix format every conditioned stage writes: ``cfg.condition_format``, with ``auto`` resolved against the
    start policy's tokenizer and the training prompts (``langrl.rewards.conditioning.resolve_format``)."""
    if cfg.condition_format not in ("auto", "byte"):
        return cfg.condition_format
    from langrl.models.specs import load_tokenizer
    from langrl.rewards.conditioning import resolve_format
    from langrl.train.pg.collect import load_prompt_rows

    rows = load_prompt_rows(cfg.prompts, "train", 16, cfg.seed)[:16]
    return resolve_format(cfg.condition_format, load_tokenizer(cfg.policy, quiet=True), [r["prompt"] for r in rows],
                          len(names))


def _conditioned_stages(cfg: ParetoConfig, base: dict, stages, out: Path, vectors: list, reward, evaluate,
                        eval_settings: dict) -> tuple[dict, dict, dict]:
    """The conditioned policy's stages: ``cond-sft`` (offline conditional SFT, with ``conditioned_sft``) and its
    evaluations ``csft-<w>``, then ``conditioned`` (online conditioned RL from it) and ``cond-<w>``."""
    from langrl.rewards.weights import weight_grid

    compute = conditioned_budget(cfg, len(vectors))
    fmt = _format(cfg, reward.objective_names)
    # w is drawn from the simplex grid of twentieths unless --rl-option condition_steps=N: every level the compact
    # prefix can write (and every weight a --grid of 1, 2, 4, 5, 10 or 20 steps evaluates) is seen in training
    csteps = int(base.get("condition_steps", 20))
    names = reward.objective_names
    start, inputs, cond_sft = cfg.policy, (), {}

    def cond_eval(policy: Path, weights: dict[str, float]):
        def fn(stage_dir: Path) -> dict:
            from langrl.models.specs import load_causal_lm

            model, tok = load_causal_lm(str(policy), quiet=True)
            return {"weights": weights, **evaluate(model, tok, condition=weights, fmt=fmt)}

        return fn

    if cfg.conditioned_sft:
        grid = [dict(zip(names, g)) for g in weight_grid(len(names), csteps)]
        sft_settings = {"policy": cfg.policy, "prompts": cfg.prompts, "reward": cfg.reward, "grid": grid,
                        "format": fmt, "prompts_n": cfg.cond_sft_prompts, "samples": cfg.cond_sft_samples,
                        "steps": cfg.cond_sft_steps, "lr": cfg.cond_sft_learning_rate, "seed": cfg.seed,
                        "temperature": cfg.temperature, "max_new_tokens": cfg.max_new_tokens,
                        "batch": compute["sequences_per_iteration"]}

        def sft_fn(stage_dir: Path) -> dict:
            from langrl.train.pareto.conditional_sft import run_conditional_sft
            from langrl.train.pg.collect import load_prompt_rows

            rows = load_prompt_rows(cfg.prompts, "train", cfg.cond_sft_prompts, cfg.seed)[:cfg.cond_sft_prompts]
            return run_conditional_sft(policy=cfg.policy, rows=rows, reward=reward, vectors=grid, out=stage_dir,
                                       samples=cfg.cond_sft_samples, steps=cfg.cond_sft_steps,
                                       batch_size=compute["sequences_per_iteration"],
                                       learning_rate=cfg.cond_sft_learning_rate, seed=cfg.seed,
                                       temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, fmt=fmt)

        stages.run("cond-sft", sft_settings, sft_fn)
        start, inputs = str(out / "cond-sft" / "policy"), ("cond-sft",)
        for w in vectors:  # the offline stage alone: does the policy read its prefix before any RL?
            name = f"csft-{label(w)}"
            stages.run(name, {"weights": w, "eval": eval_settings, "format": fmt},
                       cond_eval(out / "cond-sft" / "policy", w), inputs=inputs)
            cond_sft[name] = w
    rl_steps = compute["online_iterations"]

    def cond_train(stage_dir: Path) -> dict:
        from langrl.train.rl.loop import run_rl

        rl = _rl_config({**base, "policy": start}, None, stage_dir / "policy", condition=True,
                        condition_format=fmt, condition_steps=csteps, max_steps=rl_steps)
        summary = run_rl(rl, quiet=True)
        return {"train": {k: summary.get(k) for k in ("final_reward", "final_kl", "seconds")}, "steps": rl_steps}

    stages.run("conditioned", {"rl": {**base, "policy": start}, "steps": rl_steps, "format": fmt,
                               "condition_steps": csteps}, cond_train,
               inputs=inputs)
    conditioned = {}
    for w in vectors:
        name = f"cond-{label(w)}"
        stages.run(name, {"weights": w, "eval": eval_settings, "format": fmt},
                   cond_eval(out / "conditioned" / "policy", w), inputs=("conditioned",))
        conditioned[name] = w
    return conditioned, cond_sft, compute


def run_pareto(cfg: ParetoConfig, quiet: bool = False) -> dict:
    """Run (or continue) the sweep; write ``pareto.json`` and ``front.png`` in ``cfg.out``; return the summary."""
    from langrl.demo.stages import Stages
    from langrl.rewards import build_rewards
    from langrl.rewards.weights import parse_weights, weight_grid
    from langrl.train.pg.collect import load_prompt_rows

    cfg.validate()
    t0 = time.time()
    reward = build_rewards(cfg.reward)
    names = reward.objective_names
    vectors = ([parse_weights(w, names, field="weights") for w in cfg.weights] if cfg.weights
               else [dict(zip(names, g)) for g in weight_grid(len(names), cfg.grid)])
    groups = cfg.groups(names)
    if groups:  # each type's w and the share-averaged w̄ (what one pooled reward model would fit) join the sweep
        mean_w = {k: sum(g["share"] * g["weights"][k] for g in groups.values()) for k in names}
        for w in [g["weights"] for g in groups.values()] + [mean_w]:
            if label(w) not in {label(v) for v in vectors}:
                vectors.append(w)
    ref = cfg.reference_point(len(names))
    out = Path(cfg.resume or cfg.out)  # --resume DIR continues that run
    marker = out / "pareto_config.json"
    if out.is_dir() and any(out.iterdir()) and not marker.is_file() and not cfg.overwrite:
        raise InputError(f"pareto: field 'out': {out} is not empty and holds no pareto run; choose another --out "
                         f"or pass --overwrite true")
    base = _rl_base(cfg)
    for w in vectors:  # every stage's config is checked before the first one trains
        _rl_config(base, w, out / "check")
    if cfg.conditioned:
        _rl_config(base, None, out / "check", condition=True, condition_format=cfg.condition_format,
                   max_steps=conditioned_budget(cfg, len(vectors))["online_iterations"])
    spec = cfg.eval_prompts or (cfg.prompts if cfg.prompts.startswith("task:") else None)
    if spec is None:
        raise InputError("pareto: held-out prompts needed: pass --eval-prompts FILE.jsonl or task:NAME")
    rows = load_prompt_rows(spec, "eval", cfg.eval_num, cfg.seed)[:cfg.eval_num]
    task = None
    if spec.startswith("task:"):
        from langrl.tasks import get_task

        task = get_task(spec[5:])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, {"reward": cfg.reward, "weights": vectors})
    say = (lambda msg: None) if quiet else (lambda msg: print(msg.replace("[demo]", "[pareto]"), flush=True))
    stages = Stages(out, log=say, jobs=1)
    eval_settings = {"spec": spec, "num": cfg.eval_num, "temperature": cfg.eval_temperature, "seed": cfg.seed,
                     "max_new_tokens": cfg.max_new_tokens}

    def evaluate(model, tok, condition=None, fmt="names") -> dict:
        return evaluate_axes(model, tok, rows, reward, task, seed=cfg.seed, temperature=cfg.eval_temperature,
                             max_new_tokens=cfg.max_new_tokens, condition=condition, fmt=fmt)

    def train(weights: dict[str, float]):
        def fn(stage_dir: Path) -> dict:
            from langrl.models.specs import load_causal_lm
            from langrl.train.rl.loop import run_rl

            rl_cfg = _rl_config(base, weights, stage_dir / "policy")
            summary = run_rl(rl_cfg, quiet=True)
            model, tok = load_causal_lm(str(stage_dir / "policy"), quiet=True)
            return {"weights": weights, "train": {k: summary.get(k) for k in ("final_reward", "final_kl", "seconds")},
                    **evaluate(model, tok)}

        return fn

    def start(stage_dir: Path) -> dict:  # the SFT start itself, on the same prompts: where every policy began
        from langrl.models.specs import load_causal_lm

        return evaluate(*load_causal_lm(cfg.policy, quiet=True))

    stages.run("start", {"policy": cfg.policy, "eval": eval_settings}, start)
    sweep = {}
    for w in vectors:
        name = f"w-{label(w)}"
        stages.run(name, {"rl": base, "weights": w, "eval": eval_settings}, train(w))
        sweep[name] = w
    soups = {}
    if cfg.soups:
        hots = []
        for k in names:  # the one-objective policies: the soup's ingredients
            w = {n: float(n == k) for n in names}
            name = f"w-{label(w)}"
            if name not in stages.results:
                stages.run(name, {"rl": base, "weights": w, "eval": eval_settings}, train(w))
            hots.append(name)

        def mix(weights: dict[str, float]):
            def fn(stage_dir: Path) -> dict:
                from langrl.models.soup import soup

                total = sum(weights.values())
                model, tok = soup([out / h / "policy" for h in hots], [weights[n] / total for n in names])
                return {"weights": weights, **evaluate(model, tok)}

            return fn

        for w in vectors:
            name = f"soup-{label(w)}"
            stages.run(name, {"weights": w, "eval": eval_settings}, mix(w), inputs=tuple(hots))
            soups[name] = w
    conditioned, cond_sft = {}, {}
    if cfg.conditioned:  # one policy for every w, trained with the sweep's total compute
        conditioned, cond_sft, compute = _conditioned_stages(cfg, base, stages, out, vectors, reward, evaluate,
                                                             eval_settings)
    results = stages.results
    gold_axes = list(cfg.gold_axes) or [n for n in names if task is not None and
                                        all(n in results[s]["gold"] for s in sweep)]
    fronts = {}
    for kind, members in (("sweep", sweep), ("soups", soups), ("conditioned", conditioned),
                          ("conditioned_sft", cond_sft)):
        if not members:
            continue
        pts = {n: results[n] for n in members}
        fronts[kind] = {"objectives": _front(pts, names, "objectives", ref)}
        if gold_axes:
            fronts[kind]["gold"] = _front(pts, gold_axes, "gold", ref if len(gold_axes) == len(names)
                                          else [0.0] * len(gold_axes))
    from langrl.train.pareto import claims as cl

    claims = {}
    space = "gold" if gold_axes else "objectives"
    claims["tradeoff_exists"] = cl.tradeoff(fronts["sweep"][space])
    if "soups" in fronts:
        claims["soups_cover_front"] = cl.hv_ratio(fronts["soups"][space], fronts["sweep"][space], 0.9)
    if "conditioned" in fronts:
        claims["conditioned_matches_sweep"] = cl.hv_ratio(fronts["conditioned"][space], fronts["sweep"][space], 0.9)
    if groups and all(n in gold_axes for n in names):
        claims["averaging_fails_minorities"] = cl.population_claim(groups, results, label)
    per_iter = {}  # training seconds per RL iteration (run_rl's own clock): the conditioned policy's cost vs a plain one
    plain = [results[n]["train"]["seconds"] / cfg.max_steps for n in results if n.startswith("w-")]
    if plain:
        per_iter["sweep"] = sum(plain) / len(plain)
    if conditioned:
        per_iter["conditioned"] = results["conditioned"]["train"]["seconds"] / results["conditioned"]["steps"]
        report_extra = {"compute": compute}
    else:
        report_extra = {}
    report = {"command": "pareto", "claims": claims, "seconds_per_iteration": per_iter, "objectives": names, "reference": ref, "aggregation": cfg.aggregation,
              "algo": cfg.algo, "max_steps": cfg.max_steps, "eval_num": cfg.eval_num, "fronts": fronts,
              "start": results["start"],
              "results": {n: results[n] for n in list(sweep) + [h for h in results if h.startswith("w-")
                                                                and h not in sweep] + list(soups)
                          + ["cond-sft"] * bool(cond_sft) + list(cond_sft)
                          + ["conditioned"] * bool(conditioned) + list(conditioned)},
              "stage_seconds": {n: round(s, 1) for n, s in stages.seconds.items()}, **report_extra}
    atomic_write_json(out / "pareto.json", report)
    from langrl.train.pareto.plot import plot_fronts

    plot_fronts(out / "front.png", report, "gold" if gold_axes and len(gold_axes) == 2 else "objectives")
    summary = {"command": "pareto", "out": str(out), "stages": len(results), "seconds": round(time.time() - t0, 1)}
    for kind, f in fronts.items():
        for space, fr in f.items():
            summary[f"hypervolume/{kind}/{space}"] = round(fr["hypervolume"], 6)
            summary[f"non_dominated/{kind}/{space}"] = ",".join(fr["non_dominated"])
    summary["reference"] = ",".join(f"{r:g}" for r in ref)
    summary.update({f"claim/{k}": v["value"] for k, v in claims.items()})
    return summary


def load_report(out) -> dict:
    return json.loads((Path(out) / "pareto.json").read_text())
