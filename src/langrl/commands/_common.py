"""Small helpers shared by the subcommands: printing summaries."""
from __future__ import annotations

import json

from langrl import distributed as dist


def finish(summary: dict, as_json: bool, title: str) -> int:
    """Print a short human summary (or one JSON object with ``--json``) on rank 0."""
    if not dist.is_main_process():
        return 0
    if as_json:
        print(json.dumps(summary, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for k, v in summary.items():
        table.add_row(str(k), f"{v:.4g}" if isinstance(v, float) else str(v))
    Console().print(table)
    return 0
