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


def _graph(out, jobs, log=None):
    """a, b independent (each 0.6 s, each draws from torch's global RNG); c reads both; d reads a, exclusive."""
    import time

    import torch

    st = Stages(out, log=log or (lambda _: None), jobs=jobs, threads=1)

    def stage(name, seconds=0.6):
        def fn(d):
            t0 = time.time()
            time.sleep(seconds)
            return {"name": name, "draw": torch.rand(3).tolist(), "start": t0, "end": time.time()}
        return fn

    st.run("a", {}, stage("a"))
    st.run("b", {}, stage("b"))
    st.run("c", {}, stage("c", 0.1), inputs=("a", "b"))
    st.run("d", {}, stage("d", 0.1), inputs=("a",), exclusive=True)
    st.wait()
    return st


def test_independent_stages_run_at_once_and_give_the_sequential_results(tmp_path):
    seq = _graph(tmp_path / "seq", jobs=1)
    par = _graph(tmp_path / "par", jobs=2)
    r = par.results
    assert r["a"]["start"] < r["b"]["end"] and r["b"]["start"] < r["a"]["end"]  # a and b overlapped
    assert r["c"]["start"] >= max(r["a"]["end"], r["b"]["end"])  # c waited for both of its inputs
    # d is exclusive: nothing else ran while it did
    assert all(r[n]["end"] <= r["d"]["start"] or r[n]["start"] >= r["d"]["end"] for n in "abc")
    # each stage seeds the global RNGs from its own key: the same draws as one after another in one process
    assert {n: v["draw"] for n, v in r.items()} == {n: v["draw"] for n, v in seq.results.items()}
    assert seq.keys == par.keys
    calls = []
    again = _graph(tmp_path / "par", jobs=2, log=calls.append)  # resumable: every stage is served from its cache
    assert all("cached" in m for m in calls) and len(calls) == 4 and again.results == r


def test_a_stage_that_refuses_its_input_in_a_worker_is_recorded_and_its_readers_skipped(tmp_path):
    from langrl.errors import InputError

    def refuse(d):
        raise InputError("every judgement a tie")

    st = Stages(tmp_path, log=lambda _: None, jobs=2, threads=1)
    st.run("ok", {}, lambda d: {"x": 1})
    st.run("dpo", {}, refuse)
    st.run("after-dpo", {}, lambda d: {"y": 2}, inputs=("dpo",))
    st.wait()
    assert st.results == {"ok": {"x": 1}} and st.errors["dpo"] == "every judgement a tie"
    assert "after-dpo" in st.errors and not (tmp_path / "dpo" / "done.json").exists()


def test_a_crashing_worker_fails_the_run_and_leaves_no_done_json(tmp_path):
    def crash(d):
        raise ZeroDivisionError("boom")

    st = Stages(tmp_path, log=lambda _: None, jobs=2, threads=1)
    st.run("crash", {}, crash)
    with pytest.raises(RuntimeError, match="crash"):
        st.wait()
    assert not (tmp_path / "crash" / "done.json").exists()
