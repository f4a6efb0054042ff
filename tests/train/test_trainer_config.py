"""The shared trainer section (``train/config.py``) and the shared set-up (``train/setup.py``) of the five trainers."""
import ast
import dataclasses
from pathlib import Path

import pytest

from langrl.config import help_text, parse_config
from langrl.errors import InputError
from langrl.train.agent.config import AgentSFTConfig, AgentTrainConfig
from langrl.train.config import TrainerConfig
from langrl.train.dpo.loop import DPOConfig
from langrl.train.rl.config import RLConfig
from langrl.train.rm.loop import RMConfig
from langrl.train.sft import SFTConfig

CONFIGS = {"sft": SFTConfig, "rm train": RMConfig, "dpo": DPOConfig, "rl": RLConfig, "agent sft": AgentSFTConfig,
           "agent train": AgentTrainConfig}
SHARED = [f.name for f in dataclasses.fields(TrainerConfig)]
TRAIN = Path(__file__).resolve().parents[2] / "src" / "langrl" / "train"


@pytest.mark.parametrize("prog", list(CONFIGS))
def test_every_trainer_config_embeds_the_shared_section_with_its_flags(prog):
    cls = CONFIGS[prog]
    assert issubclass(cls, TrainerConfig)
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[:len(SHARED)] == SHARED  # declared once, in one order for every command
    argv = ["--save-every", "2", "--stop-at", "3", "--grad-clip", "0.5", "--warmup-steps", "1",
            "--micro-batch-size", "2", "--weight-decay", "0.01", "--learning-rate", "2e-4", "--seed", "7",
            "--max-steps", "4", "--overwrite", "--out", "o"]
    if prog in ("dpo", "rm train"):
        argv += ["--data", "d.jsonl"]
    if prog in ("sft", "dpo", "rm train", "agent sft"):
        argv += ["--batch-size", "4"]
    if prog == "rl":
        argv += ["--prompts-per-step", "2"]
    if prog == "agent train":
        argv += ["--episodes-per-step", "4"]
    cfg, _ = parse_config(cls, argv, prog=prog)
    assert (cfg.save_every, cfg.stop_at, cfg.grad_clip, cfg.warmup_steps, cfg.micro_batch_size, cfg.weight_decay,
            cfg.learning_rate, cfg.seed, cfg.max_steps, cfg.overwrite, cfg.out) == (
        2, 3, 0.5, 1, 2, 0.01, 2e-4, 7, 4, True, "o")
    text = help_text(cls, prog)
    for name in SHARED:
        assert f"--{name.replace('_', '-')} " in text


def test_each_command_keeps_its_own_defaults():
    # the values each command had before the section was shared (old code: repeated in each config)
    want = {"sft": ("runs/sft", 100, 1e-3, 10), "rm train": ("runs/rm", 0, 1e-4, 5), "dpo": ("runs/dpo", 100, 1e-4, 10),
            "rl": ("runs/rl", 100, 1e-5, 0), "agent sft": ("runs/agent-sft", 150, 1e-3, 10),
            "agent train": ("runs/agent", 50, 1e-4, 0)}
    for prog, cls in CONFIGS.items():
        c = cls()
        assert (c.out, c.max_steps, c.learning_rate, c.warmup_steps) == want[prog], prog
        assert (c.seed, c.micro_batch_size, c.weight_decay, c.grad_clip, c.save_every, c.stop_at, c.resume,
                c.overwrite) == (0, 16, 0.0, 1.0, 0, 0, None, False), prog
    # one doc per field, unless the command's meaning is narrower (rl: a step is an iteration)
    doc = {f.name: f.metadata["doc"] for f in dataclasses.fields(TrainerConfig)}
    sft = {f.name: f.metadata["doc"] for f in dataclasses.fields(SFTConfig)}
    rl = {f.name: f.metadata["doc"] for f in dataclasses.fields(RLConfig)}
    assert all(sft[n] == doc[n] for n in SHARED)
    assert rl["max_steps"].startswith("iterations") and rl["grad_clip"] == doc["grad_clip"]


def test_a_default_for_a_field_the_section_lacks_is_a_programming_error():
    with pytest.raises(TypeError, match="'lerning_rate' is not a TrainerConfig field"):
        @dataclasses.dataclass
        class Bad(TrainerConfig, defaults={"lerning_rate": 1e-3}):
            pass


@pytest.mark.parametrize("flag,value", [("--warmup-steps", "-1"), ("--grad-clip", "-0.5"), ("--save-every", "-2"),
                                        ("--stop-at", "-1"), ("--weight-decay", "-0.1"), ("--micro-batch-size", "0")])
@pytest.mark.parametrize("prog", ["sft", "rl", "agent train"])
def test_bad_shared_values_are_refused_at_parse_time(prog, flag, value):
    """Old code accepted a negative warm-up, clip or checkpoint interval in some commands and ran with it."""
    with pytest.raises(InputError, match=f"field '{flag[2:].replace('-', '_')}': expected >= "):
        parse_config(CONFIGS[prog], [flag, value], prog=prog)


def test_agent_sft_passes_the_whole_section_to_sft(monkeypatch, tmp_path):
    """agent sft had no --save-every / --grad-clip / --weight-decay (old code: unknown key)."""
    import langrl.train.sft as sft

    seen = {}

    def fake_run_sft(cfg, quiet=False):
        seen.update(dataclasses.asdict(cfg))
        raise SystemExit(0)

    monkeypatch.setattr(sft, "run_sft", fake_run_sft)
    from langrl.train.agent.sft import run_agent_sft

    cfg, _ = parse_config(AgentSFTConfig, ["--games", "2", "--save-every", "5", "--grad-clip", "0.3",
                                           "--weight-decay", "0.02", "--out", str(tmp_path / "o")], prog="agent sft")
    with pytest.raises(SystemExit):
        run_agent_sft(cfg, quiet=True)
    assert {k: seen[k] for k in ("save_every", "grad_clip", "weight_decay")} == {"save_every": 5, "grad_clip": 0.3,
                                                                               "weight_decay": 0.02}


def _calls(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


@pytest.mark.parametrize("loop", ["sft.py", "dpo/loop.py", "rm/loop.py", "rl/loop.py", "agent/loop.py"])
def test_every_trainer_builds_its_optimizer_and_checkpoints_through_the_shared_set_up(loop):
    """Old code: sft, dpo and rm each called make_optimizer/AdamW, make_scheduler, save_checkpoint and begin_run."""
    calls = _calls(TRAIN / loop)
    assert not calls & {"AdamW", "make_optimizer", "make_scheduler", "save_checkpoint", "begin_run", "restore_state",
                        "MetricsLogger"}, loop
    assert "make_optimizer_and_schedule" in calls and "open_run" in calls and "save" in calls


def test_rl_config_and_loop_keep_their_earlier_names_as_aliases():
    from langrl.train.rl.config import OnlineConfig, RLConfig
    from langrl.train.rl.loop import run_online, run_rl

    assert OnlineConfig is RLConfig and run_online is run_rl
