"""The code sandbox: hostile programs never crash the caller, escape, or leave processes behind."""
from __future__ import annotations

import os
import time
import uuid

import psutil
import pytest

from langrl.rewards.sandbox import isolation, run_tests, sandbox_available
from sandbox_helpers import leftovers

HAS_NS = sandbox_available()  # bubblewrap: new user, PID, network, mount ... namespaces


def test_passing_and_failing_tests_are_counted():
    r = run_tests("def add(a, b):\n    return a + b", ["assert add(1, 2) == 3", "assert add(2, 2) == 5",
                                                      "assert add('a', 'b') == 'ab'"])
    assert (r.status, r.passed, r.total) == ("failed", 2, 3)
    assert r.tests == ["pass", "error", "pass"] and "AssertionError" in r.detail
    assert run_tests("x = 1", ["assert x == 1"]).status == "ok"


def test_syntax_error_and_crash_are_reported():
    r = run_tests("def f(:\n  pass", ["assert True"])
    assert (r.status, r.passed) == ("syntax_error", 0) and "SyntaxError" in r.detail
    r = run_tests("raise ValueError('boom')", ["assert True"])
    assert r.status == "crash" and "boom" in r.detail
    r = run_tests("import os\nos._exit(7)", ["assert True"])
    assert r.status == "crash" and r.returncode == 7


def test_infinite_loop_times_out_and_keeps_earlier_passes():
    t0 = time.perf_counter()
    r = run_tests("def spin():\n    while True:\n        pass", ["assert 1 == 1", "spin()"], timeout_s=1.0)
    assert time.perf_counter() - t0 < 5
    assert (r.status, r.passed, r.total) == ("timeout", 1, 2)


def test_fork_bomb_is_blocked_and_leaves_nothing():
    marker = uuid.uuid4().hex
    code = f"import os\nMARK = '{marker}'\nwhile True:\n    os.fork()"
    r = run_tests(code, ["assert True"], timeout_s=2.0)
    assert r.status == "blocked" and "os.fork" in r.detail
    assert leftovers(marker) == []


@pytest.mark.skipif(not HAS_NS, reason="bwrap (PID namespace) not available here")
def test_pid_namespace_kills_escaped_children_even_without_the_audit_hook():
    marker = uuid.uuid4().hex
    code = ("import os, sys\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"  # leave the process group: only the PID namespace can still reach it
            f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\n")
    # seccomp=False too: its fork ban would stop the fork itself (tested below); here the PID namespace must clean up
    r = run_tests(code, ["assert True"], timeout_s=2.0, audit=False, seccomp=False)
    assert r.status == "ok"
    time.sleep(0.2)
    assert leftovers(marker) == []


def test_huge_allocation_is_a_memory_error():
    r = run_tests("x = bytearray(10 * 1024 ** 3)", ["assert True"], memory_mb=512)
    assert r.status == "memory" and "MemoryError" in r.detail
    r = run_tests("def f():\n    return bytearray(10 * 1024 ** 3)", ["assert f()", "assert 2 > 1"])
    assert (r.status, r.passed) == ("memory", 1)


def test_socket_is_blocked():
    r = run_tests("import socket\ns = socket.socket()\ns.connect(('1.1.1.1', 80))", ["assert True"])
    assert r.status == "blocked" and "socket" in r.detail
    assert "audit" in r.isolation


@pytest.mark.skipif(not HAS_NS, reason="bwrap (network namespace) not available here")
def test_network_namespace_has_no_route_even_without_the_audit_hook():
    code = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))"
    r = run_tests(code, ["assert True"], audit=False)
    assert r.status == "crash" and "OSError" in r.detail  # Network is unreachable
    assert r.isolation == "bwrap+seccomp" and isolation().startswith("bwrap")


def test_write_outside_the_working_directory_is_blocked(tmp_path):
    target = tmp_path / "escaped.txt"
    r = run_tests(f"open({str(target)!r}, 'w').write('x')", ["assert True"])
    assert r.status == "blocked" and not target.exists()
    r = run_tests(f"import os\nos.symlink({str(target)!r}, 'link')\nopen('link', 'w').write('x')", ["assert True"])
    assert r.status == "blocked" and not target.exists()
    r = run_tests(f"import shutil\nshutil.rmtree({str(tmp_path)!r})", ["assert True"])
    assert r.status == "blocked" and tmp_path.exists()
    # inside the temporary working directory, files work normally
    # (the tests run in the judge, which has its own directory: the candidate's code reads its file back)
    r = run_tests("open('notes.txt', 'w').write('hi')\ndef notes():\n    return open('notes.txt').read()",
                  ["assert notes() == 'hi'"])
    assert r.status == "ok"


def test_output_flood_and_big_files_are_capped():
    r = run_tests("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", ["assert True"], max_file_mb=1,
                  timeout_s=3.0)
    assert r.status == "crash" and "File too large" in r.detail and len(r.stdout) <= 4096


def test_caller_process_is_unharmed():
    me = os.getpid()
    r = run_tests(f"import os, signal\nos.kill({me}, signal.SIGKILL)", ["assert True"])
    assert r.status == "blocked" and psutil.pid_exists(me)
