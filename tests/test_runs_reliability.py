"""Runs survive what real runs meet: an ``--out`` that does not exist yet, a kill and ``--resume`` (one metrics row per
step), stale temporaries of killed saves and builds (removed at the next start, a live process's never), and a model
build lock whose waiters say who holds it."""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

from langrl.cli import main as cli_main

PAIRS = [{"prompt": f"Q: {a} + {b} = ? A:", "chosen": " the movie was great.", "rejected": " the movie was bad."}
         for a in range(3) for b in range(3)]
SFT = [{"prompt": f"Q: {a} + {b} = ? A:", "completion": f" {a + b}"} for a in range(3) for b in range(3)]
PROMPTS = [{"prompt": p} for p in ["the cat", "the movie", "a b c", "i loved"]]


def _jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGRL_HOME", str(tmp_path / "home"))  # DPO's reference cache, agent data
    return {"pairs": _jsonl(tmp_path / "pairs.jsonl", PAIRS), "sft": _jsonl(tmp_path / "sft.jsonl", SFT),
            "prompts": _jsonl(tmp_path / "prompts.jsonl", PROMPTS)}


@pytest.fixture()
def no_tensorboard(monkeypatch):
    """A user without the optional tensorboard package (the test extra installs it; TensorBoard's writer creating
    ``tb/`` used to be what made ``--out`` exist)."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


def _rl(algo: str, steps: int = 1):
    return ["rl", "--policy", "{model}", "--prompts", "{prompts}", "--reward", "regex:pattern=a", "--algo", algo,
            "--max-steps", str(steps), "--prompts-per-step", "2", "--samples-per-prompt", "2",
            "--max-new-tokens", "4", "--micro-batch-size", "8"]


TRAIN = ["--max-steps", "1", "--batch-size", "2", "--micro-batch-size", "2", "--warmup-steps", "0"]
COMMANDS = {
    "sft": ["sft", "--model", "{model}", "--data", "{sft}", *TRAIN, "--eval-fraction", "0"],
    "dpo": ["dpo", "--policy", "{model}", "--data", "{pairs}", *TRAIN, "--eval-fraction", "0"],
    "rm-train": ["rm", "train", "--base", "{model}", "--data", "{pairs}", *TRAIN, "--eval-fraction", "0",
                 "--max-length", "32"],
    "rm-train-ensemble": ["rm", "train", "--base", "{model}", "--data", "{pairs}", *TRAIN, "--eval-fraction", "0",
                          "--max-length", "32", "--ensemble", "2", "--ensemble-mode", "models"],
    **{f"rl-{a}": _rl(a) for a in ("ppo", "nlpo", "grpo", "rloo", "reinforce")},
    "agent-sft": ["agent", "sft", "--policy", "{model}", "--games", "2", "--max-turns", "3", *TRAIN],
    "agent-train": ["agent", "train", "--policy", "{model}", "--games", "2", "--max-turns", "3", "--max-steps", "1",
                    "--episodes-per-step", "2", "--micro-batch-size", "8"],
}
# what each command leaves in its --out: a checkpoint with the metrics of its steps
OUTPUTS = {"rm-train-ensemble": ["reward_config.json", "member_0/metrics.csv", "member_1/metrics.csv"]}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_trainer_starts_in_an_out_dir_that_does_not_exist(name, data, toy_model_dir, tmp_path, capsys,
                                                                no_tensorboard):
    out = tmp_path / "runs" / "not" / "yet" / name  # neither it nor its parents exist
    argv = [a.format(model=toy_model_dir, **data) for a in COMMANDS[name]]
    assert cli_main([*argv, "--out", str(out), "--json"]) == 0, capsys.readouterr().err
    for f in OUTPUTS.get(name, ["metrics.csv", "langrl_state.pt", "langrl_config.yaml", "langrl_metrics.json"]):
        assert (out / f).is_file(), f
    if name.startswith("rl-"):  # the default --eval-every 0 and --log-samples 2: the two responses of the iteration
        assert [json.loads(line)["step"] for line in (out / "samples.jsonl").read_text().splitlines()] == [1, 1]


@pytest.mark.parametrize("argv,written", [
    (["agent", "eval", "--policy", "{model}", "--games", "2", "--max-turns", "2", "--baseline-episodes", "1"],
     "eval.json"),
    (["rm", "score", "--model", "{rm}", "--data", "{pairs}"], None),
    (["dpo", "reward", "--policy", "{model}", "--ref", "{model}", "--data", "{pairs}"], None),
])
def test_commands_writing_a_file_create_its_folder(argv, written, data, toy_model_dir, tmp_path, capsys):
    rm = tmp_path / "rm"
    if "{rm}" in argv:
        assert cli_main([a.format(model=toy_model_dir, **data) for a in COMMANDS["rm-train"]] + ["--out", str(rm),
                                                                                                   "--json"]) == 0
    target = tmp_path / "new" / "folder" / ("out" if written else "out.jsonl")
    argv = [a.format(model=toy_model_dir, rm=rm, **data) for a in argv]
    assert cli_main([*argv, "--out", str(target), "--json"]) == 0, capsys.readouterr().err
    assert (target / written).is_file() if written else target.is_file()


class Killed(BaseException):
    """The process dying inside a save (not an Exception: nothing may catch it and carry on)."""


def _steps(out: Path) -> list[int]:
    with open(out / "metrics.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


# (trainer module whose save_checkpoint is interrupted, command): 3 steps, a checkpoint after every step
RESUMABLE = {
    "sft": ("setup", COMMANDS["sft"]),
    "dpo": ("setup", COMMANDS["dpo"]),
    "rm-train": ("setup", COMMANDS["rm-train"]),
    "rl-ppo": ("setup", _rl("ppo")),  # the shared trainer set-up saves every checkpoint
    "rl-grpo": ("setup", _rl("grpo")),
    "agent-train": ("setup", COMMANDS["agent-train"]),
}


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_a_run_killed_while_saving_resumes_with_one_metrics_row_per_step(name, data, toy_model_dir, tmp_path,
                                                                         monkeypatch, capsys):
    import importlib

    module = importlib.import_module(f"langrl.train.{RESUMABLE[name][0]}")
    argv = [a.format(model=toy_model_dir, **data) for a in RESUMABLE[name][1]]
    argv[argv.index("--max-steps") + 1] = "3"
    argv += ["--save-every", "1", "--json"]
    assert cli_main([*argv, "--out", str(tmp_path / "straight")]) == 0
    real = module.save_checkpoint

    def dies_saving_step_3(out, **kw):
        if kw["state"]["step"] == 3:  # metrics.csv already has step 3; the last checkpoint is step 2
            raise Killed
        return real(out, **kw)

    monkeypatch.setattr(module, "save_checkpoint", dies_saving_step_3)
    with pytest.raises(Killed):
        cli_main([*argv, "--out", str(tmp_path / "killed")])
    assert _steps(tmp_path / "killed") == [1, 2, 3]
    monkeypatch.setattr(module, "save_checkpoint", real)
    assert cli_main([*argv, "--out", str(tmp_path / "killed"), "--resume", str(tmp_path / "killed")]) == 0
    assert _steps(tmp_path / "killed") == _steps(tmp_path / "straight") == [1, 2, 3]  # step 3 once, not twice
    straight, resumed = _rows(tmp_path / "straight"), _rows(tmp_path / "killed")
    for a, b in zip(straight, resumed):  # and it is the same step 3: the resumed run is the uninterrupted one
        assert {k: v for k, v in a.items() if not _timing(k)} == {k: v for k, v in b.items() if not _timing(k)}
    capsys.readouterr()


def _rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _timing(column: str) -> bool:
    return column.startswith("time/") or column.endswith("_per_s")


# --- temporaries of killed saves and builds -------------------------------------------------------------------------

def _child(code: str, **env) -> "subprocess.Popen":
    import subprocess

    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def _dead_pid() -> int:
    child = _child("pass")
    child.wait()  # exited and reaped: no process has this pid now
    return child.pid


@pytest.fixture()
def live_pid():
    child = _child("import time; time.sleep(120)")
    yield child.pid
    child.kill()
    child.wait()


def test_only_temporaries_of_dead_processes_on_this_host_are_removed(tmp_path, live_pid):
    from langrl.io import _host, remove_stale_temps

    host, dead = _host(), _dead_pid()
    stale = [f".run.{dead}-{host}.abcd_123.tmp", f".run.{dead}-{host}.efgh4567.tmp", f".run.old-{dead}-{host}",
             f".run.old-{dead}"]  # a file, a half-built directory, a partial replaced one, an older version's
    kept = [f".run.{live_pid}-{host}.ijkl8901.tmp", f".run.old-{live_pid}-{host}",  # a live run's
            f".run.{dead}-elsewhere.mnop2345.tmp",  # another machine's (its pid cannot be checked from here)
            ".run.qrst6789.tmp",  # no owner in the name
            f".other.{dead}-{host}.uvwx0123.tmp", "run"]  # another name; the run itself
    for name in stale + kept:
        if name.endswith("abcd_123.tmp") or "mnop" in name or "qrst" in name or "uvwx" in name:
            (tmp_path / name).write_bytes(b"x" * 100)
        else:
            (tmp_path / name).mkdir()
            (tmp_path / name / "model.safetensors").write_bytes(b"x" * 100)
    removed = remove_stale_temps(tmp_path, "run")
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    # a caller holding the lock every writer of "run" takes may also remove the one without an owner
    assert [p.name for p in remove_stale_temps(tmp_path, "run", ownerless=True)] == [".run.qrst6789.tmp"]


KILLED_SAVE = """
import os, shutil, sys
from langrl.io import atomic_dir
real = shutil.rmtree
def rmtree(path, *a, **k):  # die while deleting the replaced checkpoint: a partial .old- directory stays
    if ".old-" in str(path) and os.path.exists(path) and sys.argv[-1] == "old":
        os.kill(os.getpid(), 9)
    return real(path, *a, **k)
shutil.rmtree = rmtree
with atomic_dir(os.environ["OUT"]) as tmp:
    (tmp / "model.safetensors").write_bytes(b"0" * 1000)
    print(tmp, flush=True)
    if sys.argv[-1] == "tmp":
        os.kill(os.getpid(), 9)  # die half-way through the save: its temporary sibling stays
    if sys.argv[-1] == "live":
        import time
        time.sleep(120)  # a run saving right now
"""


def _save_then(what: str, out: Path) -> "subprocess.Popen":
    child = _child(KILLED_SAVE.replace('sys.argv[-1]', repr(what)), OUT=str(out))
    child.temp = Path(child.stdout.readline().strip())
    return child


def test_a_run_removes_what_killed_saves_left_and_keeps_a_live_saves_files(data, toy_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [a.format(model=toy_model_dir, **data) for a in COMMANDS["sft"]] + ["--out", str(out), "--json"]
    assert cli_main(argv) == 0
    killed, old = _save_then("tmp", out), _save_then("old", out)
    live = _save_then("live", out)
    try:
        assert killed.wait() == old.wait() == -9
        stale = [killed.temp, tmp_path / f".run.old-{old.pid}-{_host()}"]
        assert all(p.exists() for p in stale) and live.temp.exists()
        assert not (out / "langrl_state.pt").exists()  # `old` swapped its own save in before it died
        assert cli_main(argv + ["--overwrite", "true"]) == 0
        assert not any(p.exists() for p in stale)  # removed at the start of the next run
        assert (live.temp / "model.safetensors").is_file() and live.poll() is None  # the live save is untouched
        assert "removed 2 temporary file(s) left by killed runs" in capsys.readouterr().err
    finally:
        live.kill()
        live.wait()


def _host() -> str:
    from langrl.io import _host as host

    return host()


TINY = dict(tasks=("arithmetic",), vocab_size=300, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
            corpus_docs=60, block_size=32, batch_size=2, steps=2, warmup=1)


def test_a_model_build_removes_what_a_killed_build_left(tmp_path, monkeypatch):
    from langrl.models.tiny import TinySettings, ensure_tiny, tiny_path

    monkeypatch.setenv("LANGRL_HOME", str(tmp_path))
    path = tiny_path(TinySettings(**TINY))
    killed = _save_then("tmp", path)  # a build killed half-way: an empty temporary directory
    assert killed.wait() == -9 and killed.temp.is_dir() and killed.temp.parent == path.parent
    older = path.parent / f".{path.name}.k2jx_9a0.tmp"  # what a build of an older version (no owner named) left
    older.mkdir()
    live = _save_then("live", tmp_path / "models" / "tiny-other-build")  # another build, running now
    try:
        assert ensure_tiny(TinySettings(**TINY), quiet=True) == path and (path / "langrl_tiny.json").is_file()
        assert not killed.temp.exists() and not older.exists() and live.temp.is_dir()
        assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")) == [live.temp.name]
    finally:
        live.kill()
        live.wait()


# --- the build lock -------------------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from langrl.models._lock import file_lock
with file_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(lock: Path, seconds: float) -> "subprocess.Popen":
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(seconds)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.mark.parametrize("report_every,hold,reports", [(30.0, 1.0, 1), (0.4, 1.5, 3)])
def test_a_process_waiting_for_the_build_lock_says_who_holds_it(report_every, hold, reports, tmp_path, capsys):
    import socket
    import time

    from langrl.models._lock import file_lock, holder_path

    lock = tmp_path / "models" / ".tiny-x.lock"
    child = _hold(lock, hold)
    t0 = time.time()
    with file_lock(lock, report_every=report_every):
        waited = time.time() - t0
        mine = json.loads(holder_path(lock).read_text())
    child.wait()
    lines = capsys.readouterr().err.strip().splitlines()
    # once on arrival, then every report_every s: 1 line for a 1 s wait at 30 s; ~1.5 s at 0.4 s: at 0, 0.4, 0.8,
    # 1.2 s (the last can fall after the release)
    assert waited > 0.5 and reports <= len(lines) <= reports + 1, lines
    assert lines[0].startswith(f"langrl: waiting for {lock}: held by pid {child.pid} on {socket.gethostname()} "
                               f"since 20")
    assert "s ago): " in lines[0] and "-c" in lines[0]  # the holder's age and command
    assert mine["pid"] == os.getpid() and not holder_path(lock).exists()  # each holder says who it is, then clears
