"""``langrl demo --task multiobjective``: the lecture's multi-objective open problems on the ``hh`` task, as one command.

Stages (``langrl.demo.stages.Stages`` in ``OUT``; ``langrl pareto``'s own stages in ``OUT/pareto``; re-running
continues where it stopped):

1. ``sft``: ``langrl sft`` from ``--model`` on ``task:hh:corpus`` (it complies with 35% of forbidden requests and
   refuses 20% of allowed ones: the start is part-way on both gold axes);
2. ``langrl pareto`` from it with the two gold axes as the objectives (oracle rewards): the sweep over the simplex
   grid of 4 steps, the rewarded soups, a population of a majority (75%, helpfulness only) and a minority (25%,
   harmlessness only) whose share-averaged w̄ = (0.75, 0.25) is in the grid, and one conditioned policy
   (conditional SFT on the start's samples, then conditioned GRPO) with the sweep's total compute;
3. ``metrics.json`` (the four claims with their numbers, hypervolumes, each group's satisfaction, the compute split,
   each stage's seconds), ``front.png`` (sweep, soups, conditioned policy on the gold axes) and ``report.md``.

The budget (``--quick`` for tests) is in :data:`FULL` / :data:`QUICK`; README "Multi-objective RL" gives its
measured time on two cores.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from langrl.io import atomic_write_json, atomic_write_text

REWARDS = ["gold:task=hh,score=helpful,name=helpful", "gold:task=hh,score=harmless,name=harmless"]
POPULATION = ["many:0.75:helpful=1,harmless=0", "few:0.25:helpful=0,harmless=1"]


@dataclass(frozen=True)
class MOBudget:
    sft_steps: int
    max_steps: int  # RL iterations per weight vector
    eval_num: int
    prompts_per_step: int
    samples_per_prompt: int
    max_new_tokens: int
    cond_sft_prompts: int
    cond_sft_samples: int
    cond_sft_steps: int


FULL = MOBudget(sft_steps=200, max_steps=30, eval_num=128, prompts_per_step=8, samples_per_prompt=4,
                max_new_tokens=40, cond_sft_prompts=64, cond_sft_samples=8, cond_sft_steps=150)
QUICK = MOBudget(sft_steps=20, max_steps=2, eval_num=8, prompts_per_step=4, samples_per_prompt=2, max_new_tokens=8,
                 cond_sft_prompts=8, cond_sft_samples=2, cond_sft_steps=2)


def run_multiobjective(cfg, log=print) -> dict:
    """Run (or continue) the section; write metrics.json, front.png and report.md in ``cfg.out``; return metrics."""
    from langrl.config import from_dict
    from langrl.demo.stages import Stages
    from langrl.train.pareto.config import ParetoConfig
    from langrl.train.pareto.run import run_pareto

    t0 = time.time()
    b = QUICK if cfg.quick else FULL
    max_steps = cfg.rl_steps or b.max_steps
    eval_num = cfg.eval_prompts or b.eval_num
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out, log=log, jobs=1)
    sft_settings = {"model": cfg.model, "data": "task:hh:corpus", "steps": b.sft_steps, "seed": cfg.seed}

    def sft(stage_dir: Path) -> dict:
        from langrl.train.sft import SFTConfig, run_sft

        summary = run_sft(from_dict(SFTConfig, {"model": cfg.model, "data": "task:hh:corpus", "task_examples": 3000,
                                                "max_steps": b.sft_steps, "seed": cfg.seed, "eval_every": 0,
                                                "out": str(stage_dir / "policy"), "overwrite": True}), quiet=True)
        return {k: summary.get(k) for k in ("final_loss", "seconds")}

    stages.run("sft", sft_settings, sft)
    pcfg = from_dict(ParetoConfig, {
        "policy": str(out / "sft" / "policy"), "prompts": "task:hh", "reward": REWARDS, "grid": 4,
        "population": POPULATION, "conditioned": True, "conditioned_sft": True, "max_steps": max_steps,
        "prompts_per_step": b.prompts_per_step, "samples_per_prompt": b.samples_per_prompt,
        "max_new_tokens": b.max_new_tokens, "eval_num": eval_num, "seed": cfg.seed,
        "cond_sft_prompts": b.cond_sft_prompts, "cond_sft_samples": b.cond_sft_samples,
        "cond_sft_steps": b.cond_sft_steps, "out": str(out / "pareto"),
        "rl_option": [f"micro_batch_size={b.prompts_per_step * b.samples_per_prompt}"]}, where="demo: multiobjective")
    t1 = time.time()
    run_pareto(pcfg, quiet=True)
    log(f"[demo] pareto: {time.time() - t1:.0f}s")
    from langrl.train.pareto.run import load_report

    rep = load_report(out / "pareto")
    shutil.copyfile(out / "pareto" / "front.png", out / "front.png")
    metrics = summarise(rep, budget=asdict(b), max_steps=max_steps, eval_num=eval_num,
                        sft_seconds=stages.seconds.get("sft", 0.0), total_seconds=time.time() - t0)
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_text(out / "report.md", report(metrics))
    log(f"[demo] report: {out / 'report.md'} ({time.time() - t0:.0f}s in all)")
    return metrics


def summarise(rep: dict, *, budget: dict, max_steps: int, eval_num: int, sft_seconds: float,
              total_seconds: float) -> dict:
    """metrics.json's content from ``pareto.json``: the claims, hypervolumes, every policy's gold point, the groups."""
    fronts = {kind: {"hypervolume": f["gold"]["hypervolume"], "non_dominated": f["gold"]["non_dominated"],
                     "points": f["gold"]["points"]} for kind, f in rep["fronts"].items() if "gold" in f}
    runs = {name: {f"gold/{k}": v for k, v in r["gold"].items()} for name, r in rep["results"].items() if "gold" in r}
    runs["start"] = {f"gold/{k}": v for k, v in rep["start"]["gold"].items()}
    seconds = {"sft": round(sft_seconds, 1), **rep["stage_seconds"]}
    return {"task": "multiobjective", "axes": ["helpful", "harmless"], "reference": rep["reference"],
            "claims": rep["claims"], "fronts": fronts, "runs": runs, "compute": rep.get("compute"),
            "seconds_per_iteration": rep.get("seconds_per_iteration"), "budget": budget, "max_steps": max_steps,
            "eval_num": eval_num, "stage_seconds": seconds, "pipeline_seconds": round(sum(seconds.values()), 1),
            "total_seconds": round(total_seconds, 1)}


def _point(p) -> str:
    return f"({p[0]:.3f}, {p[1]:.3f})"


def _se(group: dict) -> str:
    """ ", loss L ± se" of one group's row of the population claim (nothing when it has no standard error)."""
    return f", loss {group['loss']:.3f} ± {group['se']:.3f} se" if "se" in group else ""


def report(m: dict) -> str:
    """report.md: what each claim says, whether it holds, with its numbers; the fronts; the groups; the times."""
    c = m["claims"]
    sweep = m["fronts"]["sweep"]["hypervolume"]
    lines = ["# Multi-objective RL on `hh` (helpful vs harmless)", "",
             f"Gold axes (helpful, harmless) of every policy on the same {m['eval_num']} held-out prompts; "
             f"hypervolume above the reference point {tuple(m['reference'])}; {m['max_steps']} GRPO iterations per "
             f"weight vector. `front.png` plots the sweep, the soups and the conditioned policy.", "",
             "## Claims (computed from the numbers below)", ""]
    t = c["tradeoff_exists"]
    lines.append(f"- **tradeoff_exists: {t['value']}** — the gold axes conflict along the front: two non-dominated "
                 f"sweep policies each beat the other on one axis by up to {t['largest_mutual_gap']:.3f} "
                 f"(> {t['margin']}), so no single policy is best for everyone.")
    for key, what in (("soups_cover_front", "the rewarded soups (the two one-objective policies' weights "
                                            "interpolated, no training) reach"),
                      ("conditioned_matches_sweep", "the one preference-conditioned policy, evaluated at every w of "
                                                    "the sweep, reaches")):
        if key in c:
            v = c[key]
            lines.append(f"- **{key}: {v['value']}** — {what} hypervolume {v['hypervolume']:.4f}, "
                         f"{v['ratio']:.3f} × the sweep's {sweep:.4f} (threshold {v['threshold']}).")
    if "averaging_fails_minorities" in c:
        p = c["averaging_fails_minorities"]
        g = p["groups"]
        minority = [n for n in g if n != p["majority"]]
        lines.append(f"- **averaging_fails_minorities: {p['value']}** — the policy trained at the share-averaged w̄ "
                     f"= ({', '.join(f'{v:g}' for v in p['averaged_weights'].values())}) serves the majority "
                     f"'{p['majority']}' ({g[p['majority']]['averaged_policy']:.3f} vs its own policy's "
                     f"{g[p['majority']]['own_policy']:.3f}{_se(g[p['majority']])}) while each minority loses: "
                     + "; ".join(f"'{n}' {g[n]['averaged_policy']:.3f} vs {g[n]['own_policy']:.3f}{_se(g[n])}"
                                 for n in minority)
                     + f" (rule: {p.get('rule', 'margin')}; the fixed margin {p['fixed_margin']['margin']:g} "
                       f"would say {p['fixed_margin']['value']}).")
    lines += ["", "## Fronts", "", "| policy | helpful | harmless |", "|---|---|---|",
              f"| SFT start | {m['runs']['start']['gold/helpful']:.3f} | {m['runs']['start']['gold/harmless']:.3f} |"]
    for kind in ("sweep", "soups", "conditioned_sft", "conditioned"):
        for name, p in m["fronts"].get(kind, {}).get("points", {}).items():
            lines.append(f"| {kind} {name} | {p[0]:.3f} | {p[1]:.3f} |")
    lines += ["", "| front | hypervolume | non-dominated |", "|---|---|---|"]
    for kind, f in m["fronts"].items():
        lines.append(f"| {kind} | {f['hypervolume']:.4f} | {', '.join(f['non_dominated'])} |")
    if "averaging_fails_minorities" in c:
        lines += ["", "## The population: each group's satisfaction w_g · (mean gold axes)", "",
                  "| group | share | w_g | averaged policy | own policy | conditioned policy at w_g |",
                  "|---|---|---|---|---|---|"]
        for n, g in c["averaging_fails_minorities"]["groups"].items():
            lines.append(f"| {n} | {g['share']:g} | {_point(list(g['weights'].values()))} | "
                         f"{g['averaged_policy']:.3f} | {g['own_policy']:.3f} | "
                         f"{g.get('conditioned_policy', float('nan')):.3f} |")
    if m.get("compute"):
        k = m["compute"]
        lines += ["", "## Compute", "",
                  f"In RL iterations of {k['sequences_per_iteration']} sequences: the sweep {k['sweep_iterations']}; "
                  f"the conditioned policy {k['offline_iterations']} offline (its samples in whole iterations, an "
                  f"SFT step as half of one) + {k['online_iterations']} online = the same."]
    lines += ["", "## Stage times (seconds)", "", "| stage | s |", "|---|---|"]
    lines += [f"| {n} | {s:.0f} |" for n, s in m["stage_seconds"].items()]
    lines += ["", f"Total: {m['total_seconds']:.0f} s (cached stages are not re-run).", ""]
    return "\n".join(lines)
