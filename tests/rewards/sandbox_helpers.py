"""Shared by the sandbox tests: which processes still carry a check's marker (none may outlive its check)."""
from __future__ import annotations

import psutil


def leftovers(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains ``marker``."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in (p.info["cmdline"] or [])):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out
