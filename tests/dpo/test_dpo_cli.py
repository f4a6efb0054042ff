import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langrl.cli import main as cli_main
from langrl.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
GOOD = [" the movie was great and i loved it.", " the movie was great.", " i loved it."]
BAD = [" the movie was bad and i hated it.", " the movie was bad.", " i hated it."]
MID = " the cat sat on the mat."


def prompts(held_out=False):
    if held_out:
        return [f"the cat {a}" for a in "abcdefgh"]
    return [f"Q: {a} + {b} = ? A:" for a in range(5) for b in range(5)]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGRL_HOME", str(tmp_path / "home"))  # reference cache goes here
    pairs = [{"prompt": p, "chosen": GOOD[i % 3], "rejected": BAD[i % 3]} for i, p in enumerate(prompts())]
    return {
        "pairs": write(tmp_path / "pairs.jsonl", pairs),
        "rankings": write(tmp_path / "rankings.jsonl", [
            {"prompt": p, "responses": [BAD[i % 3], GOOD[i % 3], MID], "ranking": [[1], [2], [0]]}
            for i, p in enumerate(prompts())]),
        "ratings": write(tmp_path / "ratings.jsonl", [
            {"prompt": p, "response": (GOOD if i % 2 else BAD)[i % 3], "rating": bool(i % 2)}
            for i, p in enumerate(prompts() * 2)]),
        "held_out": write(tmp_path / "held_out.jsonl", [
            {"prompt": p, "chosen": GOOD[i % 3], "rejected": BAD[i % 3]} for i, p in enumerate(prompts(True))]),
    }


def train(model_dir, data, out, *extra, steps=6):
    argv = ["dpo", "--policy", str(model_dir), "--data", str(data), "--out", str(out), "--max-steps", str(steps),
            "--batch-size", "8", "--micro-batch-size", "8", "--learning-rate", "3e-3", "--warmup-steps", "1",
            "--eval-fraction", "0", *extra]
    return cli_main([*argv, "--json"])


def summary_of(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def metric(out, name):
    with open(Path(out) / "metrics.csv") as f:
        return [float(r[name]) for r in csv.DictReader(f) if r[name] != ""]


LOSS_DATA = {"dpo": "pairs", "ipo": "pairs", "cdpo": "pairs", "pl": "rankings", "kto": "ratings"}


@pytest.mark.parametrize("loss", list(LOSS_DATA))
def test_each_loss_learns_an_obvious_preference_from_the_cli(toy_model_dir, files, tmp_path, capsys, loss):
    from transformers import AutoModelForCausalLM

    out = tmp_path / loss
    assert train(toy_model_dir, files[LOSS_DATA[loss]], out, "--loss", loss, steps=15) == 0
    summary = summary_of(capsys)
    assert summary["loss"] == loss and summary["accuracy"] > 0.9
    before = AutoModelForCausalLM.from_pretrained(toy_model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    assert all(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))  # weights moved
    # DPO recovers a reward: the implicit reward ranks unseen pairs (new prompts) correctly
    assert cli_main(["dpo", "reward", "--policy", str(out), "--data", str(files["held_out"]), "--json"]) == 0
    rewards = summary_of(capsys)
    assert rewards["ref"] == str(toy_model_dir) and rewards["ref_cache"] == "miss"
    assert rewards["pairs"] == 8 and rewards["pairwise_accuracy"] > 0.9
    assert len(rewards["rewards"]) == 8 and all(len(r) == 2 for r in rewards["rewards"])


def test_reference_pass_is_cached_and_resume_is_exact(toy_model_dir, files, tmp_path, capsys):
    assert train(toy_model_dir, files["pairs"], tmp_path / "straight") == 0
    assert summary_of(capsys)["ref_cache"] == "miss"
    assert train(toy_model_dir, files["pairs"], tmp_path / "half", "--stop-at", "3") == 0
    assert summary_of(capsys)["ref_cache"] == "hit"  # same model + data + tokenizer: no reference pass
    assert len(metric(tmp_path / "half", "loss")) == 3
    assert train(toy_model_dir, files["pairs"], tmp_path / "half", "--resume", str(tmp_path / "half")) == 0
    assert summary_of(capsys)["ref_cache"] == "hit"
    for name in ("loss", "accuracy", "margin"):
        assert metric(tmp_path / "half", name) == pytest.approx(metric(tmp_path / "straight", name), rel=1e-5)
    # another loss shape scores other rows (KTO's mismatched pairs, another order): a miss
    assert train(toy_model_dir, files["pairs"], tmp_path / "kto", "--loss", "kto") == 0
    assert summary_of(capsys)["ref_cache"] == "miss"


def test_lora_reference_is_the_base_with_adapters_disabled(toy_model_dir, files, tmp_path, capsys, monkeypatch):
    import langrl.models.specs as specs

    loads = []
    real = specs.load_causal_lm
    monkeypatch.setattr(specs, "load_causal_lm", lambda *a, **k: loads.append(a) or real(*a, **k))
    out = tmp_path / "lora"
    assert train(toy_model_dir, files["pairs"], out, "--lora-r", "4", "--learning-rate", "2e-2",
                 "--eval-fraction", "0.25") == 0
    summary = summary_of(capsys)
    assert len(loads) == 1  # the policy only: the reference pass and eval KL ran the base with adapters disabled
    assert summary["accuracy"] > 0.9 and summary["eval_kl"] > 0
    assert (out / "adapter" / "adapter_config.json").is_file()


def test_held_out_metrics_and_reference_free(toy_model_dir, files, tmp_path, capsys):
    assert train(toy_model_dir, files["pairs"], tmp_path / "a", "--eval-fraction", "0.25") == 0
    s = summary_of(capsys)
    assert s["eval_units"] == 6 and 0 <= s["eval_accuracy"] <= 1 and s["eval_kl"] > 0
    for name in ("chosen_rewards", "rejected_rewards", "margin", "accuracy", "eval_kl"):
        assert len(metric(tmp_path / "a", name)) >= 1
    assert train(toy_model_dir, files["pairs"], tmp_path / "b", "--reference-free") == 0
    assert summary_of(capsys)["ref_cache"] == "off (reference-free)"


def test_too_long_records_are_reported_then_skipped_or_truncated(toy_model_dir, files, tmp_path, capsys):
    long = write(tmp_path / "long.jsonl", [{"prompt": "a b c d e f g h i j k l m n o p " * 6, "chosen": " x",
                                            "rejected": " y"}] + [json.loads(x) for x in open(files["pairs"])])
    assert train(toy_model_dir, long, tmp_path / "skip", "--max-length", "48") == 0
    captured = capsys.readouterr()
    s = json.loads(captured.out.strip().splitlines()[-1])
    assert s["too_long_skipped"] == 1 and s["train_units"] == 25
    assert "record 1" in captured.err and "--truncate" in captured.err
    assert train(toy_model_dir, long, tmp_path / "cut", "--max-length", "48", "--truncate") == 0
    s = summary_of(capsys)
    assert s["truncated"] == 1 and s["train_units"] == 26


@pytest.mark.parametrize("content,expected", [
    ('{"prompt": "a", "chosen": "b", "rejected": "c"}\nnot json\n', "bad.jsonl:2: "),
    ('{"prompt": "a", "chosen": "", "rejected": "c"}\n', "bad.jsonl:1: field 'chosen': expected a non-empty string"),
    ('{"prompt": 3, "chosen": "b", "rejected": "c"}\n', "bad.jsonl:1: field 'prompt'"),
    ('{"prompt": "a", "response": "b", "rating": true}\n', "bad.jsonl: no training units for --loss dpo"),
])
def test_bad_input_is_one_clear_line(toy_model_dir, tmp_path, capsys, content, expected):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    code = cli_main(["dpo", "--policy", str(toy_model_dir), "--data", str(data), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv,expected", [
    (["--data", "d.jsonl", "--loss", "orpo"], "expected one of dpo, cdpo, ipo, pl, kto"),
    (["--data", "d.jsonl", "--loss", "ipo", "--rpo-alpha", "1"], "only for --loss dpo or cdpo"),
    (["--data", "d.jsonl", "--loss", "kto", "--reference-free"], "--reference-free is for --loss dpo, cdpo or ipo"),
    (["--data", "d.jsonl", "--batch-size", "6", "--micro-batch-size", "4"], "must be a multiple of micro_batch_size"),
    (["--data", "d.jsonl", "--label-smoothing", "0.5"], "field 'label_smoothing': expected a number in (0, 0.5)"),
    (["--loss", "dpo"], "--data FILE is required"),
    (["reward", "--data", "d.jsonl"], "--policy DIR and --data FILE are required"),
])
def test_bad_options_are_refused_at_parse_time(capsys, argv, expected):
    assert cli_main(["dpo", *argv]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.slow  # two torchrun processes: ~20-40 s on 2 shared cores
def test_label_smoothing_zero_is_refused_only_for_cdpo():
    """label_smoothing is cDPO's alone: 0 (no flipped labels) is plain DPO, refused for --loss cdpo, fine otherwise."""
    from langrl.train.dpo.loop import DPOConfig

    DPOConfig(loss="dpo", data="d.jsonl", label_smoothing=0.0).validate()  # old code: refused
    DPOConfig(loss="kto", data="d.jsonl", label_smoothing=0.0).validate()
    with pytest.raises(InputError, match="label_smoothing"):
        DPOConfig(loss="cdpo", data="d.jsonl", label_smoothing=0.0).validate()


def test_two_process_data_parallel_matches_one_process(toy_model_dir, files, tmp_path):
    common = ["--loss", "kto", "--policy", str(toy_model_dir), "--data", str(files["ratings"]), "--max-steps", "3",
              "--batch-size", "8", "--micro-batch-size", "2", "--eval-fraction", "0.2", "--warmup-steps", "1",
              "--learning-rate", "3e-3"]
    env = {"PYTHONPATH": str(ROOT / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
           "LANGRL_HOME": str(tmp_path / "home")}
    one = subprocess.run([sys.executable, "-m", "langrl.cli", "dpo", *common, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29541", "-m", "langrl.cli", "dpo", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    # same global batch (8) split over 2 ranks x 2 micro-batches of 2; KTO's z0 is all-reduced over ranks
    # (KTO's chosen/rejected rewards are means over the desirable/undesirable responses of each micro-batch, so as
    # logged they depend on the split; the loss, z0 and gradient do not)
    for name in ("loss", "kl", "grad_norm", "eval_loss", "eval_kl"):
        assert metric(tmp_path / "two", name) == pytest.approx(metric(tmp_path / "one", name), rel=1e-4, abs=1e-7)
    # (accuracy at step 1 compares log-ratios that are 0 up to round-off, so only later steps are comparable)
    assert metric(tmp_path / "two", "accuracy")[1:] == metric(tmp_path / "one", "accuracy")[1:]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("dpo-*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_parse(path):
    from langrl.config import parse_config
    from langrl.train.dpo.loop import DPOConfig

    cfg, _ = parse_config(DPOConfig, ["--config", str(path)])
    assert cfg.loss in path.name or cfg.loss == "dpo"
