"""The demo's outputs: metrics.json (runs + claims), report.md, report.html (plots embedded) and PNG plots."""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from langrl.demo.claims import EXPLAIN, compute_claims, paired_difference
from langrl.demo.config import SFT_BATCH, reproduce_command
from langrl.io import atomic_write_json, atomic_write_text
from langrl.models.specs import weights_fingerprint

COLUMNS = [("gold/gold", "gold (T=1)"), ("gold_se", "± s.e."), ("near_greedy/gold/gold", "gold (near-greedy)"),
           ("near_greedy/gold_se", "± s.e."), ("proxy", "proxy"), ("kl", "KL to SFT"),
           ("length_tokens", "tokens"),
           ("distinct_2", "distinct-2")]
CATEGORY_KEYS = [("gold/relevance", "irrelevant"), ("gold/factuality", "untruthful"),
                 ("gold/completeness", "incomplete")]


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _plots(out: Path, results: dict, runs: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    tasks = sorted({runs[n]["task"] for n in runs})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        names = [n for n in results if (runs.get(n, {}).get("task") == task) or (n.startswith("best-of-")
                                                                                 and task == "factqa")]
        for n in names:
            kl, gold = results[n].get("kl"), results[n].get("gold/gold")
            if kl is None or gold is None:
                continue
            ax.scatter([max(kl, 0.0)], [gold], s=30)
            ax.annotate(n, (max(kl, 0.0), gold), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{task}: gold vs KL to SFT")
        ax.set_xlabel("KL(π ‖ π_SFT) per sequence (nats)")
        ax.set_ylabel("gold score")
    fig.tight_layout()
    fig.savefig(out / "gold_vs_kl.png", dpi=110)
    plt.close(fig)
    made.append(("gold_vs_kl.png", "Gold score against KL to the SFT policy, every method (held-out prompts)."))

    curves = {n: results[n].get("curve") or [] for n in ("ppo-kl", "ppo-no-kl") if n in results}
    curves = {n: [r for r in c if "eval/gold" in r] for n, c in curves.items()}
    if any(curves.values()):
        fig, (ax_t, ax_k) = plt.subplots(1, 2, figsize=(10, 3.6))
        for n, c in curves.items():
            if not c:
                continue
            steps = [r["step"] for r in c]
            line = ax_t.plot(steps, [r["eval/gold"] for r in c], marker="o", ms=3, label=f"{n}: gold")[0]
            if "eval/reward" in c[0]:
                ax_t.plot(steps, [r["eval/reward"] for r in c], linestyle="--", color=line.get_color(),
                          label=f"{n}: proxy")
            kl_key = next((k for k in ("kl", "kl_mean", "kl/mean") if k in c[0]), None)
            if kl_key:  # one batch's KL is noisy: an exponential moving average over iterations orders the points
                ema, xs = None, []
                for r in c:
                    ema = r.get(kl_key, 0.0) if ema is None else 0.7 * ema + 0.3 * r.get(kl_key, 0.0)
                    xs.append(math.sqrt(max(0.0, ema)))
                ax_k.plot(xs, [r["eval/gold"] for r in c], marker="o", ms=3, color=line.get_color(),
                          label=f"{n}: gold")
        ax_t.set_xlabel("iteration")
        ax_t.set_title("reviews: held-out proxy (VADER) and gold")
        ax_t.legend(fontsize=7)
        ax_k.set_xlabel("√KL to SFT (training batches, moving average)")
        ax_k.set_ylabel("held-out gold")
        ax_k.set_title("gold along √KL: the over-optimisation curve")
        ax_k.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "overoptimization.png", dpi=110)
        plt.close(fig)
        made.append(("overoptimization.png", "Proxy (VADER) and gold along training, with and without the KL "
                                             "penalty: the over-optimisation curve."))

    fq = [n for n in results if runs.get(n, {}).get("task") == "factqa" or n.startswith("best-of-")]
    if fq and any(results[n].get("gold/factuality") is not None for n in fq):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        width = 0.8 / len(CATEGORY_KEYS)
        for j, (key, label) in enumerate(CATEGORY_KEYS):
            vals = [1 - (results[n].get(key) or 0.0) for n in fq]
            ax.bar([i + j * width for i in range(len(fq))], vals, width=width, label=label)
        ax.set_xticks([i + width for i in range(len(fq))], fq, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("error rate (1 − gold score)")
        ax.set_title("factqa: per-category error rates")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "error_rates.png", dpi=110)
        plt.close(fig)
        made.append(("error_rates.png", "factqa error rates per category (irrelevant, untruthful, incomplete)."))
    return made


SFT_KEYS = {"batch_size": "batch", "steps": "steps trained", "best_step": "best step (kept)", "best_eval_loss": "held-out loss",
            "stopped_early": "stopped before the cap", "seconds": "seconds"}
RM_KEYS = [("pairwise_accuracy", "pairwise accuracy"), ("n_pairs", "pairs"), ("kendall_tau", "Kendall τ"),
           ("f1/untruthful", "F1 untruthful"), ("f1/irrelevant", "F1 irrelevant")]
RM_GOLD_KEYS = [("gold_pairwise_accuracy", "pairwise accuracy"), ("n_gold_pairs", "pairs"),
                ("gold_kendall_tau", "Kendall τ"), ("gold_f1/untruthful", "F1 untruthful"),
                ("gold_f1/irrelevant", "F1 irrelevant"), ("gold_auc/untruthful", "AUC untruthful"),
                ("gold_auc/irrelevant", "AUC irrelevant"), ("annotator_gold_agreement", "annotator agrees with gold")]


BEFORE_DECAY_SEQUENCES = 16_000  # the constant-rate stretch before a WSD decay the report reads the loss over


def heldout_curve(metrics_csv: Path) -> list[tuple[int, float]]:
    """[(step, held-out loss)] of a run's ``metrics.csv`` (the rows that measured it; [] without the file)."""
    import csv

    if not Path(metrics_csv).is_file():
        return []
    with open(metrics_csv, newline="") as f:
        return [(int(r["step"]), float(r["eval_loss"])) for r in csv.DictReader(f) if r.get("eval_loss")]


def loss_before(curve: list[tuple[int, float]], step: int, window: int = 1000) -> dict | None:
    """The held-out loss at the last measurement at or before ``step`` and at the first at or after ``step −
    window``: how much the constant-rate stretch before a WSD decay still lowered it (None without measurements)."""
    upto = [(s, v) for s, v in curve if s <= step]
    since = [(s, v) for s, v in upto if s >= step - window]
    if not since:
        return None
    (s0, v0), (s1, v1) = since[0], upto[-1]
    return {"from_step": s0, "from_loss": v0, "to_step": s1, "to_loss": v1, "fell_by": v0 - v1}


def _sft_summary(result: dict, curve: list[tuple[int, float]] = ()) -> dict:
    """An SFT stage's steps, best step, held-out loss and early stop; a run without early stopping (it trains its
    whole schedule and keeps its last weights) reports its last step and last held-out loss as the kept ones; a WSD
    run (``lr_schedule`` wsd) also keeps its last weights, its early stop is its plateau's (``decay_start``), and
    ``curve`` (its held-out losses) gives the loss over the constant-rate steps before the decay that saw 16,000
    sequences (1,000 steps at the default batch of 16)."""
    row = {k: result.get(k) for k in SFT_KEYS}
    row["batch_size"] = row["batch_size"] or SFT_BATCH  # a stage cached before the summary carried it
    if row["best_step"] is None and row["steps"] is not None:
        row.update(best_step=row["steps"], best_eval_loss=result.get("eval_loss"),
                   stopped_early=bool(result.get("stopped_early", False)))
    if result.get("lr_schedule") == "wsd":
        row["decay_start"] = result.get("decay_start")
        if row["decay_start"] is not None and curve:
            window = BEFORE_DECAY_SEQUENCES // row["batch_size"]
            row["loss_before_decay"] = loss_before(list(curve), row["decay_start"], window)
    return row


def write_report(out: Path, cfg, budget, runs: dict, results: dict, seconds: dict, total_seconds: float,
                 skipped: dict | None = None, reward_models: dict | None = None, sft: dict | None = None) -> dict:
    """``sft``: per task, its SFT stage's result (steps used, best step and held-out loss, stopped early)."""
    claims = compute_claims(results)
    sft = {t: _sft_summary(r, heldout_curve(out / f"policy-{t}" / "model" / "metrics.csv"))
           for t, r in (sft or {}).items()}
    base = weights_fingerprint(cfg.model)  # which build of the model the stages started from (tiny: per machine)
    metrics = {"config": {"task": cfg.task, "quick": cfg.quick, "model": cfg.model, "seed": cfg.seed,
                          "model_weights": base},
               "budget": budget.__dict__, "stage_seconds": {k: round(v, 1) for k, v in seconds.items()},
               "total_seconds": round(total_seconds, 1), "pipeline_seconds": round(sum(seconds.values()), 1),
               "runs": {n: {k: v for k, v in r.items() if k not in ("curve", "examples", "gold_per_sample",
                                                                   "near_greedy/gold_per_sample")} |
                       {"steps": len(r.get("curve") or []), "seconds": round(seconds.get(f"run-{n}", 0.0), 1)}
                       for n, r in results.items()},
               "claims": claims, "skipped": skipped or {}, "reward_models": reward_models or {}, "sft": sft}
    atomic_write_json(out / "metrics.json", metrics)
    plots = _plots(out, results, runs)

    md = [f"# langrl demo report ({'quick' if cfg.quick else 'full'} budget, model `{cfg.model}`, seed {cfg.seed})", "",
          f"Reproduce: `{reproduce_command(cfg)}`. "
          f"Wall time of all stages when they ran: {sum(seconds.values()):.0f} s (this invocation: "
          f"{total_seconds:.0f} s; cached stages are not re-run). "
          + (f"Model weights on this machine: sha256 `{base['sha256'][:16]}…` ({', '.join(base['files'])}; a tiny "
             "build is the same on one machine, not across machines, so digits differ elsewhere)."
             if base else "Model weights: not found on this machine (no fingerprint)."),
          "", "## Claims (computed from the numbers below)", ""]
    for name, c in claims.items():
        verdict = {True: "**true**", False: "**false**", None: "not measured"}[c["value"]]
        md.append(f"- `{name}`: {verdict} — {EXPLAIN.get(name, '')} *Rule:* {c['rule']}.")
    md += _where_it_holds(cfg, claims["rl_beats_sft"])
    md += _rl_vs_sft(claims["rl_beats_sft"])
    for name, why in (skipped or {}).items():
        md.append(f"- run `{name}` was skipped: {why}")
    md += ["", "## Held-out evaluation", "", "Every policy answers the same held-out prompts twice: sampled at the "
           "training temperature (T=1, the distribution RL optimised; its KL to SFT is measured there) and "
           "near-greedy (T=1e-4, the most likely answer). Gold vs SFT: the paired per-prompt difference from the "
           "task's SFT policy on the same prompts ± its standard error, at each temperature.", "",
           "| run | task | " + " | ".join(h for _, h in COLUMNS) + " | gold vs SFT (T=1) | gold vs SFT (near-greedy) |",
           "|---|---|" + "---|" * (len(COLUMNS) + 2)]
    for n, r in results.items():
        task = runs.get(n, {}).get("task", "factqa")
        vs = []
        for key in ("gold_per_sample", "near_greedy/gold_per_sample"):
            d = paired_difference(results, n, f"sft-{task}", key) if not n.startswith("sft-") else {}
            vs.append(f"{d['diff']:+.3f} ± {d['diff_se']:.3f}" if d else "–")
        md.append(f"| {n} | {task} | " + " | ".join(_fmt(r.get(k)) for k, _ in COLUMNS) + f" | {' | '.join(vs)} |")
    if reward_models:
        md += ["", "## Reward models (held-out feedback, the trainer's own evaluation split)", "",
               "| reward model | " + " | ".join(h for _, h in RM_KEYS) + " |", "|---|" + "---|" * len(RM_KEYS)]
        md += [f"| {n} | " + " | ".join(_fmt(q.get(k)) for k, _ in RM_KEYS) + " |" for n, q in reward_models.items()]
        md += ["", "The same held-out responses ordered by the task's hidden gold instead of the annotator (gold ties "
               "left out; the completeness model against gold completeness; span F1 against the noiseless labels). "
               "A proxy worth optimising orders them well here:", "",
               "| reward model | " + " | ".join(h for _, h in RM_GOLD_KEYS) + " |",
               "|---|" + "---|" * len(RM_GOLD_KEYS)]
        md += [f"| {n} | " + " | ".join(_fmt(q.get(k)) for k, _ in RM_GOLD_KEYS) + " |"
               for n, q in reward_models.items()]
    if sft:
        md += ["", "## SFT starts (trained until the held-out loss stopped falling)", "",
               "Each task's SFT policy measured its loss on held-out demonstrations every few steps; with patience "
               "it stopped once the loss had not improved for several measurements in a row (keeping the best "
               "weights), without it trained its whole schedule. An RL gain over a start whose loss has stopped "
               "falling is not just more supervised training (the continued-SFT control measures that directly).",
               "",
               "| task | " + " | ".join(SFT_KEYS.values()) + " |", "|---|" + "---|" * len(SFT_KEYS)]
        md += [f"| {t} | " + " | ".join(_fmt(r[k]) for k in SFT_KEYS) + " |" for t, r in sft.items()]
        md += [f"\n{t} trained with the warm-up–stable–decay schedule: a constant rate "
               + ("until its held-out loss stopped falling" if r["stopped_early"] else "to the cap's decay")
               + f", then the decay from step {r['decay_start']} (the last weights are kept)."
               + _before_decay_text(r.get("loss_before_decay"))
               for t, r in sft.items() if r.get("decay_start") is not None]
    watched = {n: r["warnings"] for n, r in results.items() if r.get("warnings") is not None}
    if watched:
        md += ["", "## Reward-hacking watch (raised during training)", "",
               "Each online run watched its held-out gold while training and warned when, across 3 evaluations, the "
               "proxy rose while gold fell by more than 0.05, or when the response length drifted by more than 30%:",
               ""]
        for n, ws in watched.items():
            md += [f"- **{n}**: " + ("no warning" if not ws else "; ".join(ws))]
    md += ["", "## Plots", ""] + [f"![{cap}]({name})\n\n{cap}\n" for name, cap in plots]
    md += ["## Claim details", ""]
    for name, c in claims.items():
        md += [f"### {name}", "", "```", _pretty(c["numbers"]), "```", ""]
    md += ["## Stage times (s)", "", "| stage | seconds |", "|---|---|"]
    md += [f"| {k} | {v:.0f} |" for k, v in seconds.items()]
    md += ["", "## Example responses", ""]
    for n, r in results.items():
        for ex in (r.get("examples") or [])[:1]:
            md.append(f"- **{n}**: `{ex['response'].strip()[:200]}`")
    text = "\n".join(md) + "\n"
    atomic_write_text(out / "report.md", text)
    atomic_write_text(out / "report.html", _html(text, out, plots))
    return metrics


def _diff(d: dict) -> str:
    return f"{d['diff']:+.3f} ± {d['diff_se']:.3f}" if d else "–"


def _before_decay_text(d: dict | None) -> str:
    if not d:
        return ""
    change = f"fell by {d['fell_by']:.3f}" if d["fell_by"] >= 0 else f"rose by {-d['fell_by']:.3f}"
    return (f" Over the constant-rate steps {d['from_step']}–{d['to_step']} before the decay its held-out loss went "
            f"from {d['from_loss']:.3f} to {d['to_loss']:.3f} ({change}).")


def _where_it_holds(cfg, claim: dict) -> list[str]:
    """When factqa is why ``rl_beats_sft`` is false at a budget whose SFT start has not been trained past the copying
    transition (not the WSD schedule at 64 a step), the budget at which it was measured to hold."""
    factqa = (claim.get("numbers") or {}).get("factqa")
    long = cfg.factqa_sft_schedule == "wsd" and cfg.factqa_sft_batch_size >= 64
    if claim.get("value") is not False or not factqa or factqa.get("beats") or long:
        return []
    return ["", "*Where `rl_beats_sft` holds for factqa:* at this budget the factqa SFT start has not yet learnt to "
            "copy the asked item off the passage, and no RL run beats it, not even with the hidden gold as its "
            "reward (README, \"factqa with a perfect reward\"). `langrl demo --config configs/demo-factqa-long.yaml "
            f"--seed {cfg.seed}` trains the start past that transition (the corpus, warm-up-stable-decay, 64 "
            "sequences a step) and runs the same methods from it; README, \"The full preset at 64 a step\", has what "
            "it measured and its stage times."]


def _rl_vs_sft(claim: dict) -> list[str]:
    """The rl_beats_sft numbers per task: each online run and the continued-SFT control against the SFT start."""
    if not claim.get("numbers"):
        return []
    md = ["", "### RL against its SFT start, and the continued-SFT control", "",
          "Paired per-prompt gold differences ± standard error on the same held-out prompts. *beats*: the sampled "
          "difference is ≥ 2 s.e. and the near-greedy one not below −2 s.e. The control trains the SFT start further "
          "on fresh demonstrations for the same number of policy forward+backward sequences as the RL run's updates.",
          "", "| task | run | gold (T=1) | vs SFT (T=1) | vs SFT (near-greedy) | beats SFT | vs control (T=1) | "
          "vs control (near-greedy) |", "|---|---|---|---|---|---|---|---|"]
    for task, entry in claim["numbers"].items():
        for run, e in entry.items():
            if not isinstance(e, dict) or "sampled" not in e:
                continue
            vc = e.get("vs_control") or {}
            md.append(f"| {task} | {run} | {_fmt(e.get('gold'))} | {_diff(e['sampled'])} | {_diff(e['near_greedy'])} "
                      f"| {'yes' if e['beats'] else 'no'} | {_diff(vc.get('sampled') or {})} | "
                      f"{_diff(vc.get('near_greedy') or {})} |")
    return md


def _pretty(obj) -> str:
    import json

    return json.dumps(obj, indent=1, default=str)[:3000]


def _html(md: str, out: Path, plots: list[tuple[str, str]]) -> str:
    """A self-contained page: the markdown as preformatted sections, tables rendered, plots inlined as base64."""
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            name = line.rpartition("](")[2].rstrip(")")
            data = base64.b64encode((out / name).read_bytes()).decode()
            body.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(name)}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>langrl demo</title><style>{style}</style></head>" \
           f"<body>{''.join(body)}</body></html>"
