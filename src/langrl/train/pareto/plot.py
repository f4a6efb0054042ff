"""``front.png``: the sweep's and the soups' points on the first two axes, each front's non-dominated set joined."""
from __future__ import annotations

from pathlib import Path


def plot_fronts(path: Path, report: dict, space: str = "gold") -> None:
    """Scatter every sweep policy (circles) and soup (squares) on the first two axes of ``space`` ("gold" or
    "objectives"), join each non-dominated set, label each point with its weights; hypervolumes in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    axes = None
    for kind, marker, colour in (("sweep", "o", "tab:blue"), ("soups", "s", "tab:orange"),
                                 ("conditioned", "^", "tab:green")):
        front = report["fronts"].get(kind, {}).get(space)
        if not front:
            continue
        axes = front["axes"]
        pts = front["points"]
        xs, ys = [p[0] for p in pts.values()], [p[1] for p in pts.values()]
        ax.scatter(xs, ys, marker=marker, color=colour, s=36,
                   label=f"{kind}: hypervolume {front['hypervolume']:.3f}")
        for name, p in pts.items():
            ax.annotate(name.split("-", 1)[1], (p[0], p[1]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=colour)
        nd = sorted((pts[n] for n in front["non_dominated"]), key=lambda p: p[0])
        if len(nd) > 1:
            ax.plot([p[0] for p in nd], [p[1] for p in nd], color=colour, lw=1, alpha=0.7)
    start = report.get("start", {}).get(space if space == "gold" else "objectives", {})
    if axes and all(a in start for a in axes[:2]):
        ax.scatter([start[axes[0]]], [start[axes[1]]], marker="*", color="black", s=80, label="start (SFT)")
    if axes:
        ax.set_xlabel(f"{space}: {axes[0]}")
        ax.set_ylabel(f"{space}: {axes[1] if len(axes) > 1 else ''}")
    ref = report.get("reference")
    ax.set_title(f"Pareto fronts (held-out, {report.get('eval_num')} prompts; reference {ref})", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)  # atomic: a reader never sees half a PNG
