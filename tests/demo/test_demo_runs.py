"""`langrl demo --runs` and `--holistic-kl-coefs`: which stages the pipeline declares, recorded instead of run."""


def _declared(monkeypatch, cfg) -> tuple[list[str], dict]:
    """(the stage names run_demo declares for ``cfg``, {control: its matched run, holistic run: its β}), recorded
    instead of run."""
    from pathlib import Path

    import langrl.demo.evaluate as evaluate
    import langrl.demo.pipeline as pipeline
    import langrl.demo.report as report
    import langrl.models.specs as specs

    names, matched = [], {}

    class Recorder:  # stands in for Stages: records each stage's name (and a control's matched run) instead of running
        out, errors, results, seconds = Path("/nonexistent"), {}, {}, {}

        settings = {}

        def run(self, name, settings, fn, inputs=()):
            names.append(name)
            self.settings[name] = settings
            if name.startswith("control-"):
                matched[name] = settings["matched"]
            if name.startswith("run-ppo-holistic"):
                matched[name] = settings["kl_coef"]  # the holistic runs' β

        def wait(self):
            pass

    monkeypatch.setattr(pipeline, "make_stages", lambda out, cfg, log: Recorder())
    monkeypatch.setattr(specs, "resolve_model_dir", lambda model: model)
    monkeypatch.setattr(evaluate, "declare_evals", lambda stages, cfg, b, runs, sft, rms: sorted(runs))
    monkeypatch.setattr(evaluate, "collect_evals", lambda stages, evals: {})
    monkeypatch.setattr(report, "write_report", lambda out, cfg, b, runs, *a, **k: {"runs": sorted(runs)})
    pipeline.run_demo(cfg, log=lambda *a: None)
    return names, matched


def test_runs_option_declares_only_the_chosen_runs_and_their_inputs(monkeypatch):
    """--runs ppo-fine-grained,control-factqa: the SFT start, feedback and the four reward models still run (the report
    judges every reward model against gold), then only the fine-grained run and a control matched to *its* compute
    (factqa's RL runs share one setting; holistic PPO, which the control matches when it runs, does not run here);
    empty runs everything, with the control matched to holistic PPO; an unknown name is refused, naming the field."""
    import pytest

    from langrl.demo.config import DemoConfig
    from langrl.errors import InputError

    base = ["policy-factqa", "feedback", "rm-holistic", "rm-listwise", "rm-spans", "rm-completeness"]
    names, matched = _declared(monkeypatch, DemoConfig(task="factqa", runs="ppo-fine-grained, control-factqa"))
    assert names == base + ["run-ppo-fine-grained", "control-factqa"]
    assert matched == {"control-factqa": "run-ppo-fine-grained"}
    names, matched = _declared(monkeypatch, DemoConfig(task="factqa"))
    assert names == base + ["run-ppo-holistic", "run-ppo-fine-grained", "run-nlpo", "run-dpo", "run-pl-dpo",
                            "control-factqa"]
    assert matched == {"control-factqa": "run-ppo-holistic", "run-ppo-holistic": 0.05}  # the full demo's matched run
    names, _ = _declared(monkeypatch, DemoConfig(task="factqa", runs="dpo"))  # no online run: no control to match
    assert names == base + ["run-dpo"]
    # --holistic-kl-coefs 1.0,0.5: holistic PPO at those β too, each a run --runs can name
    sweep = DemoConfig(task="factqa", holistic_kl_coefs="1.0, 0.5", runs="ppo-holistic-kl0.5,ppo-fine-grained")
    sweep.validate()
    names, betas = _declared(monkeypatch, sweep)
    assert names == base + ["run-ppo-holistic-kl0.5", "run-ppo-fine-grained"]
    assert betas == {"run-ppo-holistic-kl0.5": 0.5}
    for bad in ("1.0;0.5", "-1"):
        with pytest.raises(InputError, match="holistic_kl_coefs"):
            DemoConfig(holistic_kl_coefs=bad).validate()
    with pytest.raises(InputError, match="field 'runs'"):
        DemoConfig(runs="ppo-holistic-kl1.0").validate()  # not in the sweep
    with pytest.raises(InputError, match="field 'runs'.*ppo-fine"):
        DemoConfig(runs="ppo-fine").validate()
