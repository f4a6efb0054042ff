"""The continued-SFT control spends the matched RL run's policy forward+backward sequences on SFT instead."""
import shutil
from types import SimpleNamespace

import yaml

from langrl.demo.stages import Stages


def _fake_rl_stage(stages, name, **settings):
    """Declare an online-run stage with these ``langrl rl`` settings (it runs nothing)."""
    stages.run(name, settings, lambda d: {"command": "rl"})


def test_planned_update_sequences_and_control_steps_by_hand():
    """The control's compute is the RL run's declared plan, with RLConfig's and the algorithm's defaults."""
    from langrl.demo.control import control_steps, planned_update_sequences

    # GRPO: 40 iterations x 16 prompts x 4 samples (grpo's default) x 1 epoch = 2560 sequences = 160 SFT steps of 16
    assert planned_update_sequences({"algo": "grpo", "max_steps": 40}) == 2560 and control_steps(2560) == 160
    # PPO: 40 x 16 x 1 sample x 4 epochs (ppo's defaults) = 2560 too; factqa's long runs: 120 x 16 x 4 x 4 = 30720
    assert planned_update_sequences({"algo": "ppo", "max_steps": 40}) == 2560
    assert planned_update_sequences({"algo": "ppo", "max_steps": 120, "samples_per_prompt": 4}) == 30720
    # RLConfig's defaults: 100 iterations x 16 prompts x 1 x 4; 3 x 5 x 1 x 1 = 15 -> ceil(15 / 16) = 1 step
    assert planned_update_sequences({}) == 6400
    assert planned_update_sequences({"algo": "reinforce", "max_steps": 3, "prompts_per_step": 5}) == 15
    assert control_steps(15) == 1


def test_control_stage_continues_sft_from_the_start_for_the_matched_compute(tmp_path, toy_model_dir):
    """The control reads the matched run's plan, not its outputs (it runs beside the RL run), and re-runs when that
    plan changes."""
    import torch
    from transformers import AutoModelForCausalLM

    from langrl.demo.control import stage_control

    st = Stages(tmp_path, log=lambda _: None)
    st.run("policy-arithmetic", {}, lambda d: shutil.copytree(toy_model_dir, d / "model") and {"steps": 0})
    # 3 x 4 x 4 x 2 = 96 sequences -> 6 steps
    _fake_rl_stage(st, "run-grpo", algo="grpo", max_steps=3, prompts_per_step=4, samples_per_prompt=4, epochs=2)
    shutil.rmtree(tmp_path / "run-grpo")  # not read: the control does not wait for the run
    path = stage_control(st, SimpleNamespace(seed=0), "arithmetic", 1e-3, "task:arithmetic", "grpo")
    res = st.results["control-arithmetic"]
    assert res["rl_sequences"] == 96 and res["steps"] == 6 and res["matched_run"] == "run-grpo"
    before = AutoModelForCausalLM.from_pretrained(toy_model_dir)
    after = AutoModelForCausalLM.from_pretrained(path)
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))
    # the control is re-run when the RL run it matches changes
    _fake_rl_stage(st, "run-grpo", algo="grpo", max_steps=1, prompts_per_step=4, samples_per_prompt=4, epochs=2)
    stage_control(st, SimpleNamespace(seed=0), "arithmetic", 1e-3, "task:arithmetic", "grpo")
    assert st.results["control-arithmetic"]["steps"] == 2  # 32 sequences
    # the SFT stage's batch (--factqa-sft-batch-size): the same 32 sequences in steps of 4 -> 8 steps, a new key
    stage_control(st, SimpleNamespace(seed=0), "arithmetic", 1e-3, "task:arithmetic", "grpo", batch=4)
    res = st.results["control-arithmetic"]
    assert (res["steps"], res["batch_size"], st.settings["control-arithmetic"]["batch"]) == (8, 4, 4)


def _sft_settings(cfg, field: str) -> dict:
    """{stage name: settings[field]} (field None: the whole settings) of the three SFT stages ``cfg`` declares,
    recorded instead of run."""
    from pathlib import Path

    from langrl.demo.config import budget_for
    from langrl.demo.pipeline import stage_sft

    seen = {}

    class Recorder:  # stands in for Stages: records each stage's settings instead of running it
        out = Path("/nonexistent")

        def run(self, name, settings, fn, inputs=()):
            seen[name] = settings if field is None else settings[field]

    for task in ("factqa", "reviews", "arithmetic"):
        stage_sft(Recorder(), cfg, budget_for(cfg), task)
    return seen


def test_arithmetic_sft_patience_option_reaches_only_the_arithmetic_sft_stage():
    """--arithmetic-sft-patience N (the README's arithmetic lever) changes the arithmetic SFT stage's patience and no
    other stage's settings; 0 keeps the budget's (full 0: the whole schedule, quick 2); a negative value is refused."""
    import pytest

    from langrl.demo.config import DemoConfig, budget_for
    from langrl.errors import InputError

    def patience(cfg):
        return _sft_settings(cfg, 'patience')

    assert patience(DemoConfig()) == {"policy-factqa": 3, "policy-reviews": 3, "policy-arithmetic": 0}
    assert patience(DemoConfig(arithmetic_sft_patience=4)) == \
        {"policy-factqa": 3, "policy-reviews": 3, "policy-arithmetic": 4}
    assert budget_for(DemoConfig(quick=True)).arithmetic_sft_patience == 2
    with pytest.raises(InputError, match="arithmetic_sft_patience"):
        DemoConfig(arithmetic_sft_patience=-1).validate()


def test_each_sft_stage_gets_its_task_s_step_cap():
    """The full budget caps factqa's SFT at 3,000 steps, arithmetic's at 3,000 (at 1,000 its held-out loss still fell
    on seeds 0, 1 and 2) and reviews' at 1,000; the quick budget caps each at 20."""
    from langrl.demo.config import DemoConfig

    def caps(cfg):
        return _sft_settings(cfg, 'steps')

    assert caps(DemoConfig()) == {"policy-factqa": 3000, "policy-reviews": 1000, "policy-arithmetic": 3000}
    assert caps(DemoConfig(quick=True)) == {"policy-factqa": 20, "policy-reviews": 20, "policy-arithmetic": 20}


def test_sft_summary_of_a_run_without_early_stopping_reports_its_last_step_and_loss():
    """The arithmetic SFT trains its whole schedule (no patience): its summary has no best_step, so the report keeps
    its last step and last held-out loss; an early-stopped run keeps its own best."""
    from langrl.demo.report import _sft_summary

    full = {"steps": 3000, "eval_loss": 0.105, "seconds": 900.0}
    assert _sft_summary(full) == {"batch_size": 16, "steps": 3000, "best_step": 3000, "best_eval_loss": 0.105,
                                  "stopped_early": False, "seconds": 900.0}
    early = {"steps": 700, "best_step": 450, "best_eval_loss": 0.217, "eval_loss": 0.217, "stopped_early": True,
             "seconds": 140.0}
    assert _sft_summary(early) == {"batch_size": 16, "steps": 700, "best_step": 450, "best_eval_loss": 0.217,
                                   "stopped_early": True, "seconds": 140.0}
    # a WSD run keeps its last weights; its plateau (decay from 7,900, the end at 9,100 < the 12,000 cap) is its
    # early stop, which the report must not turn into False
    wsd = {"steps": 9100, "eval_loss": 0.179, "seconds": 3023.0, "lr_schedule": "wsd", "decay_start": 7900,
           "decay_steps": 1200, "plateau_step": 7900, "stopped_early": True}
    assert _sft_summary(wsd) == {"batch_size": 16, "steps": 9100, "best_step": 9100, "best_eval_loss": 0.179,
                                 "stopped_early": True, "seconds": 3023.0, "decay_start": 7900}
    assert _sft_summary({**full, "batch_size": 64})["batch_size"] == 64


def test_the_report_shows_the_held_out_loss_over_the_stretch_before_the_decay(tmp_path):
    """A fixed WSD run (no plateau test) reaches its decay at the cap's: the report reads the stage's metrics.csv and
    states the loss over the 1,000 constant-rate steps before it, so a reader sees whether it had stopped falling."""
    from langrl.demo.report import _before_decay_text, _sft_summary, heldout_curve, loss_before

    csv = tmp_path / "metrics.csv"  # the loss is measured every 100 steps; training-only rows have no eval_loss
    rows = ["step,loss,eval_loss"] + [f"{s},0.5,{'' if s % 100 else 0.2 + (12000 - s) / 1e5}"
                                      for s in range(50, 12001, 50)]
    csv.write_text("\n".join(rows) + "\n")
    curve = heldout_curve(csv)
    assert curve[0] == (100, 0.2 + 0.119) and len(curve) == 120 and heldout_curve(tmp_path / "none.csv") == []
    # decay from 10,800: the measurements at 9,800 (0.2 + 2200/1e5 = 0.222) and 10,800 (0.212): fell by 0.010
    d = loss_before(curve, 10800)
    assert (d["from_step"], d["to_step"]) == (9800, 10800)
    assert abs(d["from_loss"] - 0.222) < 1e-12 and abs(d["fell_by"] - 0.010) < 1e-12
    assert loss_before(curve, 50) is None  # nothing measured yet
    wsd = {"steps": 12000, "eval_loss": 0.2, "lr_schedule": "wsd", "decay_start": 10800, "stopped_early": False}
    assert _sft_summary(wsd, curve)["loss_before_decay"] == d
    assert _before_decay_text(d) == (" Over the constant-rate steps 9800–10800 before the decay its held-out loss "
                                     "went from 0.222 to 0.212 (fell by 0.010).")
    assert "rose by 0.004" in _before_decay_text({**d, "to_loss": 0.226, "fell_by": -0.004})
    # at batch 64 the same 16,000 sequences are 250 steps: decay from 10,800 reads the loss from 10,600 (the first
    # measurement at or after 10,550; 0.2 + 1400/1e5 = 0.214) to 10,800 (0.212)
    d64 = _sft_summary({**wsd, "batch_size": 64}, curve)["loss_before_decay"]
    assert (d64["from_step"], d64["to_step"]) == (10600, 10800) and abs(d64["fell_by"] - 0.002) < 1e-12


def test_factqa_sft_data_option_reaches_only_factqa_s_sft_and_control():
    """--factqa-sft-data corpus (the README's factqa lever) trains factqa's SFT start, and its continued-SFT control,
    on the task's corpus; the other tasks' data and the default are unchanged; an unknown value is refused."""
    import pytest

    from langrl.config import from_dict
    from langrl.demo.config import DemoConfig
    from langrl.demo.pipeline import sft_data
    from langrl.errors import InputError

    def data(cfg):
        return _sft_settings(cfg, 'data')

    base = {"policy-reviews": "task:reviews:corpus", "policy-arithmetic": "task:arithmetic:corpus"}
    assert data(DemoConfig()) == {"policy-factqa": "task:factqa", **base}
    corpus = DemoConfig(factqa_sft_data="corpus")
    assert data(corpus) == {"policy-factqa": "task:factqa:corpus", **base}
    assert sft_data(corpus, "factqa") == "task:factqa:corpus"  # the control continues on the start's own data
    with pytest.raises(InputError, match="factqa_sft_data"):
        from_dict(DemoConfig, {"factqa_sft_data": "clean"})


def test_factqa_sft_batch_option_reaches_factqa_s_sft_and_its_control(tmp_path, monkeypatch):
    """--factqa-sft-batch-size 64 trains factqa's SFT at 64 sequences a step (micro-batches of 16, 64 x cap training
    examples) and adds a settings key only when it is not the default 16 (cached batch-16 stages stay valid); the
    other tasks keep 16; the control continues at the start's batch; 0 is refused."""
    from pathlib import Path

    import pytest

    import langrl.demo.control as control
    import langrl.demo.pipeline as pipeline
    import langrl.train.sft as sft
    from langrl.demo.config import DemoConfig, budget_for
    from langrl.errors import InputError

    wide = DemoConfig(factqa_sft_batch_size=64, factqa_sft_steps=3000)
    assert {t: s.get("batch_size") for t, s in _sft_settings(wide, None).items()} == \
        {"policy-factqa": 64, "policy-reviews": None, "policy-arithmetic": None}
    assert all("batch_size" not in s for s in _sft_settings(DemoConfig(), None).values())
    ran = []
    monkeypatch.setattr(sft, "run_sft", lambda cfg, quiet=False: ran.append(cfg) or {})

    class Runner:  # runs the stage's function in a fresh folder instead of caching it
        out = tmp_path
        settings = {"run-ppo-fine-grained": {"algo": "ppo", "max_steps": 120, "prompts_per_step": 16,
                                             "samples_per_prompt": 4, "epochs": 2}}

        def run(self, name, settings, fn, inputs=()):
            self.settings[name] = settings
            (tmp_path / name).mkdir()
            fn(tmp_path / name)

    pipeline.stage_sft(Runner(), wide, budget_for(wide), "factqa")
    assert (ran[0].batch_size, ran[0].micro_batch_size, ran[0].max_steps) == (64, 16, 3000)
    assert ran[0].task_examples == 64 * 3000 + 320
    # 120 x 16 x 4 x 2 = 15,360 sequences = 240 steps of 64 (960 of 16)
    runner = Runner()
    control.stage_control(runner, wide, "factqa", 2e-3, "task:factqa:corpus", "ppo-fine-grained",
                          batch=pipeline.sft_batch(wide, "factqa"))
    assert (ran[1].batch_size, ran[1].max_steps, runner.settings["control-factqa"]["batch"]) == (64, 240, 64)
    assert pipeline.sft_batch(wide, "reviews") == 16 and Path(ran[1].model).name == "model"
    with pytest.raises(InputError, match="factqa_sft_batch_size"):
        DemoConfig(factqa_sft_batch_size=0).validate()


def test_factqa_step_options_reach_only_factqa_s_sft_cap_and_online_runs():
    """--factqa-sft-steps N sets the factqa SFT's cap (the others keep theirs) and --factqa-sft-patience its patience; --factqa-rl-steps N runs factqa's
    online runs N iterations on N x prompts_per_step prompts, each prompt once (120 x 16 = 1920; 10 x 16 = 160 keeps
    the floor of 512); unset, the runs keep the budget's iterations and the 512-prompt draw; negatives are refused."""
    import pytest

    from langrl.demo.config import DemoConfig, budget_for
    from langrl.demo.pipeline import factqa_rl_settings
    from langrl.errors import InputError

    assert _sft_settings(DemoConfig(factqa_sft_steps=6000), 'steps') == \
        {"policy-factqa": 6000, "policy-reviews": 1000, "policy-arithmetic": 3000}
    plain = DemoConfig()
    assert factqa_rl_settings(plain, budget_for(plain)) == {"samples_per_prompt": 4, "reward_baseline": "loo",
                                                           "lam": 1.0}
    long = DemoConfig(factqa_rl_steps=120)
    assert factqa_rl_settings(long, budget_for(long)) == {"samples_per_prompt": 4, "reward_baseline": "loo",
                                                         "lam": 1.0, "max_steps": 120, "task_prompts": 1920}
    assert budget_for(long).rl_steps == 40 and budget_for(long).grpo_steps == 80  # the other tasks' runs unchanged
    short = DemoConfig(factqa_rl_steps=10)
    assert factqa_rl_settings(short, budget_for(short))["task_prompts"] == 512
    # --factqa-sft-patience: -1 keeps the budget's 3, 0 trains the whole schedule; only the factqa SFT changes
    assert _sft_settings(DemoConfig(factqa_sft_patience=0), 'patience') == \
        {"policy-factqa": 0, "policy-reviews": 3, "policy-arithmetic": 0}
    assert _sft_settings(DemoConfig(), 'patience')["policy-factqa"] == 3
    # --factqa-sft-schedule wsd reaches the factqa SFT only; the cosine default adds no key (cached stages stay valid)
    wsd = {t: s.get("lr_schedule") for t, s in _sft_settings(DemoConfig(factqa_sft_schedule="wsd"), None).items()}
    assert wsd == {"policy-factqa": "wsd", "policy-reviews": None, "policy-arithmetic": None}
    assert all("lr_schedule" not in s for s in _sft_settings(DemoConfig(), None).values())
    with pytest.raises(InputError, match="factqa_sft_patience"):
        DemoConfig(factqa_sft_patience=-2).validate()
    for field in ("factqa_sft_steps", "factqa_rl_steps"):
        with pytest.raises(InputError, match=field):
            DemoConfig(**{field: -1}).validate()


def test_spans_rm_steps_option_reaches_only_the_span_reward_model():
    """--spans-rm-steps N sets the rm-spans stage's max_steps (the other reward models keep theirs); unset, the stage's
    settings are the budget's (60 full), so cached stages stay valid; negatives are refused."""
    from pathlib import Path

    import pytest

    from langrl.demo.config import DemoConfig, budget_for
    from langrl.demo.pipeline import stage_reward_models
    from langrl.errors import InputError

    def steps(cfg):
        seen = {}

        class Recorder:  # stands in for Stages: records each stage's settings instead of running it
            out = Path("/nonexistent")

            def run(self, name, settings, fn, inputs=()):
                seen[name] = settings["max_steps"]

        stage_reward_models(Recorder(), cfg, budget_for(cfg), "policy", Path("/nonexistent/feedback"))
        return seen

    assert steps(DemoConfig()) == {"rm-holistic": 100, "rm-listwise": 150, "rm-spans": 60, "rm-completeness": 40}
    assert steps(DemoConfig(spans_rm_steps=240)) == \
        {"rm-holistic": 100, "rm-listwise": 150, "rm-spans": 240, "rm-completeness": 40}
    with pytest.raises(InputError, match="spans_rm_steps"):
        DemoConfig(spans_rm_steps=-1).validate()


def test_reproduce_command_names_every_setting_that_changes_the_numbers():
    """The report's "Reproduce" line is the command for these numbers: every non-default field as a flag, in field
    order, without --out and --jobs (where and how fast, not what); the defaults give the bare command."""
    from langrl.demo.config import DemoConfig, reproduce_command

    assert reproduce_command(DemoConfig()) == "langrl demo"
    cfg = DemoConfig(task="factqa", quick=True, seed=2, factqa_sft_schedule="wsd", kl_coef=0.2, out="x", jobs=2)
    assert reproduce_command(cfg) == \
        "langrl demo --task factqa --quick --seed 2 --kl-coef 0.2 --factqa-sft-schedule wsd"


def test_the_long_factqa_preset_is_the_measured_command():
    """configs/demo-factqa-long.yaml parses to the settings of the README's long factqa run (the command
    `langrl demo --task factqa --seed S --factqa-sft-data corpus --factqa-sft-schedule wsd --factqa-sft-batch-size 64
    --factqa-sft-steps 3000 --factqa-sft-patience 0 --factqa-rl-steps 120 --kl-coef 0.2 --holistic-kl-coefs 1.0
    --spans-rm-steps 240`: a fixed warm-up-stable-decay SFT at batch 64, no plateau test); flags still override it."""
    from pathlib import Path

    from langrl.config import parse_config
    from langrl.demo.config import DemoConfig, reproduce_command

    path = Path(__file__).resolve().parents[2] / "configs" / "demo-factqa-long.yaml"
    cfg, _ = parse_config(DemoConfig, ["--config", str(path), "--seed", "1"])
    assert reproduce_command(cfg) == (
        "langrl demo --task factqa --seed 1 --kl-coef 0.2 --factqa-sft-data corpus --factqa-sft-steps 3000 "
        "--factqa-sft-patience 0 --factqa-sft-schedule wsd --factqa-sft-batch-size 64 --factqa-rl-steps 120 "
        "--holistic-kl-coefs 1.0 --spans-rm-steps 240")


def test_a_killed_sft_stage_resumes_from_its_checkpoint_only_under_the_same_settings(tmp_path, monkeypatch):
    """mark_started/resumable: a stage folder a killed run of the same settings key left is resumable, one of other
    settings is not; stage_sft then passes --resume to the WSD (or patience-0) SFT when a checkpoint is there, saves
    every SFT_SAVE_EVERY steps, and the cosine run with patience (best weights in memory) always starts afresh."""
    from pathlib import Path

    import langrl.train.sft as sft
    from langrl.demo.config import DemoConfig, budget_for
    from langrl.demo.pipeline import stage_sft
    from langrl.demo.stages import SFT_SAVE_EVERY
    from langrl.demo.stages import mark_started, resumable

    d = tmp_path / "policy-factqa"
    d.mkdir()
    mark_started(d, "k1")
    assert not resumable(d)  # a first start
    mark_started(d, "k1")
    assert resumable(d)  # the same settings again: what the killed run left is of these settings
    mark_started(d, "k2")
    assert not resumable(d)  # other settings

    seen = []
    monkeypatch.setattr(sft, "run_sft", lambda cfg, quiet=False: seen.append(cfg) or {})

    class OneStage:  # runs the stage's function in a folder a killed run of the same settings left
        out = tmp_path

        def run(self, name, settings, fn, inputs=()):
            (d / "model").mkdir(exist_ok=True)
            (d / "model" / "langrl_state.pt").write_bytes(b"")
            mark_started(d, "same")
            mark_started(d, "same")
            fn(d)

    wsd = DemoConfig(task="factqa", factqa_sft_schedule="wsd")
    stage_sft(OneStage(), wsd, budget_for(wsd), "factqa")
    assert seen[-1].resume == str(d / "model") and seen[-1].save_every == SFT_SAVE_EVERY
    cosine = DemoConfig(task="factqa")  # patience 3 on a cosine schedule: best weights in memory, no resume
    stage_sft(OneStage(), cosine, budget_for(cosine), "factqa")
    assert seen[-1].resume is None and seen[-1].overwrite and seen[-1].save_every == 0
    assert Path(seen[-1].out) == d / "model"


def test_a_killed_online_run_stage_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """stage_online saves every RL_SAVE_EVERY iterations and, in a folder a killed run of the same settings left
    with a checkpoint, passes --resume (and no --overwrite); a first start overwrites."""
    import langrl.train.rl.loop as loop
    from langrl.demo.config import DemoConfig, budget_for
    from langrl.demo.pipeline import stage_online
    from langrl.demo.stages import RL_SAVE_EVERY
    from langrl.demo.stages import mark_started

    seen = []
    monkeypatch.setattr(loop, "run_rl", lambda cfg, quiet=False: seen.append(cfg) or {})
    d = tmp_path / "run-ppo-holistic"

    class OneStage:
        out = tmp_path

        def __init__(self, killed: bool):
            self.killed = killed

        def run(self, name, settings, fn, inputs=()):
            d.mkdir(exist_ok=True)
            mark_started(d, "same")
            if self.killed:
                (d / "model").mkdir(exist_ok=True)
                (d / "model" / "langrl_state.pt").write_bytes(b"")
                mark_started(d, "same")
            fn(d)

    cfg = DemoConfig(task="factqa")
    for killed in (False, True):
        stage_online(OneStage(killed), cfg, budget_for(cfg), "ppo-holistic", "factqa", "sft", ["rm:path=x"], ())
    first, again = seen
    assert first.save_every == again.save_every == RL_SAVE_EVERY
    assert first.resume is None and first.overwrite
    assert again.resume == str(d / "model") and not again.overwrite

