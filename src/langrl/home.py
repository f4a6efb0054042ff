"""Where langrl keeps what it builds and caches: ``$LANGRL_HOME`` (default ``~/.cache/langrl``).

Subdirectories: ``models/`` (the built ``tiny`` model, converted GGUF files), ``ref_logps/`` (DPO reference caches),
``agent_data/`` (walkthrough SFT data), ``textworld/`` (generated games).
"""
from __future__ import annotations

import os
from pathlib import Path


def langrl_home() -> Path:
    """``$LANGRL_HOME`` or ``~/.cache/langrl``."""
    return Path(os.environ.get("LANGRL_HOME") or Path.home() / ".cache" / "langrl")
