"""A sandbox for checking model-written Python against unit tests: one short-lived process per check.

Layers (each one fails closed; together they keep a bad program from hurting the caller or outliving the check):

1. **Process.** A fresh interpreter (``python -I``) per check, started with ``start_new_session=True`` in a temporary
   working directory with a minimal environment and stdin closed; stdout/stderr go to files there (never into our
   memory). On the wall-clock timeout the whole process group is SIGKILLed; after every check the group is killed again
   to reap anything left over.
2. **Kernel limits** (``resource``, set by the harness before the untrusted code runs): RLIMIT_CPU, RLIMIT_AS (memory),
   RLIMIT_NPROC (fork guard; note the kernel does not enforce it for root), RLIMIT_FSIZE (largest file), RLIMIT_CORE=0.
3. **Namespaces**, when ``unshare`` works here: ``unshare -n -p -f --kill-child`` (``-r`` too when not root) puts the
   check in a network namespace with no interfaces and a PID namespace whose processes all die with its first one.
   :func:`isolation` says which is in use: ``"netns+pidns+audit"`` or ``"audit"`` (no unshare).
4. **An audit hook** (PEP 578) installed before the untrusted code runs: creating a socket, fork/exec/spawn/system/
   subprocess, signalling other processes, loading a C library or calling through ctypes, and writing, removing or
   renaming anything outside the working directory raise :class:`SandboxViolation` (a ``PermissionError``). This is
   the network guard when there is no network namespace.

Limits of the design: the tests run in the same interpreter as the code (as HumanEval/MBPP harnesses do), so a
program determined to game its reward can monkeypatch what the tests use; the audit hook is a guard against accidents
and casual escapes, not a security boundary against an adversary with native code. Run untrusted code at scale
inside a container or VM as well.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_HARNESS = r'''
import json, os, resource, signal, sys
cfg = json.load(open(sys.argv[1]))
out = open(cfg["result"], "w", buffering=1)
def emit(**kw):
    out.write(json.dumps(kw) + "\n"); out.flush()
def on_cpu(signum, frame):
    emit(event="limit", reason="cpu_limit"); os._exit(3)
signal.signal(signal.SIGXCPU, on_cpu)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write raises OSError(EFBIG) instead of killing us
for name, value in cfg["limits"].items():
    lim = getattr(resource, name)
    hard = value + 1 if name == "RLIMIT_CPU" else value  # CPU: SIGXCPU at the soft limit, SIGKILL a second later
    cur = resource.getrlimit(lim)[1]
    if cur != resource.RLIM_INFINITY:
        hard, value = min(hard, cur), min(value, cur)
    resource.setrlimit(lim, (value, hard))
WORK = os.path.realpath(cfg["work"])
MY_PID = os.getpid()
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
class SandboxViolation(PermissionError):
    pass
def inside(path):
    if isinstance(path, int):
        return True
    p = os.path.realpath(os.fsdecode(path))
    return p == WORK or p.startswith(WORK + os.sep)
BLOCKED = {"socket.__new__", "socket.connect", "socket.bind", "os.fork", "os.forkpty", "os.system", "os.exec",
           "os.posix_spawn", "os.spawn", "subprocess.Popen", "pty.spawn", "ctypes.dlsym", "ctypes.cdata",
           "ctypes.call_function", "os.setuid", "os.setgid", "os.chroot"}
PATH_EVENTS = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown", "os.symlink", "os.link",
               "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.copytree", "shutil.move",
               "os.chflags", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr"}
def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS)
        if writing and path is not None and not inside(path):
            raise SandboxViolation(f"sandbox: writing outside the working directory is blocked: {path}")
    elif event in BLOCKED:
        raise SandboxViolation(f"sandbox: {event} is blocked")
    elif event == "ctypes.dlopen" and args and args[0] is not None:
        raise SandboxViolation("sandbox: ctypes.dlopen is blocked")
    elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and args and args[0] not in (MY_PID, 0):
        raise SandboxViolation(f"sandbox: {event} of another process is blocked")
    elif event in PATH_EVENTS:
        for a in args:
            if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                raise SandboxViolation(f"sandbox: {event} outside the working directory is blocked: {a}")
if cfg["audit"]:
    sys.addaudithook(hook)
os.chdir(WORK)
def kind(e):
    if isinstance(e, MemoryError):
        return "memory"
    if type(e).__name__ == "SandboxViolation":
        return "blocked"
    return "error"
def describe(e):
    return f"{type(e).__name__}: {e}"[:500]
ns = {"__name__": "solution", "__builtins__": __builtins__}
try:
    code = compile(cfg["code"], "solution.py", "exec")
except (SyntaxError, ValueError) as e:
    emit(event="syntax_error", detail=describe(e)); os._exit(0)
try:
    exec(code, ns)
except BaseException as e:
    emit(event="load_error", kind=kind(e), detail=describe(e)); os._exit(0)
for i, test in enumerate(cfg["tests"]):
    try:
        exec(compile(test, f"test_{i}", "exec"), ns)
        emit(event="test", i=i, ok=True)
    except SyntaxError as e:
        emit(event="test", i=i, ok=False, kind="test_syntax_error", detail=describe(e))
    except BaseException as e:
        emit(event="test", i=i, ok=False, kind=kind(e), detail=describe(e))
emit(event="done")
os._exit(0)
'''

STATUSES = ("ok", "failed", "timeout", "cpu_limit", "memory", "blocked", "syntax_error", "test_syntax_error", "crash")


@dataclass
class SandboxResult:
    """Outcome of one check.

    status: ``ok`` (every test passed), ``failed`` (some assert failed), ``timeout`` (wall clock), ``cpu_limit``,
    ``memory`` (MemoryError under RLIMIT_AS, or killed), ``blocked`` (a sandbox violation), ``syntax_error``,
    ``crash`` (the code raised on load or the process died early), ``test_syntax_error`` (a test does not parse).
    """

    status: str
    passed: int
    total: int
    detail: str = ""
    duration_s: float = 0.0
    isolation: str = ""
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    tests: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


@functools.lru_cache(maxsize=1)
def _unshare_prefix() -> tuple[str, ...]:
    """The ``unshare`` command line that works on this machine (network + PID namespaces), or () if none does."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    candidates = [(exe, "-n", "-p", "-f", "--kill-child")]
    if os.geteuid() != 0:
        candidates.insert(0, (exe, "-r", "-n", "-p", "-f", "--kill-child"))
    for prefix in candidates:
        try:
            r = subprocess.run([*prefix, sys.executable, "-I", "-c", "pass"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return prefix
    return ()


def isolation(audit: bool = True, namespaces: bool = True) -> str:
    """Which isolation a check gets here: ``netns+pidns+audit``, ``netns+pidns``, ``audit`` or ``none``."""
    parts = (["netns", "pidns"] if namespaces and _unshare_prefix() else []) + (["audit"] if audit else [])
    return "+".join(parts) or "none"


def _tail(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_tests(code: str, tests: list[str], *, timeout_s: float = 5.0, memory_mb: int = 1024, max_procs: int = 64,
              max_file_mb: int = 16, audit: bool = True, namespaces: bool = True,
              output_limit: int = 4096) -> SandboxResult:
    """Run ``code`` and then each test (a Python statement block, usually an ``assert``) in one sandboxed process.

    Returns a :class:`SandboxResult` whose ``passed``/``total`` count the tests that ran without raising (tests that
    passed before a timeout still count). ``audit=False`` / ``namespaces=False`` switch a layer off (for tests of the
    other layers only).
    """
    root = Path(tempfile.mkdtemp(prefix="langrl-sandbox-"))
    work = root / "work"
    work.mkdir()
    result_file = root / "result.jsonl"
    cpu_s = max(1, int(timeout_s + 0.999))
    cfg = {"code": code, "tests": list(tests), "work": str(work), "result": str(result_file), "audit": audit,
           "limits": {"RLIMIT_CPU": cpu_s, "RLIMIT_AS": int(memory_mb) << 20, "RLIMIT_NPROC": int(max_procs),
                      "RLIMIT_FSIZE": int(max_file_mb) << 20, "RLIMIT_CORE": 0}}
    (root / "harness.py").write_text(_HARNESS)
    (root / "config.json").write_text(json.dumps(cfg))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    prefix = _unshare_prefix() if namespaces else ()
    cmd = [*prefix, sys.executable, "-I", str(root / "harness.py"), str(root / "config.json")]
    timed_out = False
    start = time.perf_counter()
    try:
        with open(root / "stdout.txt", "wb") as so, open(root / "stderr.txt", "wb") as se:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                                    start_new_session=True, close_fds=True)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            finally:
                _kill_group(proc.pid)  # anything left in the group dies with the check
        duration = time.perf_counter() - start
        events = []
        for line in _tail(result_file, 1 << 20).splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        res = _summarise(events, len(cfg["tests"]), timed_out, proc.returncode, duration, cpu_s)
        res.duration_s, res.returncode = duration, proc.returncode
        res.isolation = "+".join((["netns", "pidns"] if prefix else []) + (["audit"] if audit else [])) or "none"
        res.stdout, res.stderr = _tail(root / "stdout.txt", output_limit), _tail(root / "stderr.txt", output_limit)
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _summarise(events: list[dict], total: int, timed_out: bool, returncode: int | None, duration_s: float,
               cpu_s: int) -> SandboxResult:
    """Turn the harness's event lines and the exit into a status (see :class:`SandboxResult`)."""
    tests = ["not_run"] * total
    passed, first_fail, detail = 0, None, ""
    for ev in events:
        if ev.get("event") == "test" and 0 <= ev.get("i", -1) < total:
            if ev["ok"]:
                tests[ev["i"]] = "pass"
                passed += 1
            else:
                tests[ev["i"]] = ev.get("kind", "error")
                if first_fail is None:
                    first_fail, detail = ev.get("kind", "error"), ev.get("detail", "")
    last = events[-1] if events else {}
    kind = last.get("event")
    if kind == "syntax_error":
        return SandboxResult("syntax_error", 0, total, last.get("detail", ""), tests=tests)
    if kind == "load_error":
        status = {"memory": "memory", "blocked": "blocked"}.get(last.get("kind"), "crash")
        return SandboxResult(status, 0, total, last.get("detail", ""), tests=tests)
    if kind == "limit":
        return SandboxResult(last.get("reason", "cpu_limit"), passed, total, "CPU time limit", tests=tests)
    if timed_out:
        return SandboxResult("timeout", passed, total, "wall-clock timeout", tests=tests)
    if kind != "done":
        if returncode == -signal.SIGKILL:  # the kernel's hard CPU limit, or the OOM killer
            status = "cpu_limit" if duration_s >= cpu_s else "memory"
            return SandboxResult(status, passed, total, f"process killed ({status})", tests=tests)
        if returncode == -signal.SIGXCPU:
            return SandboxResult("cpu_limit", passed, total, "CPU time limit", tests=tests)
        return SandboxResult("crash", passed, total, f"process ended early: exit code {returncode}", tests=tests)
    if passed == total:
        return SandboxResult("ok", passed, total, tests=tests)
    # a zero is explained by the first failing test's kind when that kind is telling (memory, blocked)
    status = first_fail if first_fail in ("memory", "blocked", "test_syntax_error") else "failed"
    return SandboxResult(status, passed, total, detail, tests=tests)
