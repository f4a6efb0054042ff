"""The two processes of one sandboxed check; :mod:`langrl.rewards.sandbox` runs this file's text as
``python -I -S -c TEXT ROLE CFG_FD CHAN_FD`` (it imports nothing from langrl).

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


AUDIT_HOOK = r'''
import os, sys
WORK = os.path.realpath(os.getcwd())
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
sys.addaudithook(hook)
'''


def flush_and_exit():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:  # noqa: BLE001 - the candidate may have closed or replaced them
            pass
    os._exit(0)


def worker(cfg, chan_fd):
    """Run the candidate's code, then serve the judge's requests until it hangs up."""
    import types

    set_limits(cfg["limits"])
    replies = os.fdopen(chan_fd, "w", encoding="utf-8")
    requests = os.fdopen(0, "rb")
    os.chdir(cfg["work"])
    objects, ids = {}, {}

    def handle(x):
        if id(x) not in ids:
            ids[id(x)] = len(objects)
            objects[len(objects)] = x  # kept alive, so the id is never reused
        h = ids[id(x)]
        return {"m": [x.__name__, h]} if type(x) is types.ModuleType else {"h": h}

    def send(msg):
        replies.write(json.dumps(msg) + "\n")
        replies.flush()

    if cfg["audit"]:  # a courtesy layer that names what was tried; not the boundary (the candidate can remove it)
        exec(AUDIT_HOOK, {"__name__": "sandbox_audit"})
    ns = {"__name__": "solution", "__builtins__": builtins}
    try:
        exec(compile(cfg["code"], "solution.py", "exec"), ns)
    except BaseException as e:  # noqa: BLE001 - whatever the code raised is its load error
        send({"load_error": kind(e), "detail": describe(e)})
        flush_and_exit()
    send({"ready": True})
    ops = {"call": lambda o, r: o(*r["args"], **dict(r["kwargs"])), "getattr": lambda o, r: getattr(o, r["name"]),
           "iter": lambda o, r: iter(o), "next": lambda o, r: next(o), "len": lambda o, r: len(o),
           "bool": lambda o, r: bool(o), "getitem": lambda o, r: o[r["key"]], "str": lambda o, r: str(o)}
    for line in requests:
        req = json.loads(line)
        reply = {"id": req["id"]}
        try:
            local = lambda tag, v: objects[v[1] if tag == "m" else v]  # noqa: E731 - the judge sends back handles
            for k in ("args", "kwargs", "key"):
                if k in req:
                    req[k] = decode(req[k], local)
            if req["op"] == "get":
                if req["name"] not in ns:
                    raise NameError(f"name {req['name']!r} is not defined")
                value = ns[req["name"]]
            else:
                value = ops[req["op"]](objects[req["h"]], req)
            reply["ok"] = encode(value, handle)
            if req["op"] == "call":  # lists, dicts, sets and bytearrays the call changed in place go back
                reply["sync"] = [encode(a, handle) if type(a) in (list, dict, set, bytearray) else None
                                 for a in req["args"]]
        except StopIteration:
            reply = {"id": req["id"], "stop": True}
        except BaseException as e:  # noqa: BLE001 - the candidate's exception goes to the judge by name
            reply = {"id": req["id"], "raise": [type(e).__name__, str(e)[:500], kind(e)]}
        send(reply)
    flush_and_exit()


class WorkerGone(BaseException):
    """The candidate's process hung up (it exited, crashed or was killed); not catchable by ``except Exception``."""


class ProtocolError(Exception):
    pass


class CandidateError(Exception):
    """An exception of the candidate's own class (only built-in exception types cross by type)."""


NO_IMPORT = {"antigravity", "this", "idlelib", "turtle", "turtledemo", "tkinter", "__hello__", "__phello__"}


def judge(cfg, chan_fd):
    """Evaluate the tests against the worker's answers; one JSON line per event on the original stdout."""
    import importlib

    set_limits(cfg["limits"])
    verdict = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a test's print() goes to stderr, never into the verdict
    requests = os.fdopen(chan_fd, "w", encoding="utf-8")
    replies = os.fdopen(0, "rb")

    def emit(**kw):
        verdict.write(json.dumps(kw) + "\n")
        verdict.flush()

    try:
        compile(cfg["code"], "solution.py", "exec")
    except Exception as e:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError (deep nesting)
        emit(event="syntax_error", detail=describe(e))
        return
    remotes, seq = {}, [0]

    class Remote:
        """A candidate object that is not data: calls, attributes, iteration, len, bool, [] and str go to the worker."""

        __slots__ = ("_h",)

        def __init__(self, h):
            object.__setattr__(self, "_h", h)

        def __call__(self, *args, **kwargs):
            return rpc("call", h=self._h, args=list(args), kwargs=list(kwargs.items()), sync=args)

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return rpc("getattr", h=self._h, name=name)

        def __iter__(self):
            return rpc("iter", h=self._h)

        def __next__(self):
            return rpc("next", h=self._h)

        def __len__(self):
            n = rpc("len", h=self._h)
            if type(n) is not int or n < 0:
                raise TypeError("__len__ of the candidate's object did not give a non-negative int")
            return n

        def __bool__(self):
            b = rpc("bool", h=self._h)
            if type(b) is not bool:
                raise TypeError("__bool__ of the candidate's object did not give a bool")
            return b

        def __getitem__(self, key):
            return rpc("getitem", h=self._h, key=key)

        def __str__(self):
            s = rpc("str", h=self._h)
            if type(s) is not str:
                raise TypeError("__str__ of the candidate's object did not give a str")
            return s

        def __repr__(self):
            return f"<candidate object #{self._h}>"

    def remote(tag, v):
        if tag == "m":  # a module: the judge's own copy of a standard-library one, else a handle
            name, v = v
            if type(name) is str and name.partition(".")[0] in sys.stdlib_module_names - NO_IMPORT:
                try:
                    return importlib.import_module(name)
                except Exception:  # noqa: BLE001
                    pass
        if type(v) is not int:
            raise ValueError("malformed handle")
        return remotes.setdefault(v, Remote(v))

    def outgoing(x):
        if type(x) is Remote:
            return {"h": x._h}
        raise TypeError(f"sandbox: only data (or the candidate's own objects) can be passed to the candidate's code, "
                        f"not {type(x).__name__}")

    def rpc(op, sync=(), **kw):
        seq[0] += 1
        for k in ("args", "kwargs", "key"):
            if k in kw:
                kw[k] = encode(kw[k], outgoing)
        try:
            requests.write(json.dumps(dict(kw, op=op, id=seq[0])) + "\n")
            requests.flush()
        except OSError:
            raise WorkerGone() from None
        line = replies.readline(MAX_LINE)
        if not line:
            raise WorkerGone()
        try:
            rep = json.loads(line)
            if type(rep) is not dict or rep.get("id") != seq[0]:
                raise ValueError("reply out of order")
            if "raise" in rep:
                name, msg, k = (str(p)[:500] for p in rep["raise"])
            else:
                value = decode(rep["ok"], remote) if "ok" in rep else None
                synced = [None if s is None else decode(s, remote) for s in rep.get("sync", [])]
        except (ValueError, TypeError, KeyError, RecursionError, MemoryError) as e:
            raise ProtocolError(f"sandbox: unreadable reply from the candidate's process ({describe(e)[:200]})")
        if rep.get("stop"):
            raise StopIteration
        if "raise" in rep:
            cls = getattr(builtins, name, None)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls, msg = CandidateError, f"{name}: {msg}"
            try:
                err = cls(msg)
            except Exception:  # noqa: BLE001 - a built-in exception with a different constructor
                err = CandidateError(f"{name}: {msg}")
            err.sandbox_kind = k if k in ("memory", "blocked") else "error"
            raise err
        for a, s in zip(sync, synced):  # in-place changes to list/dict/set/bytearray arguments
            if type(a) is type(s) and type(a) in (list, bytearray):
                a[:] = s
            elif type(a) is type(s) and type(a) in (dict, set):
                a.clear()
                a.update(s)
        return value

    builtin_names = set(dir(builtins))

    class Names(dict):
        """The tests' globals: their own names first, then builtins, then the candidate's (fetched on each use)."""

        def __missing__(self, name):
            if name in builtin_names or name.startswith("__"):
                raise KeyError(name)
            return rpc("get", name=name)

    def verdict_kind(e):
        return getattr(e, "sandbox_kind", None) or kind(e)

    try:
        first = json.loads(replies.readline(MAX_LINE) or b"null")
    except ValueError:
        first = {"load_error": "error", "detail": "unreadable first message from the candidate's process"}
    if type(first) is not dict or not first.get("ready"):
        gone = type(first) is not dict or "load_error" not in first
        detail = "" if gone else str(first.get("detail", ""))[:500]
        k = "crash" if gone else str(first.get("load_error"))
        emit(event="load_error", kind=k, detail=detail, gone=gone)
        return
    g = Names(__builtins__=builtins, __name__="__main__")
    if cfg["setup"]:
        try:
            exec(compile(cfg["setup"], "setup", "exec"), g)
        except WorkerGone:
            emit(event="load_error", kind="crash", detail="", gone=True)
            return
        except BaseException as e:  # noqa: BLE001
            emit(event="load_error", kind=verdict_kind(e), detail="setup: " + describe(e), gone=False)
            return
    for i, test in enumerate(cfg["tests"]):
        try:
            code = compile(test, f"test_{i}", "exec")
        except (SyntaxError, ValueError) as e:
            emit(event="test", i=i, ok=False, kind="test_syntax_error", detail=describe(e))
            continue
        try:
            exec(code, g)
            emit(event="test", i=i, ok=True)
        except WorkerGone:
            emit(event="test", i=i, ok=False, kind="crash", detail="the candidate's process ended")
            emit(event="worker_gone", i=i)
            return
        except BaseException as e:  # noqa: BLE001 - a failing test, whatever it raised
            emit(event="test", i=i, ok=False, kind=verdict_kind(e), detail=describe(e))
    emit(event="done")


if __name__ == "__main__":
    _role, _cfg_fd, _chan_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _cfg = read_config(_cfg_fd)
    if _role == "worker":
        worker(_cfg, _chan_fd)
    else:
        judge(_cfg, _chan_fd)
        os._exit(0)
