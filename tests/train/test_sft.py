import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langrl.cli import main as cli_main
from langrl.config import from_dict
from langrl.train.sft import SFTConfig, run_sft

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def sft_data(tmp_path):
    path = tmp_path / "sft.jsonl"
    rows = [{"prompt": f"Q: {a} + {b} = ? A:", "completion": f" {a + b}"} for a in range(6) for b in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cfg_for(model_dir, data, out, **kw):
    base = dict(model=str(model_dir), data=str(data), out=str(out), max_steps=6, batch_size=8, micro_batch_size=8,
                learning_rate=3e-3, warmup_steps=1, eval_fraction=0.0, eval_every=0, seed=0)
    base.update(kw)
    return from_dict(SFTConfig, base)


def losses(out):
    with open(Path(out) / "metrics.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_sft_trains_moves_weights_and_writes_loadable_dir(toy_model_dir, sft_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "run"
    summary = run_sft(cfg_for(toy_model_dir, sft_data, out, max_steps=20, eval_fraction=0.1), quiet=True)
    ls = losses(out)
    assert len(ls) == 20 and ls[-1] < ls[0]
    assert summary["eval_loss"] is not None
    before = AutoModelForCausalLM.from_pretrained(toy_model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    AutoTokenizer.from_pretrained(out)
    changed = [not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters())]
    assert all(changed)  # every parameter moved
    assert (out / "langrl_config.yaml").is_file() and (out / "langrl_state.pt").is_file()


def test_grad_accumulation_matches_big_batch(toy_model_dir, sft_data, tmp_path):
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "a"), quiet=True)
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", micro_batch_size=2), quiet=True)
    assert losses(tmp_path / "a") == pytest.approx(losses(tmp_path / "b"), rel=1e-4)


def test_resume_is_exact(toy_model_dir, sft_data, tmp_path):
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "straight", max_steps=8), quiet=True)
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "half", max_steps=8, stop_at=4), quiet=True)
    assert len(losses(tmp_path / "half")) == 4
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "half", max_steps=8, resume=str(tmp_path / "half")), quiet=True)
    assert losses(tmp_path / "half") == pytest.approx(losses(tmp_path / "straight"), rel=1e-5)


def test_lora_sft_trains_and_merges(toy_model_dir, sft_data, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    run_sft(cfg_for(toy_model_dir, sft_data, out, lora_r=4, max_steps=4), quiet=True)
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(toy_model_dir)
    assert not torch.equal(merged.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)


@pytest.mark.parametrize("content,expected", [
    ('{"prompt": "a", "completion": "b"}\nnot json\n', "sft.jsonl:2: invalid JSON"),
    ('{"prompt": "a", "completion": ""}\n', "sft.jsonl:1: field 'completion': expected a non-empty string"),
    ('{"prompt": 3, "completion": "x"}\n', "sft.jsonl:1: field 'prompt': expected a string"),
    ('{"foo": 1}\n', "sft.jsonl:1: expected fields prompt+completion, text, or messages"),
])
def test_bad_input_is_one_clear_line(toy_model_dir, tmp_path, capsys, content, expected):
    data = tmp_path / "sft.jsonl"
    data.write_text(content)
    code = cli_main(["sft", "--model", str(toy_model_dir), "--data", str(data), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_unknown_key_and_missing_file(tmp_path, capsys):
    assert cli_main(["sft", "--max-stepz", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key '--max-stepz'" in err and "--max-steps" in err
    assert cli_main(["sft", "--data", str(tmp_path / "nope.jsonl"), "--model", "nonexistent-spec"]) == 2
    assert "unknown model spec 'nonexistent-spec'" in capsys.readouterr().err


def test_existing_out_is_not_overwritten(toy_model_dir, sft_data, tmp_path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    assert cli_main(["sft", "--model", str(toy_model_dir), "--data", str(sft_data), "--out", str(out)]) == 2
    assert (out / "precious.txt").read_text() == "x"


def test_two_process_data_parallel_matches_one_process(toy_model_dir, sft_data, tmp_path):
    common = ["--model", str(toy_model_dir), "--data", str(sft_data), "--max-steps", "4", "--batch-size", "8",
              "--micro-batch-size", "4", "--eval-fraction", "0", "--warmup-steps", "1", "--learning-rate", "3e-3"]
    env = {"PYTHONPATH": str(ROOT / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    one = subprocess.run([sys.executable, "-m", "langrl.cli", "sft", *common, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29531", "-m", "langrl.cli", "sft", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    # same global batch (8) split over 2 ranks × 4: identical loss curve up to float round-off in the all-reduce
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-4)


def test_task_corpus_source_splits_documents_at_the_answer():
    from langrl.errors import InputError
    from langrl.tasks import get_task
    from langrl.train.data import sft_records

    recs = sft_records("task:reviews:corpus", n_task=20, seed=3)
    docs = get_task("reviews").corpus(20, 3)
    assert [r["prompt"] + r["completion"] for r in recs] == docs  # nothing lost or added
    assert all(r["prompt"].endswith("\nA:") and r["completion"].startswith(" ") for r in recs)
    assert sft_records("task:reviews", n_task=5, seed=3) == get_task("reviews").sft_examples(5, 3)
    with pytest.raises(InputError, match="task:NAME:corpus"):
        sft_records("task:reviews:nope")


def test_early_stopping_rule_counts_measurements_without_a_new_best():
    from langrl.train.sft import EarlyStopping

    # losses 1.0, 0.8, 0.79, 0.85, 0.81 with patience 2, min_delta 0.02: 1.0 and 0.8 are new bests (0.8 < 1.0 - 0.02);
    # 0.79 is not (0.79 >= 0.8 - 0.02 = 0.78): bad 1; 0.85: bad 2 = patience -> stop; the best stays step 20, 0.8
    es = EarlyStopping(patience=2, min_delta=0.02)
    assert [es.update(s, x) for s, x in ((10, 1.0), (20, 0.8), (30, 0.79), (40, 0.85))] == [False, False, False, True]
    assert (es.best_step, es.best_loss) == (20, 0.8)


def test_sft_stops_when_eval_loss_stops_falling_and_keeps_the_best_weights(toy_model_dir, sft_data, tmp_path):
    from transformers import AutoModelForCausalLM

    from langrl.models.specs import load_causal_lm
    from langrl.train.data import sft_records, split_eval, tokenize_sft
    from langrl.train.sft import eval_loss

    # a learning rate far too high: the held-out loss soon rises, so patience 2 ends the run long before the cap
    out = tmp_path / "es"
    summary = run_sft(cfg_for(toy_model_dir, sft_data, out, max_steps=200, eval_fraction=0.25, eval_every=2,
                              patience=2, learning_rate=3e-2, warmup_steps=0), quiet=True)
    assert summary["stopped_early"] and summary["steps"] < 200
    assert summary["steps"] == summary["best_step"] + 2 * 2  # two measurements (2 steps apart) after the best
    with open(out / "metrics.csv") as f:
        evals = {int(r["step"]): float(r["eval_loss"]) for r in csv.DictReader(f) if r.get("eval_loss")}
    assert max(evals) == summary["steps"] and min(evals.values()) == pytest.approx(summary["best_eval_loss"])
    # the saved weights are the best measurement's: their held-out loss is the best one, not the last one
    _, tok = load_causal_lm(str(out), quiet=True)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    recs = sft_records(str(sft_data), 2000, 0)
    ex = [tokenize_sft(tok, r, 256)[0] for r in recs]
    _, eval_idx = split_eval(len(ex), 0.25, 0)
    held = eval_loss(model, [ex[i] for i in eval_idx], tok.pad_token_id, 8)
    assert held == pytest.approx(summary["best_eval_loss"], rel=1e-4)
    assert held < evals[summary["steps"]]


@pytest.mark.parametrize("kw, expected", [
    ({"patience": 2, "eval_every": 0, "eval_fraction": 0.1}, "patience"),
    ({"patience": 2, "eval_every": 5, "eval_fraction": 0.0}, "patience"),
    ({"patience": 2, "eval_every": 5, "eval_fraction": 0.1, "stop_at": 3}, "stop_at"),
    ({"patience": -1}, "patience"),
])
def test_early_stopping_needs_a_held_out_loss(toy_model_dir, sft_data, tmp_path, kw, expected):
    from langrl.errors import InputError

    with pytest.raises(InputError, match=expected):
        cfg_for(toy_model_dir, sft_data, tmp_path / "x", **kw).validate()


def test_warmup_stable_decay_multiplier_by_hand():
    import math

    from langrl.train.optim import WarmupStableDecay

    f = WarmupStableDecay(warmup=2, decay_start=6, decay_steps=4, min_ratio=0.1)
    # warm-up (step+1)/2: 0.5, 1.0; stable 1 at steps 2..5; decay: 0.1 + 0.9 * 0.5 * (1 + cos(pi * (step - 6) / 4)):
    # step 6 -> 1.0, step 8 -> 0.1 + 0.45 = 0.55, step 10 and after -> 0.1
    got = [f(s) for s in range(12)]
    want = [0.5, 1.0, 1, 1, 1, 1, 1.0, 0.1 + 0.45 * (1 + math.cos(math.pi / 4)), 0.55,
            0.1 + 0.45 * (1 + math.cos(3 * math.pi / 4)), 0.1, 0.1]
    assert got == pytest.approx(want)
    f.start_decay(3)  # a plateau measured after step 3 starts the decay there: step 5 = 0.55
    assert f(2) == 1.0 and f(5) == pytest.approx(0.55) and f(7) == pytest.approx(0.1)
    f.start_decay(9)  # never later than it already is
    assert f.decay_start == 3


def test_wsd_decays_after_the_plateau_and_keeps_the_last_weights(toy_model_dir, sft_data, tmp_path):
    # the same too-high rate as the early-stopping test: the held-out loss stops falling at the constant rate, so
    # patience 2 starts the 6-step decay at that measurement, and the run ends 6 steps later, long before the cap
    out = tmp_path / "wsd"
    summary = run_sft(cfg_for(toy_model_dir, sft_data, out, max_steps=200, eval_fraction=0.25, eval_every=2,
                              patience=2, learning_rate=3e-2, warmup_steps=0, lr_schedule="wsd", decay_steps=6),
                      quiet=True)
    assert summary["plateau_step"] is not None and summary["plateau_step"] < 200 - 6
    assert summary["decay_start"] == summary["plateau_step"] and summary["steps"] == summary["plateau_step"] + 6
    assert summary["stopped_early"]
    with open(out / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f)]
    lrs = {int(r["step"]): float(r["lr"]) for r in rows}
    p = summary["plateau_step"]
    assert lrs[p] == pytest.approx(3e-2)  # constant until the plateau (the lr logged after step p's update)
    assert lrs[p + 6] == pytest.approx(3e-3)  # decayed to 10% at the end
    assert all(lrs[s + 1] <= lrs[s] + 1e-12 for s in range(p, p + 6))
    # the saved weights are the last ones: their held-out loss is the last measurement's
    evals = {int(r["step"]): float(r["eval_loss"]) for r in rows if r.get("eval_loss")}
    assert summary["eval_loss"] == pytest.approx(evals[summary["steps"]])


def test_wsd_without_patience_decays_over_the_last_tenth_and_resumes_exactly(toy_model_dir, sft_data, tmp_path):
    full = run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "a", max_steps=20, lr_schedule="wsd"), quiet=True)
    assert full["decay_start"] == 18 and full["plateau_step"] is None and not full["stopped_early"]
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", max_steps=20, lr_schedule="wsd", stop_at=9), quiet=True)
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", max_steps=20, lr_schedule="wsd",
                    resume=str(tmp_path / "b")), quiet=True)
    assert losses(tmp_path / "a") == pytest.approx(losses(tmp_path / "b"), rel=1e-5)


def test_wsd_decay_must_fit_in_the_run(toy_model_dir, sft_data, tmp_path):
    from langrl.errors import InputError

    with pytest.raises(InputError, match="decay_steps"):
        cfg_for(toy_model_dir, sft_data, tmp_path / "x", max_steps=6, lr_schedule="wsd", decay_steps=6).validate()


def test_wsd_with_patience_resumes_exactly_before_and_inside_the_decay(toy_model_dir, sft_data, tmp_path):
    # the plateau test's run, uninterrupted (a), and stopped twice (b): once before the plateau and once inside the
    # decay; the checkpoint carries the patience counters and the plateau step, so (b) measures the same plateau,
    # decays over the same steps and ends at the same step with the same losses
    kw = dict(max_steps=200, eval_fraction=0.25, eval_every=2, patience=2, learning_rate=3e-2, warmup_steps=0,
              lr_schedule="wsd", decay_steps=6)
    full = run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "a", **kw), quiet=True)
    p = full["plateau_step"]
    assert p is not None and p >= 4
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", stop_at=p - 1, **kw), quiet=True)
    run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", stop_at=p + 3, resume=str(tmp_path / "b"), **kw),
            quiet=True)
    last = run_sft(cfg_for(toy_model_dir, sft_data, tmp_path / "b", resume=str(tmp_path / "b"), **kw), quiet=True)
    assert (last["plateau_step"], last["decay_start"], last["steps"]) == (p, p, p + 6)
    assert losses(tmp_path / "a") == pytest.approx(losses(tmp_path / "b"), rel=1e-5)


def test_patience_without_wsd_still_refuses_resume(toy_model_dir, sft_data, tmp_path):
    from langrl.errors import InputError

    with pytest.raises(InputError, match="patience"):  # those runs keep their best weights in memory only
        cfg_for(toy_model_dir, sft_data, tmp_path / "x", max_steps=20, eval_every=2, patience=2,
                resume=str(tmp_path / "x")).validate()
