"""Data and flags are checked before any model is built or loaded, file errors name their flag, and progress shows
as plain periodic lines when stderr is not a terminal (the GGUF conversion's too); no stray library warnings."""
from __future__ import annotations

import io
import warnings

import pytest

from langrl.cli import main


class ModelTouched(Exception):
    pass


@pytest.fixture()
def no_model_work(monkeypatch):
    """Building tiny, converting a GGUF or loading any model raises: a command must fail on its data first."""
    import langrl.models.rm.model as reward_model
    import langrl.models.specs as specs
    import langrl.models.tiny as tiny

    def touched(*a, **k):
        raise ModelTouched()

    monkeypatch.setattr(tiny, "ensure_tiny", touched)
    monkeypatch.setattr(specs, "_gguf_to_dir", touched)
    monkeypatch.setattr(specs, "load_causal_lm", touched)
    monkeypatch.setattr(reward_model, "build_reward_model", touched)


# an unbuilt model spec (tiny pretrained on one task) so that any model work would start a 3-minute build
ARGV = {
    "sft": lambda d, o: ["sft", "--model", "tiny:arithmetic", "--data", d, "--out", o],
    "dpo": lambda d, o: ["dpo", "--policy", "tiny:arithmetic", "--data", d, "--out", o],
    "rm train": lambda d, o: ["rm", "train", "--base", "tiny:arithmetic", "--data", d, "--out", o],
    "rl": lambda d, o: ["rl", "--policy", "tiny:arithmetic", "--prompts", d, "--reward", "length", "--out", o],
    "sample": lambda d, o: ["sample", "--model", "tiny:arithmetic", "--prompts", d],
}
FLAG = {"sft": "--data", "dpo": "--data", "rm train": "--data", "rl": "--prompts", "sample": "--prompts"}


@pytest.mark.parametrize("cmd", list(ARGV))
def test_bad_data_fails_before_any_model_and_names_its_flag(no_model_work, tmp_path, capsys, cmd):
    data = tmp_path / "some_dir"
    data.mkdir()
    (data / "x.txt").write_text("not data")
    assert main(ARGV[cmd](str(data), str(tmp_path / "out"))) == 2  # not ModelTouched: the data was checked first
    err = capsys.readouterr().err
    assert err.startswith(f"error: {FLAG[cmd]}: {data}") and "directory" in err, err
    missing = tmp_path / "nope.jsonl"
    assert main(ARGV[cmd](str(missing), str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {FLAG[cmd]}: ") and f"not found: {missing}" in err, err


def test_line_bar_prints_stage_step_rate_and_eta_periodically():
    from langrl.logging import LineBar

    now = [100.0]
    out = io.StringIO()
    bar = LineBar("rl grpo", total=10, stream=out, every=10.0, clock=lambda: now[0])
    bar.update(0)  # the start: printed at once
    for step, t in [(1, 104.0), (2, 108.0), (3, 112.0), (4, 116.0)]:
        now[0] = t
        bar.update(step, reward=0.5)
    bar.close()
    lines = out.getvalue().splitlines()
    # printed: the start (t=100), then t=112 (12 s >= 10 s after the last line), then the close (step 4 not shown yet)
    # rate at t=112: 3 steps / 12 s = 0.25 it/s; eta (10 - 3) / 0.25 = 28 s; at t=116: 4/16 = 0.25, eta 24 s
    assert lines == ["rl grpo: 0/10 (0%), - it/s, elapsed 0:00, eta -",
                     "rl grpo: 3/10 (30%), 0.25 it/s, elapsed 0:12, eta 0:28, reward=0.5",
                     "rl grpo: 4/10 (40%), 0.25 it/s, elapsed 0:16, eta 0:24, reward=0.5"]


def test_progress_bar_is_plain_lines_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    from langrl.logging import progress_bar

    monkeypatch.delenv("LANGRL_QUIET", raising=False)
    with progress_bar("building tiny model (arithmetic)", total=3) as bar:
        for i in range(1, 4):
            bar.update(i, loss=1.0)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("building tiny model (arithmetic): 1/3 (33%)")
    assert err[-1].startswith("building tiny model (arithmetic): 3/3 (100%)") and "loss=1" in err[-1]
    assert not any("\x1b[" in line or "\r" in line for line in err)  # no terminal control codes in a log


def test_gguf_conversion_walk_shows_progress_instead_of_tqdm(monkeypatch, capsys):
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from langrl.models.specs import _gguf_progress

    monkeypatch.delenv("LANGRL_QUIET", raising=False)
    before = gguf_utils.tqdm
    with _gguf_progress(quiet=False):
        seen = list(gguf_utils.tqdm(["a", "b", "c"], desc="Converting and de-quantizing GGUF tensors..."))
    assert seen == ["a", "b", "c"] and gguf_utils.tqdm is before
    err = capsys.readouterr().err
    assert "converting GGUF: de-quantising tensors: 3/3 (100%)" in err and "it/s" in err


def test_lora_shows_no_transformers_deprecation_warning(toy_lm):
    from langrl.models.lora import apply_lora

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_lora(toy_lm, r=2)
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]
