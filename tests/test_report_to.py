"""--report-to: trackers through their own libraries (offline), refused clearly when missing, before any model."""
from __future__ import annotations

import csv
import importlib.machinery
import importlib.util
import json
import sys
import types

import pytest

from langrl.cli import main
from langrl.errors import InputError
from langrl.logging import MetricsLogger, parse_report_to, use_report_to


@pytest.fixture(autouse=True)
def reset():
    use_report_to(None)
    yield
    use_report_to(None)


def test_parse_report_to_names_and_refusals():
    assert parse_report_to(["csv,tensorboard", "csv"]) == ("csv", "tensorboard")
    with pytest.raises(InputError, match=r"field 'report_to': expected one of none, csv, tensorboard, wandb, trackio"):
        parse_report_to(["mlflow"])
    with pytest.raises(InputError, match="'none' cannot be combined"):
        parse_report_to(["none,csv"])


@pytest.mark.parametrize("name", ["wandb", "trackio"])
def test_a_missing_tracker_is_refused_before_any_model(name, tmp_path, capsys, monkeypatch):
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is installed here")
    import langrl.models.specs as specs

    monkeypatch.setattr(specs, "load_causal_lm", lambda *a, **k: pytest.fail("a model was loaded"))
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "completion": " c"}) + "\n")
    assert main(["sft", "--data", str(data), "--out", str(tmp_path / "o"), "--report-to", name]) == 2
    err = capsys.readouterr().err
    assert f"--report-to {name} needs the {name} package, which is not installed; install it with: pip install" in err


def test_csv_only_writes_no_tensorboard_and_default_keeps_it(tmp_path):
    pytest.importorskip("tensorboard")
    use_report_to(("csv",))
    log = MetricsLogger(tmp_path / "a")
    log.log(1, {"loss": 0.5})
    log.close()
    assert not (tmp_path / "a" / "tb").exists()
    assert list(csv.DictReader(open(tmp_path / "a" / "metrics.csv"))) == [{"step": "1", "loss": "0.5"}]
    for report, name in [(("tensorboard",), "b"), (None, "c")]:
        use_report_to(report)
        log = MetricsLogger(tmp_path / name)
        log.log(1, {"loss": 0.5})
        log.close()
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / name / "tb").iterdir())


def _fake(name, calls):
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)

    class Run:
        def log(self, metrics, step=None):
            calls.append(("log", dict(metrics), step))

        def finish(self):
            calls.append(("finish",))

    def init(**kw):
        calls.append(("init", kw))
        return Run()

    mod.init = init
    if name == "trackio":  # trackio's API is module-level: trackio.log / trackio.finish
        run = Run()
        mod.log, mod.finish = run.log, run.finish
    return mod


@pytest.mark.parametrize("name", ["wandb", "trackio"])
def test_trackers_go_through_their_library_offline(name, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, name, _fake(name, calls))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert parse_report_to([f"csv,{name}"]) == ("csv", name)  # the library is found
    use_report_to(("csv", name))
    log = MetricsLogger(tmp_path / "run1")
    log.log(1, {"loss": 0.5, "kl": float("nan")})
    log.log(2, {"loss": 0.25})
    log.close()
    init = calls[0]
    assert init[0] == "init" and init[1]["project"] == "langrl" and init[1]["name"] == "run1"
    if name == "wandb":
        assert init[1]["mode"] == "offline"  # nothing leaves the machine unless WANDB_MODE says so
    assert calls[1:] == [("log", {"loss": 0.5}, 1), ("log", {"loss": 0.25}, 2), ("finish",)]  # NaN not sent


def test_report_to_flag_reaches_a_real_run(tmp_path, toy_model_dir):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": "the cat", "completion": " sat"}) + "\n" for _ in range(4)))
    out = tmp_path / "o"
    assert main(["sft", "--model", str(toy_model_dir), "--data", str(data), "--out", str(out), "--max-steps", "2",
                 "--batch-size", "2", "--micro-batch-size", "2", "--report-to", "csv"]) == 0
    assert (out / "metrics.csv").is_file() and not (out / "tb").exists()
