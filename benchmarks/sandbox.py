"""Per-check overhead of the python-tests sandbox: bubblewrap (worker + judge, seccomp) vs ``unsafe_local``.

One check = a two-line solution and ``n_tests`` trivial asserts, run ``--repeats`` times one after another (no
parallel checks). Prints one JSON line: median and p90 milliseconds per check for each mode and their difference.

    python benchmarks/sandbox.py [--repeats 30] [--tests 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from langrl.rewards.sandbox import isolation, run_tests, sandbox_available

CODE = "def add(a, b):\n    return a + b\n"


def measure(repeats: int, n_tests: int, unsafe_local: bool) -> list[float]:
    tests = [f"assert add({i}, 1) == {i + 1}" for i in range(n_tests)]
    run_tests(CODE, tests, unsafe_local=unsafe_local)  # warm the page cache and the bwrap probe
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = run_tests(CODE, tests, unsafe_local=unsafe_local)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status == "ok", r
    return out


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 1), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--tests", type=int, default=3)
    args = ap.parse_args()
    res = {"tests_per_check": args.tests, "repeats": args.repeats}
    res["unsafe_local"] = summary(measure(args.repeats, args.tests, True))
    if sandbox_available():
        res["bwrap"] = dict(summary(measure(args.repeats, args.tests, False)), isolation=isolation())
        res["bwrap_extra_ms"] = round(res["bwrap"]["median_ms"] - res["unsafe_local"]["median_ms"], 1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
