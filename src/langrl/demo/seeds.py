"""The README's seeds table: ``langrl demo --seed S`` for several seeds, summarised in markdown (``scripts/demo-seeds``).

Three tables from the seeds' ``metrics.json``: per run, held-out gold ± s.e. sampled at the training temperature and
near-greedy, and KL to SFT, one column per seed; each claim's verdict per seed; each stage's seconds per seed, with the
wall time of the invocation that ran them, and the model weights each seed started from (its fingerprint).
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def _pm(mean, se) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.3f} ± {se:.3f}" if isinstance(se, (int, float)) and not math.isnan(se) else f"{mean:.3f}"


def _num(v, fmt=".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def seeds_table(metrics: dict[int, dict]) -> str:
    """Markdown for ``{seed: metrics.json content}``."""
    seeds = sorted(metrics)
    head = "| " + " | ".join(f"seed {s}" for s in seeds) + " |"
    rule = "|---" * len(seeds) + "|"
    runs = list(dict.fromkeys(r for s in seeds for r in metrics[s]["runs"]))
    md = ["Held-out gold ± standard error, sampled at T = 1 / near-greedy (T = 1e-4), and KL to SFT (nats/seq):", "",
          "| run " + head, "|---" + rule]
    for r in runs:
        cells = []
        for s in seeds:
            m = metrics[s]["runs"].get(r)
            cells.append("–" if m is None else f"{_pm(m.get('gold/gold'), m.get('gold_se'))} / "
                         f"{_pm(m.get('near_greedy/gold/gold'), m.get('near_greedy/gold_se'))} / KL {_num(m.get('kl'))}")
        md.append(f"| {r} | " + " | ".join(cells) + " |")
    claims = list(dict.fromkeys(c for s in seeds for c in metrics[s]["claims"]))
    md += ["", "| claim " + head, "|---" + rule]
    verdict = {True: "**true**", False: "false", None: "not measured"}
    md += [f"| `{c}` | " + " | ".join(verdict[metrics[s]["claims"].get(c, {}).get("value")] for s in seeds) + " |"
           for c in claims]
    stages = list(dict.fromkeys(k for s in seeds for k in metrics[s]["stage_seconds"]))
    md += ["", "| stage (s) " + head, "|---" + rule]
    md += [f"| {k} | " + " | ".join(_num(metrics[s]["stage_seconds"].get(k), ".0f") for s in seeds) + " |"
           for k in stages]
    md.append("| **all stages** | " + " | ".join(_num(metrics[s]["pipeline_seconds"], ".0f") for s in seeds) + " |")
    md.append("| **wall (that invocation)** | " + " | ".join(_num(metrics[s]["total_seconds"], ".0f")
                                                          for s in seeds) + " |")
    weights = [(metrics[s].get("config", {}).get("model_weights") or {}).get("sha256") for s in seeds]
    md.append("| model weights (sha256) | " + " | ".join(f"`{w[:12]}…`" if w else "–" for w in weights) + " |")
    return "\n".join(md) + "\n"


def read_seeds(out: Path, seeds: list[int]) -> dict[int, dict]:
    return {s: json.loads((Path(out) / f"seed-{s}" / "metrics.json").read_text()) for s in seeds}
