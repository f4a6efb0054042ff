"""The worker's half of a sandboxed check: it runs the candidate's code (under the kernel limits, with the audit hook
that names what was tried) and then serves the judge's requests until the judge hangs up, answering with data.

Part of one program with ``sandbox_harness.py`` (``read_config``, ``set_limits``, ``encode``/``decode``, ``kind``,
``describe`` and the imports come from there) and ``sandbox_judge.py``; see :mod:`langrl.rewards.sandbox_harness`.
"""

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
