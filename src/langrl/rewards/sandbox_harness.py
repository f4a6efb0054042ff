"""The two processes of one sandboxed check, as one program: :mod:`langrl.rewards.sandbox` joins this file (what both
roles share: reading the config, the kernel limits, the wire format of values) with ``sandbox_worker.py`` and
``sandbox_judge.py`` and runs the text as ``python -I -S -c TEXT ROLE CFG_FD CHAN_FD``, which ends with ``main()``.
It imports nothing from langrl.

``worker`` runs the candidate's code and then answers the judge's requests (look up a top-level name, call, get an
attribute, iterate, len, bool, index, str) with **data**. ``judge`` never runs the candidate's code: it evaluates the
tests with every name the candidate defined standing for a proxy, and writes the verdict to its own stdout, which only
the parent reads. What crosses from the worker to the judge is JSON decoded into None, bool, int, float, complex, str,
bytes, bytearray and lists, tuples, dicts, sets, frozensets of those, each by exact type (an ``int`` subclass with its
own ``__eq__`` is not an int); any other object stays in the worker as a handle whose ``==`` is identity. So a returned
value compares equal to the expected one only if it is that value, and nothing the worker writes can be a verdict.
"""
import builtins
import json
import os
import resource
import signal
import sys

MAX_LINE = 16 << 20  # the longest reply the judge reads (16 MiB)
SMALL = 1 << 53


def read_config(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return json.loads(b"".join(chunks))


def set_limits(limits):
    """Kernel limits, soft = hard so the candidate cannot raise them (CPU: SIGKILL one second after SIGXCPU)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write raises OSError(EFBIG) instead of killing us
    for name, value in limits.items():
        lim = getattr(resource, name)
        soft, hard = value, value + 1 if name == "RLIMIT_CPU" else value
        cur = resource.getrlimit(lim)[1]
        if cur != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur), min(hard, cur)
        resource.setrlimit(lim, (soft, hard))


def encode(x, handle, depth=0):
    """A JSON-able form of a data value; ``handle(x)`` for anything else (worker: a handle; judge: refuse)."""
    t = type(x)
    if x is None or t is bool or t is str or t is float:
        return x
    if t is int:
        return x if -SMALL < x < SMALL else {"x": format(x, "x")}  # hex: no limit on the number of digits
    if depth > 200:
        raise ValueError("sandbox: value nested too deeply to pass between processes")
    tags = {list: "l", tuple: "t", set: "s", frozenset: "f"}
    if t in tags:
        return {tags[t]: [encode(v, handle, depth + 1) for v in x]}
    if t is dict:
        return {"d": [[encode(k, handle, depth + 1), encode(v, handle, depth + 1)] for k, v in x.items()]}
    if t is bytes:
        return {"b": x.hex()}
    if t is bytearray:
        return {"y": x.hex()}
    if t is complex:
        return {"c": [x.real, x.imag]}
    return handle(x)


def decode(o, remote):
    """The value :func:`encode` wrote; handles become ``remote(tag, payload)``. Anything malformed raises."""
    t = type(o)
    if o is None or t in (bool, int, float, str):
        return o
    if t is not dict or len(o) != 1:
        raise ValueError("malformed value")
    (tag, v), = o.items()
    seq = {"l": list, "t": tuple, "s": set, "f": frozenset}
    if tag in seq and type(v) is list:
        return seq[tag](decode(i, remote) for i in v)
    if tag == "d" and type(v) is list:
        return {decode(k, remote): decode(w, remote) for k, w in v}
    if tag == "x" and type(v) is str:
        return int(v, 16)
    if tag in ("b", "y") and type(v) is str:
        return (bytes if tag == "b" else bytearray).fromhex(v)
    if tag == "c" and type(v) is list and len(v) == 2 and all(type(p) in (int, float) for p in v):
        return complex(v[0], v[1])
    if tag in ("h", "m"):
        return remote(tag, v)
    raise ValueError("malformed value")


def kind(e):
    if isinstance(e, MemoryError):
        return "memory"
    if type(e).__name__ == "SandboxViolation":
        return "blocked"
    return "error"


def describe(e):
    return f"{type(e).__name__}: {e}"[:500]


def main():
    """Run the role named on the command line (``worker``: :func:`worker`; else :func:`judge`)."""
    role, cfg_fd, chan_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cfg = read_config(cfg_fd)
    if role == "worker":
        worker(cfg, chan_fd)
    else:
        judge(cfg, chan_fd)
        os._exit(0)
