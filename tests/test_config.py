from dataclasses import dataclass

import pytest

from langrl.config import arg, from_dict, help_text, parse_config
from langrl.errors import InputError


@dataclass
class Cfg:
    model: str = arg("tiny", "model spec")
    max_steps: int = arg(10, "steps")
    learning_rate: float = arg(1e-3, "peak learning rate")
    lora: bool = arg(False, "use LoRA")
    reward: list[str] = arg([], "reward specs")
    resume: str | None = arg(None, "resume dir")
    algo: str = arg("ppo", "algorithm", choices=("ppo", "grpo"))


def test_flags_override_yaml(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("max_steps: 5\nlearning-rate: 0.5\nreward: [a, b]\n")
    cfg, flags = parse_config(Cfg, ["--config", str(y), "--max-steps", "7", "--lora", "--json"])
    assert (cfg.max_steps, cfg.learning_rate, cfg.lora, cfg.reward) == (7, 0.5, True, ["a", "b"])
    assert flags["json"] is True


def test_repeated_list_flag_and_negation():
    cfg, _ = parse_config(Cfg, ["--reward", "bleu", "--reward", "vader:weight=2", "--no-lora", "--resume", "none"])
    assert cfg.reward == ["bleu", "vader:weight=2"] and cfg.lora is False and cfg.resume is None


def test_defaults_are_fresh_per_instance():
    a, b = Cfg(), Cfg()
    a.reward.append("x")
    assert b.reward == []


@pytest.mark.parametrize("argv,msg", [
    (["--max-stepz", "3"], "unknown key '--max-stepz' (did you mean --max-steps?)"),
    (["--max-steps", "three"], "field 'max_steps': expected int, got 'three'"),
    (["--lora", "maybe"], "expected true or false"),
    (["--algo", "dqn"], "expected one of ppo, grpo"),
    (["positional"], "unexpected argument"),
])
def test_bad_flags_are_clear(argv, msg):
    with pytest.raises(InputError, match=None) as e:
        parse_config(Cfg, argv)
    assert msg in str(e.value)


def test_unknown_yaml_key_lists_valid_keys(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("max_step: 5\n")
    with pytest.raises(InputError) as e:
        parse_config(Cfg, ["--config", str(y)])
    assert "unknown key 'max_step'" in str(e.value) and "max_steps" in str(e.value) and str(y) in str(e.value)


def test_bad_yaml_names_file_and_line(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(InputError) as e:
        parse_config(Cfg, ["--config", str(y)])
    assert f"{y}:" in str(e.value)


def test_help_lists_every_field_with_doc_and_default():
    text = help_text(Cfg, "prog")
    for flag, doc in [("--max-steps", "steps"), ("--learning-rate", "peak learning rate"), ("--reward", "reward specs")]:
        assert flag in text and doc in text
    assert "(default: 0.001)" in text


def test_from_dict_converts_types():
    cfg = from_dict(Cfg, {"max_steps": "4", "learning_rate": "1e-4", "lora": "true"})
    assert cfg.max_steps == 4 and cfg.learning_rate == 1e-4 and cfg.lora is True
