"""``front.png``: the sweep's and the soups' points on the first two axes, each front's non-dominated set joined."""
from __future__ import annotations

from pathlib import Path


def point_labels(points: dict) -> list[tuple[tuple[float, float], str]]:
    """One label per distinct position on the first two axes: the weights of every policy there, comma-joined (a
    conditioned policy answers several w with the same behaviour; their labels would print over each other).
    ``{"cond-1-0": [0.9, 0.6], "cond-0.75-0.25": [0.9, 0.6], "cond-0-1": [0.6, 0.99]}`` →
    ``[((0.9, 0.6), "1-0, 0.75-0.25"), ((0.6, 0.99), "0-1")]`` (first-seen order)."""
    at: dict[tuple[float, float], list[str]] = {}
    for name, p in points.items():
        at.setdefault((round(float(p[0]), 6), round(float(p[1]), 6)), []).append(name.split("-", 1)[1])
    return [(xy, ", ".join(names)) for xy, names in at.items()]


def plot_fronts(path: Path, report: dict, space: str = "gold") -> None:
    """Scatter every sweep policy (circles) and soup (squares) on the first two axes of ``space`` ("gold" or
    "objectives"), join each non-dominated set, label each point with its weights; hypervolumes in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    axes = None
    for kind, marker, colour, offset in (("sweep", "o", "tab:blue", (4, 4)), ("soups", "s", "tab:orange", (4, -10)),
                                         ("conditioned", "^", "tab:green", (4, 4))):
        front = report["fronts"].get(kind, {}).get(space)
        if not front:
            continue
        axes = front["axes"]
        pts = front["points"]
        xs, ys = [p[0] for p in pts.values()], [p[1] for p in pts.values()]
        ax.scatter(xs, ys, marker=marker, color=colour, s=36,
                   label=f"{kind}: hypervolume {front['hypervolume']:.3f}")
        for (x, y), text in point_labels(pts):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=offset, fontsize=7, color=colour)
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
