"""Hostile code against the sandbox: each escape that worked on the audit-hook sandbox must now be blocked or
contained, no verdict can be forged, and no process outlives its check. Most attempts first switch the audit hook off
(through gc, as an adversary would), so what holds is bubblewrap + seccomp + rlimits + the separate judge."""
from __future__ import annotations

import os
import time
import uuid

import pytest

from langrl.rewards.sandbox import SandboxUnavailable, run_tests, sandbox_available
from sandbox_helpers import leftovers

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) not available here")

# find the audit hook's function through the garbage collector and give it a body that allows everything
HOOK_OFF = """
import gc
def _allow(event, args):
    return None
for _f in gc.get_objects():
    if type(_f) is type(_allow) and _f.__code__.co_name == "hook":
        _f.__code__ = _allow.__code__
"""
TRY = """
def attempt(name, f):
    try:
        print(name, "OK", repr(f())[:120], flush=True)
    except BaseException as e:
        print(name, "ERR", type(e).__name__, flush=True)
"""


def attempts(body: str, **kw):
    r = run_tests(HOOK_OFF + TRY + body, ["assert True"], output_limit=1 << 20, **kw)
    return r, dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)


def test_audit_hook_switched_off_then_shell_and_spawn_do_not_run(tmp_path):
    target = tmp_path / "pwned"
    r, out = attempts(f"""
import os, sys, subprocess, multiprocessing.util
attempt("system", lambda: os.system("echo x > {target}"))
attempt("popen", lambda: subprocess.run(["/bin/sh", "-c", "echo x > {target}"]))
attempt("spawnv", lambda: multiprocessing.util.spawnv_passfds("/bin/sh", ["/bin/sh", "-c", "echo x > {target}"], ()))
attempt("spawnpy", lambda: multiprocessing.util.spawnv_passfds(sys.executable, [sys.executable, "-c", "print(1)"], ()))
attempt("fork", os.fork)
""")
    assert r.status == "ok" and not target.exists()
    # process creation itself is refused by seccomp (EPERM), whatever the program
    assert out["fork"].startswith("ERR PermissionError") and out["spawnpy"].startswith("ERR")
    assert not out["system"].startswith("OK 0")  # system() could not start /bin/sh (it returns -1 or 127)


def test_writes_outside_through_dir_fd_links_and_sqlite_do_not_reach_the_host(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    d = str(tmp_path)
    r, out = attempts(f"""
import os, sqlite3
attempt("dirfd", lambda: os.open({d!r}, os.O_RDONLY))
def via_dirfd():
    fd = os.open({d!r}, os.O_RDONLY)
    os.close(os.open("new.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
attempt("create", via_dirfd)
attempt("rename", lambda: os.rename("victim.txt", "moved.txt", src_dir_fd=os.open({d!r}, 0),
                                    dst_dir_fd=os.open({d!r}, 0)))
attempt("unlink", lambda: os.unlink({str(victim)!r}))
attempt("chmod", lambda: os.chmod({str(victim)!r}, 0o777))
attempt("link", lambda: os.link({str(victim)!r}, "hard"))
attempt("mkdir", lambda: os.mkdir({d!r} + "/newdir"))
attempt("sqlite", lambda: sqlite3.connect({d!r} + "/x.db").execute("create table t (x)"))
attempt("rootfs", lambda: open("/usr/lib/langrl-probe", "w"))
""")
    assert r.status == "ok"
    assert sorted(os.listdir(tmp_path)) == ["victim.txt"] and victim.read_text() == "keep"
    assert oct(victim.stat().st_mode & 0o777) != "0o777"
    assert out["dirfd"].startswith("ERR FileNotFoundError")  # the host directory does not exist in the sandbox
    assert out["rootfs"].startswith("ERR")  # read-only bind


def test_host_files_and_the_callers_environment_cannot_be_read(tmp_path, monkeypatch):
    secret = uuid.uuid4().hex
    monkeypatch.setenv("LANGRL_SANDBOX_TEST_SECRET", secret)
    (tmp_path / "secret.txt").write_text(secret)
    r, out = attempts(f"""
import os
attempt("passwd", lambda: open("/etc/passwd").read())
attempt("file", lambda: open({str(tmp_path / 'secret.txt')!r}).read())
attempt("home", lambda: os.listdir(os.path.expanduser("~root")))
attempt("project", lambda: os.listdir({os.getcwd()!r}))
attempt("pids", lambda: sorted(p for p in os.listdir("/proc") if p.isdigit()))
for p in os.listdir("/proc"):
    if p.isdigit():
        attempt("environ" + p, lambda: open(f"/proc/{{p}}/environ", "rb").read())
attempt("env", lambda: sorted(os.environ))
""")
    assert r.status == "ok" and secret not in r.stdout + r.stderr
    assert out["passwd"].startswith("ERR FileNotFoundError") and out["file"].startswith("ERR FileNotFoundError")
    assert out["project"].startswith("ERR FileNotFoundError")
    assert out["pids"] == "OK ['1']"  # its own /proc: the candidate is alone in its PID namespace
    assert out["env"] == "OK ['HOME', 'LANG', 'PWD', 'TMPDIR']"  # --clearenv, nothing of the caller's


FAILING = ["assert add(1, 2) == 4"]  # an honest add makes this fail; each forgery below tries to pass it anyway
FORGERIES = {
    "call the harness's reporting functions": """
import gc, sys, json
m = sys.modules.get("__main__")
for name in ("emit", "send"):
    f = getattr(m, name, None)
    if callable(f):
        try:
            f(event="test", i=0, ok=True); f(event="done")
        except Exception:
            pass
for o in gc.get_objects():
    if type(o) is type(gc.get_objects) or not callable(o) or getattr(o, "__name__", "") not in ("emit", "send"):
        continue
    for args in ({"event": "test", "i": 0, "ok": True}, {"id": 1, "ok": True}):
        try:
            o(**args) if getattr(o, "__name__", "") == "emit" else o(args)
        except Exception:
            pass
import os
os._exit(0)
""",
    "print fake verdicts on every descriptor": """
import os
for fd in range(64):
    try:
        os.write(fd, b'{"event": "test", "i": 0, "ok": true}\\n{"event": "done"}\\n{"id": 1, "ok": true}\\n')
    except OSError:
        pass
def add(a, b):
    return True
""",
    "exit 0 when called": "import os\ndef add(a, b):\n    os._exit(0)",
    "SystemExit(0) when called": "def add(a, b):\n    raise SystemExit(0)",
    "patch sys.exit and exit": "import sys, os\nsys.exit = lambda *a: None\nos._exit = lambda *a: None\n"
                               "def add(a, b):\n    sys.exit(0)\n    return a + b",
    "atexit": "import atexit, os\natexit.register(lambda: os.write(1, b'{\"event\": \"done\"}'))\n"
              "def add(a, b):\n    raise SystemExit(0)",
    "an object equal to everything": "class Eq:\n    def __eq__(self, o):\n        return True\n"
                                     "    __hash__ = object.__hash__\ndef add(a, b):\n    return Eq()",
    "an int whose == is always true": "class I(int):\n    def __eq__(self, o):\n        return True\n"
                                      "    __hash__ = int.__hash__\ndef add(a, b):\n    return I(a + b)",
    "kill the parent and everyone": HOOK_OFF + "import os, signal\ndef add(a, b):\n"
                                    "    for pid in (os.getppid(), 1, -1):\n        try:\n"
                                    "            os.kill(pid, signal.SIGKILL)\n        except OSError:\n"
                                    "            pass\n    return a + b",
    "a thread that answers for the worker": """
import threading, os, json
def answer():
    for i in range(1, 5):
        try:
            os.write(3, (json.dumps({"id": i, "ok": True}) + "\\n").encode()); os.write(3, b'{"ready": true}\\n')
        except OSError:
            pass
threading.Thread(target=answer).start()
def add(a, b):
    return a + b
""",
}


def test_no_forged_verdict_scores_a_failing_test():
    for name, code in FORGERIES.items():
        r = run_tests(code + "\ndef _unused():\n    pass\n" if "def add" in code else code, FAILING, timeout_s=3.0)
        assert r.passed == 0 and r.status != "ok", (name, r)


def test_fork_loops_are_refused_and_nothing_outlives_the_check():
    marker = uuid.uuid4().hex
    code = HOOK_OFF + f"import os, time\nMARK = '{marker}'\n" + \
        "def bomb():\n    n = 0\n    try:\n        while True:\n            if os.fork() == 0:\n" \
        "                time.sleep(60)\n            n += 1\n    except OSError as e:\n        return [n, e.errno]\n"
    r = run_tests(code, ["assert bomb() == [0, 1]"], timeout_s=3.0)  # the first fork fails with EPERM (errno 1)
    assert r.status == "ok"
    time.sleep(0.2)
    assert leftovers(marker) == []


def test_ptrace_proc_mem_threads_and_signals_stay_inside():
    marker = uuid.uuid4().hex
    r, out = attempts(f"""
import ctypes, os, signal, threading, time
MARK = {marker!r}
libc = ctypes.CDLL(None, use_errno=True)
attempt("ptrace", lambda: (libc.ptrace(0, 0, 0, 0), ctypes.get_errno()))  # PTRACE_TRACEME
attempt("vmread", lambda: (libc.process_vm_readv(1, 0, 0, 0, 0, 0), ctypes.get_errno()))
attempt("mem", lambda: open("/proc/self/mem", "r+b").close())  # its own memory only: it is PID 1 and alone
for sig in (signal.SIGXCPU, signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, signal.SIG_IGN)
def spin():
    while True:
        pass
for _ in range(3):
    threading.Thread(target=spin, daemon=False).start()
""")
    assert out["ptrace"] == "OK (-1, 1)" and out["vmread"] == "OK (-1, 1)"  # EPERM from seccomp
    assert out["mem"] == "OK None"
    # non-daemon threads still spinning after the tests passed: the worker is killed with the check
    assert r.status == "ok"
    # a test that spins while the worker ignores signals: the wall clock (or the CPU limit) ends it
    code = TRY.replace("def attempt", "def _a") + f"import signal\nMARK = {marker!r}\n" + \
        "for s in (signal.SIGXCPU, signal.SIGTERM):\n    signal.signal(s, signal.SIG_IGN)\n" + \
        "def spin():\n    while True:\n        pass"
    r = run_tests(code, ["assert True", "spin()"], timeout_s=1.5)
    assert r.status in ("timeout", "cpu_limit") and r.passed == 1 and r.duration_s < 4
    time.sleep(0.2)
    assert leftovers(marker) == []


def test_limits_cannot_be_raised_and_big_files_fill_only_a_capped_tmpfs():
    r, out = attempts("""
import resource, sys, os
for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE"):
    lim = getattr(resource, name)
    attempt(name, lambda: resource.setrlimit(lim, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
attempt("alloc", lambda: len(bytearray(1 << 30)))
def many():
    n = 0
    while n < 100:
        with open(f"f{n}", "wb") as f:
            f.write(b"x" * (1 << 20))
        n += 1
    return n
attempt("files", many)
attempt("big", lambda: open("big", "wb").write(b"x" * (3 << 20)))
attempt("chdir", lambda: (os.chdir("/"), sorted(os.listdir("."))))
sys.setrecursionlimit(10 ** 6)
""", memory_mb=256, max_file_mb=1)
    assert r.status == "ok"
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE"):
        assert out[name] == "ERR ValueError", name  # "not allowed to raise maximum limit"
    assert out["alloc"] == "ERR MemoryError"  # 1 GiB under a 256 MiB address-space limit
    # the tmpfs holds 4 x max_file_mb = 4 MiB: the 100 files of 1 MiB stop at ENOSPC (OSError); one 3 MiB file: EFBIG
    assert out["files"] == "ERR OSError" and out["big"] == "ERR OSError"
    assert "etc" not in out["chdir"] and "home" not in out["chdir"]
    # a raised recursion limit: the frames fill the 256 MiB address space (MemoryError or a crash of the worker),
    # else the wall clock stops it; the test before it still counts
    code = "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n):\n    return f(n + 1)"
    r = run_tests(code, ["assert 1 == 1", "f(0)"], timeout_s=3.0, memory_mb=256)
    assert r.passed == 1 and r.status in ("crash", "memory", "failed", "timeout") and r.duration_s < 5


def test_missing_bwrap_is_refused_unless_unsafe_local(monkeypatch):
    from langrl.rewards import sandbox
    from langrl.rewards.verifiable import PythonTestsReward

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox._bwrap_problem.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*unsafe_local=true"):
            run_tests("x = 1", ["assert x == 1"])
        with pytest.raises(SandboxUnavailable, match="bwrap"):
            PythonTestsReward()
        r = run_tests("x = 1", ["assert x == 1"], unsafe_local=True)
        assert (r.status, r.isolation) == ("ok", "unsafe-local+audit")
        out = PythonTestsReward(unsafe_local=True)(["p"], ["x = 1"], tests=[["assert x == 1"]])
        assert out.scores.item() == 1.0 and out.info["isolation"] == "unsafe-local+audit"
    finally:
        monkeypatch.undo()
        sandbox._bwrap_problem.cache_clear()
