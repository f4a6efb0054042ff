import json

import pytest

from langrl.demo.stages import Stages


def _pipeline(out, calls, lr, steps=3):
    """policy (lr) → feedback (reads policy) → eval (reads both); ``calls`` records what actually ran."""
    st = Stages(out, log=lambda _: None)

    def stage(name):
        def fn(d):
            calls.append(name)
            return {"name": name}
        return fn

    st.run("policy", {"lr": lr}, stage("policy"))
    st.run("feedback", {"n": 4}, stage("feedback"), inputs=("policy",))
    st.run("eval", {"steps": steps}, stage("eval"), inputs=tuple(st.keys))
    return st


def test_a_changed_upstream_stage_reruns_everything_that_reads_it(tmp_path):
    calls = []
    _pipeline(tmp_path, calls, lr=1e-3)
    assert calls == ["policy", "feedback", "eval"]
    calls.clear()
    _pipeline(tmp_path, calls, lr=1e-3)  # nothing changed: everything cached
    assert calls == []
    _pipeline(tmp_path, calls, lr=1e-3, steps=5)  # only the last stage's own settings changed
    assert calls == ["eval"]
    calls.clear()
    _pipeline(tmp_path, calls, lr=2e-3, steps=5)  # the first stage changed: its readers are stale too
    assert calls == ["policy", "feedback", "eval"]
    saved = json.loads((tmp_path / "feedback" / "done.json").read_text())
    assert saved["settings"] == {"n": 4}


def test_an_input_that_has_not_run_is_refused(tmp_path):
    st = Stages(tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="input stage"):
        st.run("eval", {}, lambda d: {}, inputs=("policy",))


def test_the_model_is_resolved_visibly_before_the_quiet_stages(tmp_path, monkeypatch):
    # before: the first-use tiny build ran inside policy-factqa's quiet SFT, ~3 minutes with no output at all
    import langrl.demo.pipeline as pipeline
    import langrl.models.specs as specs
    from langrl.config import from_dict
    from langrl.demo.config import DemoConfig

    class Resolved(Exception):
        pass

    calls = []

    def resolve(spec, quiet=False, build=True):
        calls.append((spec, quiet, build))
        raise Resolved()

    def stage(*args, **kwargs):
        raise AssertionError("a stage ran before the model was resolved")

    monkeypatch.setattr(specs, "resolve_model_dir", resolve)
    monkeypatch.setattr(pipeline, "stage_sft", stage)
    with pytest.raises(Resolved):
        pipeline.run_demo(from_dict(DemoConfig, {"out": str(tmp_path / "d"), "quick": True}), log=lambda m: None)
    assert calls == [("tiny", False, True)]
