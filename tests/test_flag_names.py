"""One flag vocabulary: --model everywhere (the fields policy/base kept as aliases), TRL spellings accepted with a note,
YAML keys the same, did-you-mean over every accepted name, and --help grouped by section, most used first."""
from __future__ import annotations

import dataclasses
import re

import pytest

from langrl.cli import main
from langrl.commands.sample import SampleConfig
from langrl.config import arg, help_text, parse_config
from langrl.errors import InputError
from langrl.train.dpo.loop import DPOConfig
from langrl.train.rl.config import RLConfig
from langrl.train.rm.loop import RMConfig


@pytest.mark.parametrize("cls,field", [(RLConfig, "policy"), (DPOConfig, "policy"), (RMConfig, "base"),
                                       (SampleConfig, "model")])
def test_model_is_one_flag_in_every_command(cls, field):
    need = [] if cls in (RLConfig, SampleConfig) else ["--data", "f.jsonl"]
    for flag in ("--model", "--model_name_or_path", f"--{field}"):
        cfg, _ = parse_config(cls, [flag, "smollm2", *need])
        assert getattr(cfg, field) == "smollm2"


def test_trl_spellings_map_to_langrl_fields_with_a_note(capsys):
    cfg, _ = parse_config(RLConfig, ["--algo", "grpo", "--num_generations", "8", "--beta", "0.02",
                                         "--per_device_train_batch_size", "4", "--learning_rate", "3e-6",
                                         "--max_completion_length", "24", "--output_dir", "runs/x"], prog="langrl rl")
    assert (cfg.samples_per_prompt, cfg.kl_coef, cfg.micro_batch_size, cfg.learning_rate, cfg.max_new_tokens,
            cfg.out) == (8, 0.02, 4, 3e-6, 24, "runs/x")
    err = capsys.readouterr().err
    assert "note: langrl rl: --num-generations is TRL's name; langrl calls it --samples-per-prompt" in err
    assert "--beta is TRL's name; langrl calls it --kl-coef" in err
    assert "learning" not in err  # --learning_rate is langrl's own name (with _ for -): no note
    cfg, _ = parse_config(DPOConfig, ["--beta", "0.3", "--loss_type", "ipo", "--data", "f.jsonl"])  # dpo's own beta wins over the alias
    assert (cfg.beta, cfg.loss) == (0.3, "ipo")
    cfg, _ = parse_config(SampleConfig, ["--n", "3"])
    assert cfg.n == 3 and parse_config(SampleConfig, ["--samples-per-prompt", "2"])[0].n == 2


def test_yaml_keys_accept_the_same_names(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("model: smollm2\nnum_generations: 6\nalgo: grpo\n")
    cfg, _ = parse_config(RLConfig, ["--config", str(y)])
    assert (cfg.policy, cfg.samples_per_prompt) == ("smollm2", 6)
    y.write_text("modle: smollm2\n")
    with pytest.raises(InputError, match=r"unknown key 'modle' \(did you mean model\?\)"):
        parse_config(RLConfig, ["--config", str(y)])


def test_did_you_mean_covers_aliases(capsys):
    assert main(["dpo", "--modle", "tiny"]) == 2
    assert "unknown key '--modle' (did you mean --model?)" in capsys.readouterr().err
    assert main(["rl", "--num-generation", "4"]) == 2
    assert "(did you mean --num-generations?)" in capsys.readouterr().err


SECTIONS = ["model", "data", "sampling", "reward", "algorithm", "KL", "optimisation", "logging", "checkpointing"]


def test_help_is_grouped_by_section_most_used_first():
    text = help_text(RLConfig, "langrl rl")
    headers = [line[:-1] for line in text.splitlines() if re.fullmatch(r"[A-Za-z ]+:", line)]
    assert headers[:len(SECTIONS)] == SECTIONS and headers[-1] == "other"
    flags = re.findall(r"^  (--[a-z-]+) ", text, flags=re.M)
    names = [f.name for f in dataclasses.fields(RLConfig)]
    # every field once (policy shown as --model), plus --config/--split/--column/--report-to/--json/--debug
    assert len(flags) == len(names) + 6 and len(set(flags)) == len(flags)
    assert flags[-6:] == ["--config", "--split", "--column", "--report-to", "--json", "--debug"]
    section = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Za-z ]+:", line):
            current = line[:-1]
        elif m := re.match(r"^  (--[a-z-]+) ", line):
            section.setdefault(current, []).append(m.group(1))
    assert section["model"][0] == "--model" and section["data"][0] == "--prompts"
    assert section["sampling"][:2] == ["--samples-per-prompt", "--max-new-tokens"]
    assert section["KL"][0] == "--kl-coef" and section["optimisation"][:2] == ["--max-steps", "--learning-rate"]
    assert section["checkpointing"][0] == "--out"
    assert "[also --policy, --model-name-or-path (TRL)" in text


def test_arg_aliases_and_group_metadata():
    @dataclasses.dataclass
    class C:
        steps: int = arg(1, "steps", aliases=("iters",), group="budget")
        model: str = arg("tiny", "model")

    cfg, _ = parse_config(C, ["--iters", "5"])
    assert cfg.steps == 5
    text = help_text(C, "x")
    assert text.index("model:") < text.index("budget:") and "[also --iters]" in text
