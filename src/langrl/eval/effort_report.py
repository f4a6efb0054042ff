"""``scripts/lf-effort``'s report.md and effort.png, from its metrics.json (issue 18; the statistics are
:mod:`langrl.eval.effort`'s, the held-out reward-model checks :mod:`langrl.eval.effort_heldout`'s).

Both read only the metrics dict, so ``lf-effort --report-only`` rewrites them from finished runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from langrl.eval.effort import COMPARISON_METHODS, CRITIQUE_METHODS
from langrl.io import atomic_write_text

METHODS = COMPARISON_METHODS + CRITIQUE_METHODS
LEARNS = {
    "dpo": "DPO (comparisons): raises the log-ratio of the preferred answer over the other against the SFT "
           "reference; a comparison says which whole answer is better, never why.",
    "ppo_bt": "PPO on a Bradley-Terry RM (comparisons): the RM turns comparisons into a scalar score of a whole "
              "answer, which PPO maximises within a KL trust region.",
    "ilf": "ILF (critiques): the critique names what is wrong; it conditions refinements and, through the change "
           "scorer, selects the candidate that adds what the critique asks for; the policy imitates the selection.",
    "dense_ppo": "critique -> dense reward (critiques): the critique is read into which sentence is wrong and how "
                 "(span labels) and how much is missing; span and completeness RMs learn those, fine-grained PPO "
                 "rewards each sentence.",
    "distill": "self-distillation (critiques): the policy with the critique in context writes the answers the "
               "policy without it is trained on, so the critique is needed only at training time.",
}
#: (results key, claim key, label) of the two evaluations: sampled at T = 1 and near-greedy
PASSES = (("methods", "language_feedback_wins", "T = 1"),
          ("near_greedy", "language_feedback_wins_near_greedy", "near-greedy"))


def fmt(x, se) -> str:
    return "—" if x is None else f"{x:.3f} ± {se:.3f}"


def _num(x) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _per_seed(per_seed: dict, seeds: list, key: str, meth: str) -> str:
    """One method's gold of each seed, in ``seeds``' order ("—" for a seed without it)."""
    return ", ".join(_num(per_seed[s].get(key, {}).get(meth, {}).get("gold")) for s in seeds)


def _common_seeds(rows: list[dict]) -> tuple:
    """The seed set most of ``rows`` (pooled rows of one task) are pooled over; ties: the larger set."""
    sets = [tuple(r["seeds"]) for r in rows]
    return max(set(sets), key=lambda s: (sets.count(s), len(s), s))


def seeds_label(rows: list[dict]) -> str:
    """The seeds of one task's pooled rows, for a plot title: "seeds 0,1,2" ("seed 0" for one), and the N whose
    pooled rows have other seeds, e.g. "seeds 0,1,2 (N = 512: 0)", so a point pooled over fewer seeds is not read as
    one pooled over the others."""
    sets, common = {r["n"]: tuple(r["seeds"]) for r in rows}, _common_seeds(rows)
    other = [f"N = {n}: {','.join(map(str, s))}" for n, s in sorted(sets.items()) if s != common]
    head = f"seed{'s' if len(common) > 1 else ''} {','.join(map(str, common))}"
    return head + (f" ({'; '.join(other)})" if other else "")


def _method_rows(r: dict, per_seed: dict) -> list[str]:
    lines = []
    for meth, row in r["methods"].items():
        g = r.get("near_greedy", {}).get(meth)
        cells = [fmt(row["gold"], row["gold_se"]), fmt(row.get("diff_vs_sft"), row.get("diff_vs_sft_se")),
                 fmt(g["gold"], g["gold_se"]) if g else "—",
                 fmt(g.get("diff_vs_sft"), g.get("diff_vs_sft_se")) if g else "—"]
        lines.append(f"| {r['n']} | {meth} | {','.join(map(str, r['seeds']))} | {' | '.join(cells)} | "
                     f"{_per_seed(per_seed, r['seeds'], 'methods', meth)} | "
                     f"{_per_seed(per_seed, r['seeds'], 'near_greedy', meth)} |")
    return lines


def _rm_rows(r: dict, per_seed: dict) -> list[str]:
    lines = []
    for meth, models in r.get("reward_models", {}).items():
        for name, metrics in models.items():
            for key, v in metrics.items():
                if key == "gold_task" or key.startswith("n_"):
                    continue
                seeds = ", ".join(_num(per_seed[s].get("reward_models", {}).get(meth, {}).get(name, {}).get(key))
                                  for s in r["seeds"])
                lines.append(f"| {r['n']} | {meth} | {name} | {metrics['gold_task']} | {key} | "
                             f"{_num(v['mean'])} | {seeds} |")
    return lines


def write_report(out: Path, m: dict) -> None:
    ev = m["eval"]
    lines = ["# Equal annotator effort: comparisons vs critiques (held-out gold)", "",
             f"Annotator effort: {m['effort']}. Held-out: {ev['prompts']} prompts, each policy sampled "
             f"{ev['samples_per_prompt']}× at T = 1 and {ev['near_greedy']['samples_per_prompt']}× near-greedy "
             f"(T = {ev['near_greedy']['temperature']}), paired per prompt. Budgets: {m['budgets']}. "
             f"Steps: {m['steps_rule']}.", ""]
    pooled = [r for r in m["results"] if r["seed"] == "pooled"]
    for task in sorted({r["task"] for r in pooled}):
        lines += [f"## {task}", "",
                  "| N | method | seeds | gold ± se, T = 1 (seeds pooled) | paired Δ vs SFT, T = 1 | "
                  "gold ± se, near-greedy | paired Δ vs SFT, near-greedy | gold per seed, T = 1 | "
                  "gold per seed, near-greedy |",
                  "|---|---|---|---|---|---|---|---|---|"]
        rm_lines = []
        for r in (r for r in pooled if r["task"] == task):
            per_seed = {x["seed"]: x for x in m["results"]
                        if x["task"] == task and x["n"] == r["n"] and x["seed"] != "pooled"}
            lines += _method_rows(r, per_seed)
            rm_lines += _rm_rows(r, per_seed)
        lines.append("")
        for r in (r for r in m["results"] if r["task"] == task):
            for _, key, label in PASSES:
                c = r.get(key)
                if c and c["value"] is not None:
                    who = (f"seeds {','.join(map(str, r['seeds']))} pooled" if r["seed"] == "pooled"
                           else f"seed {r['seed']}")
                    lines.append(f"- N = {r['n']}, {who}, {label}: {key} = **{c['value']}** "
                                 f"({c['best_critique']} − {c['best_comparison']} = {fmt(c['diff'], c['diff_se'])})")
        lines.append("")
        if rm_lines:
            lines += [f"### {task}: the reward models against the held-out gold", "",
                      "The SFT policy's T = 1 answers to the held-out prompts (never trained on), ordered or labelled "
                      "by the task's hidden gold (`langrl rm eval --gold-task`; span F1 at the sentence level).", "",
                      "| N | method | model | gold | metric | mean over seeds | per seed |",
                      "|---|---|---|---|---|---|---|"] + rm_lines + [""]
    lines += ["## What each method learns from its feedback", ""] + [f"- {v}" for v in LEARNS.values()]
    lines += ["", f"Claim rule: {m['rule']} (computed on the T = 1 golds; the near-greedy one beside it).", "",
              "![gold vs annotator actions](effort.png)", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))


def plot(out: Path, m: dict) -> None:
    """effort.png: held-out gold against annotator actions, one column per task, T = 1 above and near-greedy below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = [r for r in m["results"] if r["seed"] == "pooled"]
    tasks = sorted({r["task"] for r in pooled})
    if not tasks:
        return
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.5 * len(tasks), 7.5), squeeze=False)
    for col, task in enumerate(tasks):
        rs = sorted((r for r in pooled if r["task"] == task), key=lambda r: r["n"])
        for row, (key, _, label) in enumerate(PASSES):
            ax = axes[row][col]
            tables = [(r["n"], r.get(key, {})) for r in rs]
            for i, meth in enumerate(METHODS):
                pts = [(n, t[meth]) for n, t in tables if meth in t]
                if pts:  # each method a little to the side (x times 2^(0.04 (i - 2))) so the error bars do not overlap
                    ax.errorbar([p[0] * 2 ** (0.04 * (i - 2)) for p in pts], [p[1]["gold"] for p in pts],
                                yerr=[p[1]["gold_se"] for p in pts], marker="o", capsize=3, label=meth,
                                linestyle="--" if meth in COMPARISON_METHODS else "-")
            sft = next((r.get(key, {})["sft"] for r in rs  # the SFT of the seeds most points are pooled over
                        if tuple(r["seeds"]) == _common_seeds(rs) and "sft" in r.get(key, {})), None)
            if sft:
                ax.axhline(sft["gold"], color="k", linewidth=1, label="SFT")
                ax.axhspan(sft["gold"] - sft["gold_se"], sft["gold"] + sft["gold_se"], color="k", alpha=0.08)
            ax.set_xscale("log", base=2)
            ax.set_xticks([r["n"] for r in rs], [str(r["n"]) for r in rs])
            ax.minorticks_off()
            ax.set_xlabel("annotator actions (comparisons or critiques)")
            ax.set_ylabel(f"held-out gold ({label})")
            ax.set_title(f"{task}, {label}, {seeds_label(rs)}", fontsize=9)
            ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = out / ".effort.png.tmp"
    fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    os.replace(tmp, out / "effort.png")
