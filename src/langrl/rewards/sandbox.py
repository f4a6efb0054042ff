"""A sandbox for checking model-written Python against unit tests, built to hold against code that tries to cheat.

A policy under RL pressure finds whatever pays, so the candidate's code is treated as hostile. One check is two
processes, each in its own **bubblewrap** sandbox (``bwrap``, Debian's ``bubblewrap``), talking over two pipes:

- the **worker** runs the candidate's code (plus the sample's setup) and answers requests with data;
- the **judge** never runs the candidate's code. It runs the tests, where each name the candidate defined is a proxy:
  ``add(1, 2)`` sends the call to the worker and gets back a *data* value (JSON decoded by exact type into None, bool,
  int, float, complex, str, bytes and lists/tuples/dicts/sets of those; any other object stays a handle in the
  worker, and a handle is equal only to itself). The judge writes one line per test to its stdout, which only the
  parent reads. See :mod:`langrl.rewards.sandbox_harness` (with ``sandbox_worker.py`` and ``sandbox_judge.py``).

So the result channel cannot be forged: nothing the worker can write is a verdict, and an assert passes only when the
worker returned a value equal to the expected one (an object whose ``__eq__`` always says yes stays in the worker, and
the expected value never reaches it). Exiting with 0, printing a fake verdict, patching ``sys.exit``, ``atexit``,
calling the harness's own functions or killing a process only end the worker early: the tests not yet passed fail.

Each sandbox (see :func:`bwrap_argv`): new user, mount, PID, network, IPC, UTS and cgroup namespaces
(``--unshare-all``), the candidate as PID 1 and alone there (``--as-pid-1``), uid/gid 65534 with no capabilities, no
nested user namespaces, an empty root with read-only binds of only the interpreter, its standard library (site-packages
hidden) and the system shared libraries, a private tmpfs ``/tmp`` (size-capped) with the working directory
``/tmp/work``, its own ``/proc`` and a minimal ``/dev``, an empty environment, a new session (no terminal injection),
``--die-with-parent``; plus a seccomp filter (x86_64; a BPF program built here) that refuses process creation (fork,
vfork, clone without CLONE_THREAD; threads still work), ptrace, process_vm_readv/writev, mount, unshare/setns, bpf,
perf_event_open, userfaultfd, keyctl, io_uring, kexec, modules, swap, reboot and clock setting. The harness sets
rlimits before the candidate's code runs, soft = hard so they cannot be raised: CPU, AS (memory), NPROC (threads; the
kernel exempts the host's root from it, and seccomp's fork ban is then what stops fork loops), FSIZE, NOFILE, CORE=0.
The parent kills both process groups at the wall-clock timeout and after every check; with the PID namespaces that
leaves nothing behind.

An audit hook (PEP 578) still runs in the worker to *name* what was tried (status ``blocked``: sockets, fork/exec,
ctypes, writes outside the working directory, signalling others). It is not a boundary: the candidate can remove it,
and bwrap + seccomp + rlimits are what hold then.

Where bwrap is missing or cannot start, :func:`run_tests` refuses (:class:`SandboxUnavailable`, naming how to install
it) unless ``unsafe_local=True``: the same two processes, rlimits and audit hook, but no namespaces or seccomp: the
code can read your files and environment (e.g. API keys through ``/proc``), use the network, start processes that
outlive the check and tamper with the judge. Use it only for code you trust.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from langrl.errors import InputError

# the program both sandboxed processes run (``python -I -S -c``): what the roles share, each role, then the dispatch
_HARNESS = "\n\n".join(Path(__file__).with_name(f"sandbox_{part}.py").read_text(encoding="utf-8")
                        for part in ("harness", "worker", "judge")) + "\n\nmain()\n"
STATUSES = ("ok", "failed", "timeout", "cpu_limit", "memory", "blocked", "syntax_error", "test_syntax_error", "crash")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), or "
                "pass unsafe_local=true (e.g. --reward python-tests:unsafe_local=true) to run model-written code "
                "without isolation: it can then read your files and environment (API keys), use the network and "
                "forge its own score")
SANDBOX_UID = 65534  # nobody
SANDBOX_WORK = "/tmp/work"  # the working directory inside the sandbox, on its private tmpfs


class SandboxUnavailable(InputError):
    """bwrap is missing or does not work here, and ``unsafe_local`` was not asked for."""


@dataclass
class SandboxResult:
    """Outcome of one check.

    status: ``ok`` (every test passed), ``failed`` (some assert failed), ``timeout`` (wall clock), ``cpu_limit``,
    ``memory`` (MemoryError under RLIMIT_AS, or killed), ``blocked`` (a sandbox violation), ``syntax_error``,
    ``crash`` (the code raised on load or the process died early), ``test_syntax_error`` (a test does not parse).
    ``returncode`` is the candidate's (worker's) process's; ``stdout``/``stderr`` the tails of its output.
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


# x86_64 syscall numbers refused with EPERM (process creation is handled separately)
_DENY_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "perf_event_open": 298, "bpf": 321,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163, "syslog": 103,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "kcmp": 312, "fanotify_init": 300, "quotactl": 179,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "iopl": 172, "ioperm": 173, "uselib": 134, "vhangup": 153, "fork": 57, "vfork": 58,
}
_CLONE, _CLONE3, _CLONE_THREAD = 56, 435, 0x00010000


def seccomp_program() -> bytes | None:
    """The seccomp BPF program (``struct sock_filter[]``) for ``bwrap --seccomp``, or None off x86_64.

    Wrong architecture or an x32 call: kill. A denied call: EPERM. clone3: ENOSYS (glibc falls back to clone), clone:
    allowed only with CLONE_THREAD (threads yes, processes no). Everything else: allowed.
    """
    if platform.machine() != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill, errno = 0x7FFF0000, 0x80000000, 0x00050000
    ins = [(ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill),  # seccomp_data.arch == AUDIT_ARCH_X86_64
           (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, kill)]  # seccomp_data.nr; x32 ABI: kill
    for nr in sorted(_DENY_X86_64.values()):
        ins += [(jeq, 0, 1, nr), (ret, 0, 0, errno | 1)]  # EPERM
    ins += [(jeq, 0, 1, _CLONE3), (ret, 0, 0, errno | 38)]  # ENOSYS
    ins += [(jeq, 0, 4, _CLONE), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_THREAD), (ret, 0, 0, allow),  # args[0] low word
            (ret, 0, 0, errno | 1)]
    ins += [(ret, 0, 0, allow)]
    return b"".join(struct.pack("<HBBI", *i) for i in ins)


def _interpreter() -> tuple[str, list[str]]:
    """The real interpreter (not a venv's link) and the paths it needs: itself, its stdlib, libpython."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    stdlib = os.path.dirname(os.__file__)  # the base interpreter's (a venv's own lib dir is not needed)
    dynload = sysconfig.get_config_var("DESTSHARED") or stdlib
    paths = {exe, stdlib} | ({dynload} if not dynload.startswith(stdlib + os.sep) else set())
    libdir, so = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and so and os.path.exists(os.path.join(libdir, so)):
        paths.add(os.path.realpath(os.path.join(libdir, so)))
    return exe, sorted(p for p in paths if os.path.exists(p))


def bwrap_argv(bwrap: str, *, tmpfs_bytes: int, seccomp_fd: int | None) -> list[str]:
    """The bwrap command line (up to the sandboxed command) of one sandbox; see the module docstring."""
    exe, needed = _interpreter()
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID), "--cap-drop", "ALL", "--as-pid-1", "--die-with-parent", "--new-session",
            "--clearenv",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "HOME", SANDBOX_WORK, "--setenv", "TMPDIR", SANDBOX_WORK,
            "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev"]
    for d in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/lib32", "/usr/lib32"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    for p in needed:
        argv += ["--ro-bind", p, p]
    for p in needed:  # hide the base interpreter's own site-packages (python -S does not import them either)
        site = os.path.join(p, "site-packages")
        if os.path.isdir(site):
            argv += ["--tmpfs", site]
    argv += ["--size", str(tmpfs_bytes), "--tmpfs", "/tmp", "--dir", SANDBOX_WORK, "--chdir", SANDBOX_WORK,
             "--remount-ro", "/"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return argv


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)  # close-on-exec; passed to a child explicitly
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.lru_cache(maxsize=1)
def _bwrap_problem() -> str | None:
    """None when bwrap runs a sandboxed interpreter here, else why not (cached for the process)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    prog = seccomp_program()
    fds = [_memfd("seccomp", prog)] if prog else []
    try:
        argv = bwrap_argv(bwrap, tmpfs_bytes=1 << 20, seccomp_fd=fds[0] if fds else None)
        r = subprocess.run([*argv, _interpreter()[0], "-I", "-S", "-c", "pass"], capture_output=True, timeout=30,
                           pass_fds=fds, env={}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap could not start: {e}"
    finally:
        for fd in fds:
            os.close(fd)
    if r.returncode != 0:
        return f"bwrap does not work here: {r.stderr.decode('utf-8', 'replace').strip()[:300]}"
    return None


def sandbox_available() -> bool:
    """True when bubblewrap works here (the checks are then isolated)."""
    return _bwrap_problem() is None


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` (naming how to install bwrap) unless the sandbox works here."""
    problem = _bwrap_problem()
    if problem is not None:
        raise SandboxUnavailable(f"python-tests: {problem}; {INSTALL_HINT}")


def isolation(audit: bool = True, seccomp: bool = True, unsafe_local: bool = False) -> str:
    """The isolation a check gets: ``bwrap+seccomp+audit`` (here, by default), ``unsafe-local+audit``, ..."""
    parts = ["unsafe-local"] if unsafe_local else ["bwrap"] + (["seccomp"] if seccomp and seccomp_program() else [])
    return "+".join(parts + (["audit"] if audit else []))


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


def run_tests(code: str, tests: list[str], *, setup: str = "", timeout_s: float = 5.0, memory_mb: int = 1024,
              max_procs: int = 64, max_file_mb: int = 16, audit: bool = True, seccomp: bool = True,
              unsafe_local: bool = False, output_limit: int = 4096) -> SandboxResult:
    """Run ``code`` (then ``setup``) in a sandboxed worker and judge each test (a Python statement block, usually an
    ``assert``) in a separate sandboxed judge; see the module docstring.

    Returns a :class:`SandboxResult` whose ``passed``/``total`` count the tests that ran without raising (tests that
    passed before a timeout still count). ``audit=False`` / ``seccomp=False`` switch a layer off (for tests of the
    other layers only). Raises :class:`SandboxUnavailable` where bwrap does not work, unless ``unsafe_local``.
    """
    if not unsafe_local:
        require_sandbox()
    root = Path(tempfile.mkdtemp(prefix="langrl-sandbox-"))
    work = root / "work"
    work.mkdir()
    cpu_s = max(1, int(timeout_s + 0.999))
    limits = {"RLIMIT_CPU": cpu_s, "RLIMIT_AS": int(memory_mb) << 20, "RLIMIT_NPROC": int(max_procs),
              "RLIMIT_FSIZE": int(max_file_mb) << 20, "RLIMIT_NOFILE": 256, "RLIMIT_CORE": 0}
    worker_cfg = {"code": code + ("\n" + setup if setup else ""), "limits": limits, "audit": audit,
                  "work": str(work) if unsafe_local else SANDBOX_WORK}
    judge_cfg = {"code": code, "setup": setup, "tests": list(tests), "limits": limits}
    prog = seccomp_program() if seccomp and not unsafe_local else None
    fds: list[int] = []
    procs: list[subprocess.Popen] = []
    timed_out, start = False, time.perf_counter()
    try:
        cfg_w = _memfd("worker", json.dumps(worker_cfg).encode())
        cfg_j = _memfd("judge", json.dumps(judge_cfg).encode())
        fds += [cfg_w, cfg_j]
        # one seccomp fd per sandbox: bwrap reads it to the end, and a shared file offset would leave the next empty
        secs = [_memfd("seccomp", prog) for _ in range(2)] if prog else [None, None]
        fds += [s for s in secs if s is not None]
        a_r, a_w = os.pipe()  # judge -> worker: requests
        b_r, b_w = os.pipe()  # worker -> judge: replies
        fds += [a_r, a_w, b_r, b_w]
        prefixes = [[] if unsafe_local else bwrap_argv(shutil.which("bwrap") or "bwrap", seccomp_fd=sec,
                                                        tmpfs_bytes=4 * (int(max_file_mb) << 20)) for sec in secs]
        extras = [(sec,) if sec is not None else () for sec in secs]
        env = {"LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work)} if unsafe_local else {}
        py = [_interpreter()[0], "-I", "-S", "-c", _HARNESS]
        with open(root / "stdout.txt", "wb") as so, open(root / "stderr.txt", "wb") as se, \
                open(root / "verdict.jsonl", "wb") as vo, open(root / "judge.txt", "wb") as je:
            common = dict(cwd=work, env=env, start_new_session=True, close_fds=True)
            procs.append(subprocess.Popen([*prefixes[0], *py, "worker", str(cfg_w), str(b_w)], stdin=a_r,
                                          stdout=so, stderr=se, pass_fds=(cfg_w, b_w, *extras[0]), **common))
            procs.append(subprocess.Popen([*prefixes[1], *py, "judge", str(cfg_j), str(a_w)], stdin=b_r,
                                          stdout=vo, stderr=je, pass_fds=(cfg_j, a_w, *extras[1]), **common))
            for fd in fds:
                os.close(fd)
            fds.clear()
            worker, judge = procs
            try:
                judge.wait(timeout=max(0.01, timeout_s - (time.perf_counter() - start)))
                worker.wait(timeout=0.5)  # it ends on its own when the judge hangs up, unless it is busy
            except subprocess.TimeoutExpired:
                timed_out = judge.poll() is None
        duration = time.perf_counter() - start
    finally:
        for p in procs:
            _kill_group(p.pid)  # anything left in the groups dies with the check
            p.wait()
        for fd in fds:
            os.close(fd)
    try:
        events = []
        for line in _tail(root / "verdict.jsonl", 1 << 22).splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        rc = _exit_status(worker.returncode, bwrap=not unsafe_local)
        res = _summarise(events, len(judge_cfg["tests"]), timed_out, rc, duration, cpu_s)
        res.duration_s, res.returncode = duration, rc
        res.isolation = isolation(audit, seccomp, unsafe_local)
        res.stdout, res.stderr = _tail(root / "stdout.txt", output_limit), _tail(root / "stderr.txt", output_limit)
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _exit_status(rc: int | None, bwrap: bool) -> int | None:
    """bwrap reports a child killed by signal N as exit 128 + N; give it as -N, as subprocess does."""
    return -(rc - 128) if bwrap and rc is not None and 128 < rc < 160 else rc


def _summarise(events: list[dict], total: int, timed_out: bool, returncode: int | None, duration_s: float,
               cpu_s: int) -> SandboxResult:
    """Turn the judge's event lines and the worker's exit into a status (see :class:`SandboxResult`)."""
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
    if kind == "load_error" and not last.get("gone"):
        status = {"memory": "memory", "blocked": "blocked"}.get(last.get("kind"), "crash")
        return SandboxResult(status, 0, total, last.get("detail", ""), tests=tests)
    if timed_out:
        return SandboxResult("timeout", passed, total, "wall-clock timeout", tests=tests)
    if kind != "done":  # the worker died (while loading, or during test i), or the judge did
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
